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
            let version = try await pool.withConnection { connection in
                try connection.query("SELECT coalesce(max(version), 0) FROM public.auditlog_migration").rows[0].decode(Int.self, at: 0)
            }
            return version >= expectedSchemaVersion ? .ready : .notMigrated(found: version, expected: expectedSchemaVersion)
        } catch let error as PostgresError where error.sqlState == "42P01" {
            return .notMigrated(found: 0, expected: expectedSchemaVersion)
        } catch {
            return .unreachable(String(describing: error))
        }
    }

    public func close() async {
        await pool.close()
    }
}
