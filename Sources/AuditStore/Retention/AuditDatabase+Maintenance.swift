import AuditCore
import Foundation
internal import PostgresLibPQ

/// Health, retention and verification: the maintenance bulkhead's work.
extension AuditDatabase {
    public enum Readiness: Sendable, Equatable {
        case ready
        case unreachable(String)
        case notMigrated(found: Int, expected: Int)
    }

    /// The primary's readiness, and the replica's state when one is configured.
    public struct ReadinessReport: Sendable {
        public var primary: Readiness
        public var replica: ReplicaState?
    }

    /// Whether the database answers and carries this binary's migrations (on the key-lookup
    /// bulkhead, so a load of slow searches does not make the service look down).
    public func readiness() async -> ReadinessReport {
        let primary: Readiness
        do {
            let version = try await mappingErrors { try await authPool.withConnection { try MigrationRunner.appliedVersion(on: $0) } }
            primary = version >= expectedSchemaVersion ? .ready : .notMigrated(found: version, expected: expectedSchemaVersion)
        } catch {
            primary = .unreachable(String(describing: error))
        }
        return ReadinessReport(primary: primary, replica: await replica?.refresh())
    }

    /// One retention pass on the maintenance bulkhead (see `RetentionPass`).
    public func runRetention(_ pass: RetentionPass, dryRun: Bool) async throws -> RetentionPass.Report {
        var pass = pass
        pass.digests?.engine = engine
        let ready = pass
        let report = try await mappingErrors { try await ready.run(pool: maintenancePool, dryRun: dryRun) }
        try await recordAppliedSettings(report.settingsApplied)
        try await recordGlobalRetention(report.globalRetention)
        return report
    }

    /// A cut of the global retention, in the log of each tenant it shortens: when it is requested
    /// (pending, with its date) and when it takes effect.
    func recordGlobalRetention(_ changes: [RetentionPass.GlobalRetentionChange]) async throws {
        var events: [StoredEvent] = []
        for change in changes {
            for (raw, days) in change.tenants {
                guard let tenant = TenantID(raw) else { continue }
                let newDays = min(days, change.newDays)
                let message = change.kind == "applied"
                    ? "Retention changed from \(days) to \(newDays) days: the service-wide retention, shortened on "
                        + "\(Timestamp.format(change.requestedAt).prefix(10)), took effect after its grace period"
                    : "\(Self.capitalized(configuration.vendorName)) shortened the service-wide retention to \(change.newDays) days: this organisation's "
                        + "retention goes from \(days) to \(newDays) days on \(Timestamp.format(change.effectiveAt).prefix(16))Z"
                events.append(Self.retentionPolicyEvent(
                    tenant, message: message,
                    changes: ["retention_days": Change(old: .number(Double(days)), new: .number(Double(newDays)))],
                    metadata: ["scope": "service", "status": .string(change.kind == "applied" ? "applied" : "pending"),
                               "effective_at": .string(Timestamp.format(change.effectiveAt)), "after_grace": .bool(change.kind == "applied")]))
            }
        }
        for start in stride(from: 0, to: events.count, by: 500) {
            _ = try await ingestor.ingest(Array(events[start..<min(start + 500, events.count)]))
        }
    }

    /// A name at the start of a sentence ("the service provider" → "The service provider").
    static func capitalized(_ name: String) -> String {
        name.prefix(1).uppercased() + name.dropFirst()
    }

    /// An `organization.settings_updated` entry the retention policy itself writes in a tenant's log.
    static func retentionPolicyEvent(_ tenant: TenantID, message: String, changes: [String: Change],
                                     metadata: [String: JSONValue]) -> StoredEvent {
        let draft = EventDraft(
            tenant: tenant, id: nil, occurredAt: nil, action: "organization.settings_updated", category: "organization",
            actor: Actor(type: "system", id: "auditlog", name: "Retention policy", email: nil), targets: [],
            message: message, changes: changes, context: [:], metadata: metadata, outcome: .success)
        return StoredEvent(draft: draft, receivedAt: Date(), message: message)
    }

    /// Each setting change that took effect after its grace period, as an event in its tenant's log.
    func recordAppliedSettings(_ applied: [RetentionPass.AppliedSettingChange]) async throws {
        let events = applied.compactMap { change -> StoredEvent? in
            guard let tenant = TenantID(change.tenant) else { return nil }
            let what = change.setting == "legal_hold"
                ? (change.newValue == "true" ? "Legal hold placed" : "Legal hold lifted")
                : "Retention changed from \(change.oldValue) to \(change.newValue) days"
            return Self.retentionPolicyEvent(
                tenant, message: "\(what): the grace period of the change requested by \(change.requestedBy) ended",
                changes: [change.setting: Change(old: SettingChange.value(of: change.setting, change.oldValue),
                                                 new: SettingChange.value(of: change.setting, change.newValue))],
                metadata: ["change_id": .string(change.changeID), "requested_by": .string(change.requestedBy), "after_grace": .bool(true)])
        }
        guard !events.isEmpty else { return }
        _ = try await ingestor.ingest(events)
    }

    /// Recomputes `tenant`'s chain for the hours in `[from, to)` (`auditlog verify`).
    /// `legacyKey` checks the HMAC digests written before there were digest keys. Nil when the
    /// database knows no such tenant.
    public func verify(_ tenant: TenantID, from: Date?, to: Date?, legacyKey: [UInt8]?) async throws -> ChainVerifier.Result? {
        var verifier = ChainVerifier(legacyKey: legacyKey)
        verifier.engine = engine
        let ready = verifier
        return try await mappingErrors {
            try await maintenancePool.withConnection { try ready.verify(tenant, from: from, to: to, on: $0) }
        }
    }

    /// The lock table PostgreSQL shares among its connections, against what this service may
    /// hold at once: a search over the whole window locks every partition of the audit schema
    /// and its indexes (about 1,000 relations at 90 days). Nil when there is room; otherwise a
    /// sentence for the operator naming the setting and the value that would fit.
    public func lockCapacityShortfall() async throws -> String? {
        let poolSize = configuration.readConnections + configuration.ingestConnections
            + configuration.authConnections + configuration.maintenanceConnections
        let row = try await mappingErrors {
            try await authPool.withConnection { connection in
                try connection.query("""
                    SELECT current_setting('max_locks_per_transaction')::bigint,
                           current_setting('max_connections')::bigint + current_setting('max_prepared_transactions')::bigint,
                           (SELECT count(*) FROM pg_catalog.pg_class WHERE relnamespace = 'audit'::regnamespace)
                    """).rows[0]
            }
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
}
