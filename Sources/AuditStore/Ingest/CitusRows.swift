import AuditCore
internal import PostgresLibPQ

/// On Citus, a tenant's rows as multi-row `INSERT … VALUES` statements with binds.
///
/// Citus routes such an insert straight to the tenant's shard. The single node's one statement
/// (`EventWriter.insertSQL`: every row in one JSON bind, `INSERT … SELECT` from it) goes through
/// the coordinator there, its rows materialised as intermediate results for each step, and a
/// plain `INSERT … SELECT` reaches the shard as COPY, which row-level security refuses: on the
/// e2e cluster one claim took about 12 ms that way against 0.6 ms as `VALUES`. The rows carry
/// `xid`, the coordinator's transaction id, which the commit's number is recorded with
/// (`EventWriter.numberCommitQuery`).
enum CitusRows {
    /// Rows per statement: 18 binds a row stays well under PostgreSQL's 65,535.
    static let chunk = 1_000

    /// How many statements `claims` makes of `rows` rows.
    static func statementCount(_ rows: Int) -> Int { (rows + chunk - 1) / chunk }

    /// The ids' claims; `returning` (with `ON CONFLICT DO NOTHING`) answers the ids claimed, else
    /// an id already taken fails the statement (23505).
    static func claims(_ items: [EventWriter.Item], returning: Bool) -> [PostgresQuery] {
        statements(items, table: "audit.event_id (tenant_id, id, occurred_at, hash)",
                   suffix: returning ? " ON CONFLICT DO NOTHING RETURNING id" : "") { event in
            [event.tenant.rawValue, event.id, event.canonical.occurredAt, event.hash]
        }
    }

    /// The events and their target rows.
    static func events(_ items: [EventWriter.Item], xid: String) -> [PostgresQuery] {
        var queries = statements(items, table: "audit.event (\(EventWriter.eventColumns), xid)", suffix: "") { event in
            [event.tenant.rawValue, event.id, event.canonical.occurredAt, event.action, event.category,
             event.actor.type, event.actor.id, event.actor.name, event.actor.email,
             String(decoding: event.canonical.targets, as: UTF8.self), event.message,
             String(decoding: event.canonical.changes, as: UTF8.self), event.changedFields.postgresText,
             String(decoding: event.canonical.context, as: UTF8.self), String(decoding: event.canonical.metadata, as: UTF8.self),
             event.outcome.rawValue, event.hash, xid]
        }
        // One row per distinct target of each event (the single node's SELECT DISTINCT).
        var links: [[String?]] = []
        for item in items {
            var seen: Set<[String]> = []
            for target in item.event.targets where seen.insert([target.type, target.id]).inserted {
                links.append([item.event.tenant.rawValue, target.type, target.id, item.event.canonical.occurredAt, item.event.id])
            }
        }
        for start in stride(from: 0, to: links.count, by: chunk) {
            queries.append(values("audit.event_target (tenant_id, target_type, target_id, occurred_at, event_id)",
                                  rows: links[start..<min(start + chunk, links.count)], suffix: ""))
        }
        return queries
    }

    private static func statements(_ items: [EventWriter.Item], table: String, suffix: String,
                                   row: (StoredEvent) -> [String?]) -> [PostgresQuery] {
        stride(from: 0, to: items.count, by: chunk).map { start in
            values(table, rows: items[start..<min(start + chunk, items.count)].map { row($0.event) }, suffix: suffix)
        }
    }

    /// `INSERT INTO <table> VALUES ($1, $2, …), (…)<suffix>`: the table and suffix from this file's
    /// fixed text, every value a bind, sent unprepared.
    private static func values(_ table: String, rows: some Collection<[String?]>, suffix: String) -> PostgresQuery {
        var sql = "INSERT INTO \(table) VALUES "
        var binds: [String?] = []
        for (index, row) in rows.enumerated() {
            sql += index == 0 ? "(" : ", ("
            for (column, value) in row.enumerated() {
                binds.append(value)
                sql += (column == 0 ? "$" : ", $") + String(binds.count)
            }
            sql += ")"
        }
        var query = PostgresQuery(unsafeSQL: sql + suffix, binds: binds)
        query.prepared = false  // one text per row count: kept out of the statement cache
        return query
    }
}
