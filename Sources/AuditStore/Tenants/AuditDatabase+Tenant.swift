import AuditCore
import Foundation
internal import PostgresLibPQ

/// A tenant's settings in force (SPEC §6: `GET/PUT /v1/tenant/settings`), and the changes
/// waiting out their grace period.
public struct TenantSettings: Sendable, Equatable {
    public var retentionDays: Int
    public var legalHold: Bool
    public var pending: [SettingChange] = []
    /// The tenant's own sensitive keys (beyond the built-in vocabulary), set by the publisher.
    public var redactKeys: [String] = []

    public init(retentionDays: Int, legalHold: Bool, pending: [SettingChange] = [], redactKeys: [String] = []) {
        self.retentionDays = retentionDays
        self.legalHold = legalHold
        self.pending = pending
        self.redactKeys = redactKeys
    }
}

/// One request to change a setting (`audit.setting_change`, sql/0014_governed_settings.sql).
public struct SettingChange: Sendable, Equatable {
    public var changeID: String
    public var setting: String
    public var oldValue: String
    public var newValue: String
    public var effectiveAt: Date
    /// Taken effect at once (placing a hold, lengthening a retention); else pending.
    public var applied: Bool
    public var requestedBy: String = ""
    /// The requester's name as the tenant's log shows it (its `setting_change_requested` entry).
    public var requestedByName: String?
    public var reason: String?

    /// A setting's stored text as its JSON value (`legal_hold` a bool, `retention_days` a number).
    public static func value(of setting: String, _ text: String) -> JSONValue {
        setting == "legal_hold" ? .bool(text == "true") : .number(Double(text) ?? 0)
    }
}

/// Tenant settings, on the primary (they decide what ingest and retention do).
extension AuditDatabase {
    /// The tenant's settings; a tenant with no row yet has the defaults.
    public func settings(tenant: TenantID, role: AccessRole) async throws -> TenantSettings {
        let (fallback, vendor) = (globalRetentionDays, configuration.vendorName)
        return try await withTenant(tenant, roleName: role.rawValue, on: readPool) { connection in
            try Self.readSettings(connection, tenant: tenant, default: fallback, vendorName: vendor)
        }
    }

    /// Requests each given change through `audit.change_setting`, which decides what takes effect
    /// at once and what waits out the grace period; returns the requests and the settings after.
    /// Refusals come back as `forbidden` (a role that may not) or `invalidInput`.
    /// Every change of one request in one transaction: the redaction keys (`redactKeysBefore`
    /// is what they were; nil when not asked to change them), then the legal hold, then the
    /// retention. A failure anywhere leaves all of them as they were.
    public func changeSettings(
        tenant: TenantID, role: AccessRole, actor: String, retentionDays: Int?, legalHold: Bool?, reason: String?,
        redactKeys: [String]? = nil
    ) async throws -> (changes: [SettingChange], redactKeysBefore: [String]?, after: TenantSettings) {
        let (changes, before) = try await withTenant(tenant, roleName: role.rawValue, on: ingestPool) { connection in
            var before: [String]?
            if let redactKeys {
                before = Self.stringArray(try connection.query("""
                    SELECT array_to_json(audit.set_redact_keys(\(redactKeys)::text[]))::text
                    """).rows[0].decode(String.self, at: 0))
            }
            var changes: [SettingChange] = []
            for (setting, value) in [("legal_hold", legalHold.map(String.init)), ("retention_days", retentionDays.map(String.init))] {
                guard let value else { continue }
                let row = try connection.query("""
                    SELECT change_id, old_value, new_value, effective_at, applied
                    FROM audit.change_setting(\(setting), \(value), \(reason)::text, \(actor))
                    """).rows[0]
                changes.append(SettingChange(changeID: try row.decode(String.self, at: 0), setting: setting,
                                             oldValue: try row.decode(String.self, at: 1), newValue: try row.decode(String.self, at: 2),
                                             effectiveAt: try row.decode(Date.self, at: 3), applied: try row.decode(Bool.self, at: 4),
                                             requestedBy: actor, reason: reason))
            }
            return (changes, before)
        }
        // Read in a transaction of its own: on Citus, rows the definer function (the owner) wrote
        // cannot be read by the service role in the same transaction.
        return (changes, before, try await settings(tenant: tenant, role: role))
    }

