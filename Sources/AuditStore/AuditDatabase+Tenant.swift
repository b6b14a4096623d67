import AuditCore
import Foundation
internal import PostgresLibPQ

/// A tenant's settings (SPEC §6: `GET/PUT /v1/tenant/settings`).
public struct TenantSettings: Sendable, Equatable {
    public var retentionDays: Int
    public var legalHold: Bool

    public init(retentionDays: Int, legalHold: Bool) {
        self.retentionDays = retentionDays
        self.legalHold = legalHold
    }
}

/// Tenant settings, on the primary (they decide what ingest and retention do).
extension AuditDatabase {
    /// The tenant's settings; a tenant with no row yet has the defaults.
    public func settings(tenant: TenantID, role: AccessRole) async throws -> TenantSettings {
        let fallback = globalRetentionDays
        return try await withTenant(tenant, roleName: role.rawValue, on: readPool) { connection in
            try Self.readSettings(connection, tenant: tenant, default: fallback)
        }
    }

    /// Changes what is given; returns the settings before and after. A publisher creates the
    /// tenant if needed; an owner can only change a tenant that exists (else `notFound`).
    public func updateSettings(
        tenant: TenantID, role: AccessRole, retentionDays: Int?, legalHold: Bool?
    ) async throws -> (before: TenantSettings, after: TenantSettings) {
        if let retentionDays, !(1...globalRetentionDays).contains(retentionDays) {
            throw StoreError(.invalidInput, "retention_days must be a whole number from 1 to \(globalRetentionDays)")
        }
        let fallback = globalRetentionDays
        return try await withTenant(tenant, roleName: role.rawValue, on: ingestPool) { connection in
            let before = try Self.readSettings(connection, tenant: tenant, default: fallback)
            let after = TenantSettings(retentionDays: retentionDays ?? before.retentionDays, legalHold: legalHold ?? before.legalHold)
            if role == .publisher {
                // EXCLUDED.updated_at, not now(): Citus refuses non-immutable functions in DO UPDATE SET.
                try connection.query("""
                    INSERT INTO audit.tenant (tenant_id, retention_days, legal_hold, updated_at)
                    VALUES (\(tenant.rawValue), \(after.retentionDays), \(after.legalHold), now())
                    ON CONFLICT (tenant_id) DO UPDATE SET retention_days = EXCLUDED.retention_days,
                        legal_hold = EXCLUDED.legal_hold, updated_at = EXCLUDED.updated_at
                    """)
            } else {
                let updated = try connection.query("""
                    UPDATE audit.tenant SET retention_days = \(after.retentionDays), legal_hold = \(after.legalHold), updated_at = now()
                    WHERE tenant_id = \(tenant.rawValue)
                    """).affectedRows
                guard updated == 1 else { throw StoreError(.notFound, "This tenant has no events yet.") }
            }
            return (before, after)
        }
    }

    /// True when the tenant has at least one stored event (the demo seeds empty tenants only).
    public func hasEvents(tenant: TenantID) async throws -> Bool {
        try await withTenant(tenant, roleName: AccessRole.publisher.rawValue, on: ingestPool) { connection in
            try connection.query("""
                SELECT EXISTS (SELECT 1 FROM audit.event WHERE tenant_id = \(tenant.rawValue))
                """).rows[0].decode(Bool.self, at: 0)
        }
    }

    static func readSettings(_ connection: PostgresConnection, tenant: TenantID, default fallback: Int) throws -> TenantSettings {
        guard let row = try connection.query("""
            SELECT retention_days, legal_hold FROM audit.tenant WHERE tenant_id = \(tenant.rawValue)
            """).rows.first else { return TenantSettings(retentionDays: fallback, legalHold: false) }
        return TenantSettings(retentionDays: try row.decode(Int.self, at: 0), legalHold: try row.decode(Bool.self, at: 1))
    }
}
