import Logging
internal import PostgresLibPQ

/// The schema on a Citus coordinator: every tenant table distributed by `tenant_id` and
/// colocated with `audit.tenant`, so one tenant's rows of every table live on one shard and
/// each tenant statement is a single-shard router query; the small global tables are
/// reference tables, copied to every node. Applied by `migrate`, idempotently.
enum CitusLayout {
    /// Distributed by `tenant_id`, colocated with the first.
    static let tenantTables = ["audit.tenant", "audit.event", "audit.event_target", "audit.digest", "audit.event_id", "audit.setting_change", "audit.stream",
                               "audit.feed_commit", "audit.stream_cursor"]
    /// On every node.
    static let referenceTables = ["audit.api_key", "audit.retention_policy", "audit.digest_key", "audit.api_key_change"]

    /// True when the connection's database has the Citus extension (a coordinator).
    static func isCoordinator(_ connection: PostgresConnection) throws -> Bool {
        try connection.query("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')").rows[0].decode(Bool.self, at: 0)
    }

    /// Distributes what is not yet distributed; returns what it did, for the operator.
    static func distribute(_ connection: PostgresConnection, logger: Logger) throws -> [String] {
        var done: [String] = []
        func isDistributed(_ table: String) throws -> Bool {
            try connection.query("""
                SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass(\(table)))
                """).rows[0].decode(Bool.self, at: 0)
        }
        for (index, table) in tenantTables.enumerated() where try !isDistributed(table) {
            logger.info("distributing by tenant_id", metadata: ["table": "\(table)"])
            if index == 0 {
                try connection.query("SELECT create_distributed_table(\(table), 'tenant_id')")
            } else {
                try connection.query("SELECT create_distributed_table(\(table), 'tenant_id', colocate_with => \(tenantTables[0]))")
            }
            done.append("distributed \(table) by tenant_id")
        }
        for table in referenceTables where try !isDistributed(table) {
            logger.info("making a reference table", metadata: ["table": "\(table)"])
            try connection.query("SELECT create_reference_table(\(table))")
            done.append("reference table \(table)")
        }
        return done
    }

    /// After the repeatable scripts: the coordinator evaluates column defaults and names every
    /// column in each shard's INSERT, so on Citus the service role needs INSERT on the columns it
    /// may not choose; the policies bound them instead (`received_at` to the moment of the
    /// insert, sql/policies/event.sql; a new tenant's settings to the defaults, tenant.sql). `xid`
    /// is the coordinator's transaction, the same in the rows of `audit.feed_commit`, which is
    /// how the feed finds a numbered commit's events (sql/0027_commit_ordered_feed.sql).
    static func grantCoordinatorEvaluatedColumns(_ connection: PostgresConnection) throws {
        try connection.executeScript(unsafeSQL: """
            GRANT INSERT (received_at, xid) ON audit.event TO auditlog_app;
            GRANT INSERT (retention_days, legal_hold, created_at, updated_at, redact_keys, feed_seq) ON audit.tenant TO auditlog_app;
            GRANT INSERT (xid, committed_at) ON audit.feed_commit TO auditlog_app
            """)
    }
}