    /// Withdraws a pending change (the publisher only); nil when there is no such pending change.
    public func cancelSettingChange(tenant: TenantID, role: AccessRole, changeID: String, actor: String) async throws -> SettingChange? {
        try await withTenant(tenant, roleName: role.rawValue, on: ingestPool) { connection in
            try connection.query("SELECT setting, old_value, new_value FROM audit.cancel_setting_change(\(changeID), \(actor))").rows.first.map {
                SettingChange(changeID: changeID, setting: try $0.decode(String.self, at: 0), oldValue: try $0.decode(String.self, at: 1),
                              newValue: try $0.decode(String.self, at: 2), effectiveAt: Date(), applied: false)
            }
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

    /// The tenant's own sensitive keys, for ingest's redaction (on the key-lookup bulkhead).
    public func redactKeys(tenant: TenantID) async throws -> [String] {
        try await withTenant(tenant, roleName: AccessRole.publisher.rawValue, on: authPool) { connection in
            try connection.query("""
                SELECT array_to_json(redact_keys)::text FROM audit.tenant WHERE tenant_id = \(tenant.rawValue)
                """).rows.first.map { Self.stringArray(try $0.decode(String.self, at: 0)) } ?? []
        }
    }

    static func stringArray(_ json: String) -> [String] {
        guard case .array(let items)? = JSONValue.parse(Array(json.utf8)) else { return [] }
        return items.compactMap { if case .string(let text) = $0 { text } else { nil } }
    }

    static func readSettings(_ connection: PostgresConnection, tenant: TenantID, default fallback: Int,
                             vendorName: String = StoreConfiguration.defaultVendorName) throws -> TenantSettings {
        guard let row = try connection.query("""
            SELECT retention_days, legal_hold, array_to_json(redact_keys)::text FROM audit.tenant WHERE tenant_id = \(tenant.rawValue)
            """).rows.first else { return TenantSettings(retentionDays: fallback, legalHold: false) }
        let pending = try connection.query("""
            SELECT c.change_id, c.setting, c.old_value, c.new_value, c.effective_at, c.requested_by, c.reason,
                   (SELECT e.actor_name FROM audit.event AS e
                     WHERE e.tenant_id = c.tenant_id AND e.action = 'organization.setting_change_requested'
                       AND e.occurred_at >= c.requested_at AND e.occurred_at < c.requested_at + interval '1 hour'
                       AND e.metadata ->> 'change_id' = c.change_id
                     LIMIT 1)
            FROM audit.setting_change AS c
            WHERE c.tenant_id = \(tenant.rawValue) AND c.applied_at IS NULL AND c.cancelled_at IS NULL ORDER BY c.effective_at
            """).rows.map {
            SettingChange(changeID: try $0.decode(String.self, at: 0), setting: try $0.decode(String.self, at: 1),
                          oldValue: try $0.decode(String.self, at: 2), newValue: try $0.decode(String.self, at: 3),
                          effectiveAt: try $0.decode(Date.self, at: 4), applied: false,
                          requestedBy: try $0.decode(String.self, at: 5), requestedByName: try $0.decode(String?.self, at: 7),
                          reason: try $0.decode(String?.self, at: 6))
        }
        var all = pending
        // A pending cut of the global retention that shortens this tenant shows among its changes
        // (a separate statement: on Citus the tenant's row is on a worker, the policy is not).
        if let global = try connection.query("""
            SELECT current_days, pending_days, requested_at, effective_at FROM audit.pending_global_retention()
            """).rows.first {
            let effective = min(try row.decode(Int.self, at: 0), try global.decode(Int.self, at: 0))
            let cut = try global.decode(Int.self, at: 1)
            if cut < effective {
                all.append(SettingChange(changeID: "service_retention", setting: "retention_days", oldValue: String(effective),
                                         newValue: String(cut), effectiveAt: try global.decode(Date.self, at: 3), applied: false,
                                         requestedBy: "service_provider", requestedByName: vendorName, reason: "the service-wide retention (AUDITLOG_RETENTION_DAYS) was shortened"))
                all.sort { $0.effectiveAt < $1.effectiveAt }
            }
        }
        return TenantSettings(retentionDays: try row.decode(Int.self, at: 0), legalHold: try row.decode(Bool.self, at: 1), pending: all,
                              redactKeys: Self.stringArray(try row.decode(String.self, at: 2)))
    }
}
