import AuditCore
import AuditStore
import Foundation

/// Each tenant's redactor: the service's (built-in vocabulary and `AUDITLOG_REDACT_KEYS`) plus the
/// keys the publisher set in the tenant's settings, read at most every `ttl` per tenant (a change
/// made through this replica applies at once; through another, within `ttl`).
actor TenantRedaction {
    let base: Redactor
    let database: AuditDatabase
    let ttl: TimeInterval
    private var cached: [TenantID: (redactor: Redactor, read: Date)] = [:]

    init(base: Redactor, database: AuditDatabase, ttl: TimeInterval = 30) {
        self.base = base
        self.database = database
        self.ttl = ttl
    }

    func redactor(for tenant: TenantID) async throws -> Redactor {
        if let entry = cached[tenant], entry.read.timeIntervalSinceNow > -ttl { return entry.redactor }
        let keys = try await database.redactKeys(tenant: tenant)
        let redactor = keys.isEmpty ? base : base.adding(keys)
        if cached.count > 10_000 { cached.removeAll() }
        cached[tenant] = (redactor, Date())
        return redactor
    }

    func forget(_ tenant: TenantID) {
        cached[tenant] = nil
    }
}
