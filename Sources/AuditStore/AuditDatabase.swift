import AuditCore
import Logging
import PostgresLibPQ

/// The service's access to PostgreSQL as the non-owner role `auditlog_app`.
///
/// Tenant data is reached only through `withTenant`, whose transaction tells the
/// row-level security policies whom it acts for; nothing here filters by tenant itself.
public final class AuditDatabase: Sendable {
    public let pool: ConnectionPool
    /// The migration version this binary expects (for readiness).
    public let expectedSchemaVersion: Int

    public init(pool: ConnectionPool, expectedSchemaVersion: Int) {
        self.pool = pool
        self.expectedSchemaVersion = expectedSchemaVersion
    }

    /// Runs `body` in one transaction that begins with
    /// `SET LOCAL auditlog.tenant = …; SET LOCAL auditlog.role = …` (one round trip with BEGIN).
    public func withTenant<T: Sendable>(
        _ tenant: TenantID, role: AccessRole,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await pool.withConnection { connection in
            try connection.withTransaction(preamble: try Self.contextPreamble(tenant: tenant, role: role, on: connection), body)
        }
    }

    /// The `SET LOCAL` statements for a tenant context; values are validated types, and
    /// quoted with `PQescapeLiteral` all the same.
    static func contextPreamble(tenant: TenantID, role: AccessRole, on connection: PostgresConnection) throws -> String {
        try contextPreamble(tenant: tenant, roleName: role.rawValue, on: connection)
    }

    /// The role value of the maintenance pass (digests), which no token or key can carry.
    static let maintenanceRole = "maintenance"

    ///
    /// Generic plans: every statement here names its time window with binds, and a generic
    /// plan prunes the daily partitions outside it when execution starts, where a custom plan
    /// would be planned again on each call over every partition of the window.
    static func contextPreamble(tenant: TenantID, roleName: String, on connection: PostgresConnection) throws -> String {
        "SET LOCAL auditlog.tenant = \(try connection.escapeLiteral(tenant.rawValue)); "
            + "SET LOCAL auditlog.role = \(try connection.escapeLiteral(roleName)); "
            + "SET LOCAL plan_cache_mode = force_generic_plan"
    }

    public enum Readiness: Sendable, Equatable {
        case ready
        case unreachable(String)
        case notMigrated(found: Int, expected: Int)
    }

    /// Whether the database answers and carries this binary's migrations.
    public func readiness() async -> Readiness {
        do {
            let version = try await pool.withConnection { try MigrationRunner.appliedVersion(on: $0) }
            return version >= expectedSchemaVersion ? .ready : .notMigrated(found: version, expected: expectedSchemaVersion)
        } catch {
            return .unreachable(String(describing: error))
        }
    }

    /// The lock table PostgreSQL shares among its connections, against what this pool may
    /// hold at once: a search over the whole window locks every partition of the audit schema
    /// and its indexes (about 1,000 relations at 90 days). Nil when there is room; otherwise a
    /// sentence for the operator naming the setting and the value that would fit.
    public func lockCapacityShortfall() async throws -> String? {
        let poolSize = pool.configuration.size
        let row = try await pool.withConnection { connection in
            try connection.query("""
                SELECT current_setting('max_locks_per_transaction')::bigint,
                       current_setting('max_connections')::bigint + current_setting('max_prepared_transactions')::bigint,
                       (SELECT count(*) FROM pg_catalog.pg_class WHERE relnamespace = 'audit'::regnamespace)
                """).rows[0]
        }
        let perTransaction = try row.decode(Int.self, at: 0)
        let connections = try row.decode(Int.self, at: 1)
        let relations = try row.decode(Int.self, at: 2)
        let needed = relations * poolSize
        guard needed > perTransaction * connections else { return nil }
        let fitting = (needed + connections - 1) / connections
        return "PostgreSQL's lock table (max_locks_per_transaction \(perTransaction) × \(connections) connections) is smaller than "
            + "\(poolSize) pooled connections each searching all \(relations) relations of the audit schema; concurrent searches "
            + "may fail with \"out of shared memory\". Set max_locks_per_transaction to at least \(fitting) "
            + "(more for each further replica) and restart PostgreSQL."
    }

    public func close() async {
        await pool.close()
    }
}
