import AuditCore
internal import PostgresLibPQ

/// Which PostgreSQL the store talks to, for the few things that differ on a Citus coordinator.
enum DatabaseEngine: Sendable {
    case postgres
    /// A Citus coordinator: `BEGIN` goes alone (Citus replays a query string that starts with it
    /// on each worker), and plans stay custom (Citus cannot plan its distributed statements
    /// from generic plans with parameters).
    case citus

    static func detect(_ connection: PostgresConnection) throws -> DatabaseEngine {
        try CitusLayout.isCoordinator(connection) ? .citus : .postgres
    }

    /// The `SET LOCAL` statements for a tenant context; values are validated types, and quoted
    /// with `PQescapeLiteral` all the same.
    ///
    /// Generic plans on PostgreSQL: every statement names its time window with binds, and a
    /// generic plan prunes the daily partitions outside it when execution starts, where a custom
    /// plan would be planned again on each call over every partition of the window.
    func contextPreamble(tenant: TenantID, roleName: String, on connection: PostgresConnection) throws -> String {
        try contextPreamble(key: tenant.rawValue, roleName: roleName, on: connection)
    }

    /// The same for a context key that is not a tenant: `StreamScope.vendorKey`, which no tenant
    /// can have, for the vendor-wide streams.
    func contextPreamble(key: String, roleName: String, timeout: Duration? = nil, on connection: PostgresConnection) throws -> String {
        try contextSettings(key: key, roleName: roleName, timeout: timeout)
            .map { "SET LOCAL \($0.name) = \(try connection.escapeLiteral($0.value))" }
            .joined(separator: "; ")
    }

    /// The settings of a context, in the one place that defines it: the policies read the first
    /// two; on PostgreSQL the third keeps plans generic (see `contextPreamble`); a `timeout`
    /// bounds each statement of the transaction.
    func contextSettings(key: String, roleName: String, timeout: Duration? = nil) -> [(name: String, value: String)] {
        var settings = [(name: "auditlog.tenant", value: key), (name: "auditlog.role", value: roleName)]
        if self == .postgres { settings.append((name: "plan_cache_mode", value: "force_generic_plan")) }
        if let timeout { settings.append((name: "statement_timeout", value: String(StoreConfiguration.milliseconds(timeout)))) }
        return settings
    }

    /// Runs `body` in one transaction for `tenant` and `roleName`.
    func withTenantTransaction<T>(
        _ tenant: TenantID, roleName: String, on connection: PostgresConnection,
        _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        try withContextTransaction(key: tenant.rawValue, roleName: roleName, on: connection, body)
    }

    /// A read transaction for `key`: on PostgreSQL its `BEGIN READ ONLY` and context
    /// (`set_config(…, true)`, the same as `SET LOCAL`, with binds) go out with its first statement
    /// in one round trip, `queries` may add more of its statements to that round trip, and the
    /// value goes back without waiting for the `COMMIT`'s answer. On Citus as `withContextTransaction`.
    func withReadTransaction<T>(
        key: String, roleName: String, timeout: Duration?, on connection: PostgresConnection,
        _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        guard self == .postgres else {
            return try withContextTransaction(key: key, roleName: roleName, timeout: timeout, on: connection, body)
        }
        return try connection.withDeferredTransaction(opening: [contextQuery(key: key, roleName: roleName, timeout: timeout)], readOnly: true, body)
    }

    /// A context as one statement, `SELECT set_config(…, true), …` with binds: the same as
    /// `SET LOCAL`, but able to join a pipeline.
    func contextQuery(key: String, roleName: String, timeout: Duration? = nil) -> PostgresQuery {
        // `SELECT set_config($1, $2, true), set_config($3, $4, true), …`, the names bound too.
        var sql = "SELECT "
        var binds: [String?] = []
        for (index, setting) in contextSettings(key: key, roleName: roleName, timeout: timeout).enumerated() {
            sql += "\(index > 0 ? ", " : "")set_config($\(2 * index + 1), $\(2 * index + 2), true)"
            binds += [setting.name, setting.value]
        }
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    /// The context as statements of a pipeline: on PostgreSQL `contextQuery`; on Citus its
    /// `SET LOCAL` statements (Citus carries those to the workers, not `set_config`), each sent
    /// unprepared, as its text holds the tenant.
    func contextQueries(key: String, roleName: String, timeout: Duration? = nil, on connection: PostgresConnection) throws -> [PostgresQuery] {
        guard self == .citus else { return [contextQuery(key: key, roleName: roleName, timeout: timeout)] }
        return try contextSettings(key: key, roleName: roleName, timeout: timeout).map {
            .unprepared(unsafeSQL: "SET LOCAL \($0.name) = \(try connection.escapeLiteral($0.value))")
        }
    }

    func withContextTransaction<T>(
        key: String, roleName: String, timeout: Duration? = nil, on connection: PostgresConnection,
        _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        let preamble = try contextPreamble(key: key, roleName: roleName, timeout: timeout, on: connection)
        return try connection.withTransaction(preamble: preamble, beginSeparately: self == .citus, body)
    }
}
