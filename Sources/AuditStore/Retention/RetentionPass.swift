import Foundation
import Logging
internal import PostgresLibPQ

/// One retention pass (SPEC §7): partitions a week ahead, whole days dropped past the global
/// retention, then each tenant with a shorter retention pruned in small batches with a
/// pause between them, so ingest and dashboards keep their latency.
///
/// Only one pass runs at a time across every instance sharing the database: the pass holds a
/// session advisory lock, and a second one finds it taken and skips. Between batches the pass
/// sleeps without a thread (its connection sits idle in the maintenance bulkhead) and stops
/// there when its task is cancelled (SIGTERM); the lock is released on the way out.
public struct RetentionPass: Sendable {
    public struct TenantReport: Sendable, Equatable {
        public var tenant: String
        public var retentionDays: Int
        public var legalHold: Bool
        /// Rows removed (or, in a dry run, that would be).
        public var removed: Int
        public var oldestKept: Date?
    }

    public struct Report: Sendable {
        public var ran: Bool
        public var dryRun: Bool
        public var partitionsCreated: Int
        public var partitionsDropped: [String]
        public var tenants: [TenantReport]
        public var digestsWritten = 0
        /// Setting changes whose grace period ended and that took effect in this pass.
        public var settingsApplied: [AppliedSettingChange] = []
        /// A cut of the global retention first seen (`requested`) or taken effect (`applied`) in this pass.
        public var globalRetention: [GlobalRetentionChange] = []
    }

    /// A cut of `AUDITLOG_RETENTION_DAYS`, for the logs of the tenants it shortens.
    public struct GlobalRetentionChange: Sendable, Equatable {
        /// `requested` (pending for the grace period) or `applied` (in force now).
        public var kind: String
        public var oldDays: Int
        public var newDays: Int
        public var requestedAt: Date
        public var effectiveAt: Date
        /// Each tenant it shortens, with its retention before the cut.
        public var tenants: [(tenant: String, days: Int)]

        public static func == (a: Self, b: Self) -> Bool {
            (a.kind, a.oldDays, a.newDays, a.requestedAt, a.effectiveAt) == (b.kind, b.oldDays, b.newDays, b.requestedAt, b.effectiveAt)
                && a.tenants.map(\.tenant) == b.tenants.map(\.tenant) && a.tenants.map(\.days) == b.tenants.map(\.days)
        }
    }

    /// A pending change applied by `audit.apply_due_setting_changes`.
    public struct AppliedSettingChange: Sendable, Equatable {
        public var tenant: String
        public var changeID: String
        public var setting: String
        public var oldValue: String
        public var newValue: String
        public var requestedBy: String
    }

    static let lockKey: Int64 = 0x6175_6469_7472_6574  // "auditret"

    public var batchSize: Int
    /// Shortest pause between prune batches (the pass rests twice as long as a batch took).
    public var pause: Duration
    /// Writes the closed hours' digests before anything is pruned (nil: no digests).
    public var digests: DigestWriter?
    /// Only seal closed hours (the frequent tick between full passes); nothing is pruned.
    public var sealOnly = false
    /// How long to wait for a pass another instance is running before skipping (`auditlog
    /// retention run` waits for it; serve's own loop skips at once and tries again next tick).
    public var waitForRunning: Duration = .zero
    /// Called after each prune batch with the tenant and the rows it removed (progress, tests).
    public var onBatch: (@Sendable (String, Int) async -> Void)?
    public var logger: Logger

    public init(batchSize: Int = 1000, pause: Duration = .milliseconds(20), digests: DigestWriter? = nil,
                onBatch: (@Sendable (String, Int) async -> Void)? = nil, logger: Logger = Logger(label: "auditlog.retention")) {
        self.batchSize = batchSize
        self.pause = pause
        self.digests = digests
        self.onBatch = onBatch
        self.logger = logger
    }

    /// Runs a pass on one connection of `pool`, held for the pass (the advisory lock is per session).
    func run(pool: ConnectionPool, dryRun: Bool) async throws -> Report {
        try await pool.withLease { lease in
            let deadline = ContinuousClock.now + waitForRunning
            var locked = false
            var told = false
            while true {
                locked = try await lease.run {
                    try $0.query("SELECT pg_try_advisory_lock(\(Self.lockKey))").rows[0].decode(Bool.self, at: 0)
                }
                guard !locked, ContinuousClock.now < deadline else { break }
                if !told { logger.warning("another retention pass is running; waiting for it to finish") }
                told = true
                try await Task.sleep(for: .milliseconds(500))
            }
            guard locked else {
                logger.info("another retention pass is running; skipping")
                return Report(ran: false, dryRun: dryRun, partitionsCreated: 0, partitionsDropped: [], tenants: [])
            }
            do {
                let report = try await run(lease, dryRun: dryRun)
                _ = try? await lease.run(cancellable: false) { try $0.query("SELECT pg_advisory_unlock(\(Self.lockKey))") }
                return report
            } catch {
                _ = try? await lease.run(cancellable: false) { try $0.query("SELECT pg_advisory_unlock(\(Self.lockKey))") }
                throw error
            }
        }
    }

    /// Seals every tenant's closed hours, one tenant per transaction: a cancelled pass (SIGTERM)
    /// stops between two tenants, or within one by cancelling its statement.
    private func seal(_ digests: DigestWriter, _ lease: Lease) async throws -> Int {
        let (keys, tenants) = try await lease.run { connection in
            (try digests.trustedKeys(on: connection), try digests.tenantsToSeal(on: connection))
        }
        var written = 0
        for (tenant, origin) in tenants {
            try Task.checkCancellation()
            written += try await lease.run { try digests.seal(tenant, origin: origin, keys: keys, on: $0) }
        }
        return written
    }

    private func run(_ lease: Lease, dryRun: Bool) async throws -> Report {
        if sealOnly, let digests, !dryRun {
            let written = try await seal(digests, lease)
            return Report(ran: true, dryRun: false, partitionsCreated: 0, partitionsDropped: [], tenants: [], digestsWritten: written)
        }
        let (created, planned, applied, globalChanges) = try await lease.run { connection in
            var created = 0
            var applied: [AppliedSettingChange] = []
            var globalChanges: [GlobalRetentionChange] = []
            if !dryRun {
                // A cut of the global retention: recorded once requested, in force once its grace ended
                // (one transaction: what it marks recorded is what this pass records).
                globalChanges = try connection.withTransaction { connection in try connection.query("""
                    SELECT kind, old_days, new_days, requested_at, effective_at FROM audit.apply_due_global_retention()
                    """).rows.map { row in
                    let (oldDays, newDays) = (try row.decode(Int.self, at: 1), try row.decode(Int.self, at: 2))
                    let tenants = try connection.query("""
                        SELECT tenant_id, retention_days FROM audit.tenants_shortened_by(\(oldDays)::integer, \(newDays)::integer)
                        """).rows.map { (tenant: try $0.decode(String.self, at: 0), days: try $0.decode(Int.self, at: 1)) }
                    return GlobalRetentionChange(kind: try row.decode(String.self, at: 0), oldDays: oldDays, newDays: newDays,
                                                 requestedAt: try row.decode(Date.self, at: 3),
                                                 effectiveAt: try row.decode(Date.self, at: 4), tenants: tenants)
                } }
            }
            let global = try connection.query("SELECT audit.global_retention_days()").rows[0].decode(Int.self, at: 0)
            if !dryRun {
                // Changes whose grace period is over take effect before anything is planned.
                applied = try connection.query("""
                    SELECT tenant_id, change_id, setting, old_value, new_value, requested_by FROM audit.apply_due_setting_changes()
                    """).rows.map {
                    AppliedSettingChange(tenant: try $0.decode(String.self, at: 0), changeID: try $0.decode(String.self, at: 1),
                                         setting: try $0.decode(String.self, at: 2), oldValue: try $0.decode(String.self, at: 3),
                                         newValue: try $0.decode(String.self, at: 4), requestedBy: try $0.decode(String.self, at: 5))
                }
                created = try connection.query("""
                    SELECT audit.ensure_partitions(current_date - \(global)::integer, current_date + 7)
                    """).rows[0].decode(Int.self, at: 0)
            }
            let tenants = try connection.query("SELECT * FROM audit.retention_plan(now())").rows.map { row in
                TenantReport(tenant: try row.decode(String.self, at: 0), retentionDays: try row.decode(Int.self, at: 1),
                             legalHold: try row.decode(Bool.self, at: 2), removed: try row.decode(Int.self, at: 3),
                             oldestKept: try row.decode(Date?.self, at: 4))
            }
            return (created, tenants, applied, globalChanges)
        }
        var tenants = planned
        guard !dryRun else {
            return Report(ran: true, dryRun: true, partitionsCreated: 0, partitionsDropped: [], tenants: tenants)
        }
        let digests = self.digests
        var written = 0
        if let digests { written = try await seal(digests, lease) }
        let dropped = try await lease.run { connection in
            try connection.query("SELECT * FROM audit.drop_expired_partitions()").rows.map { try $0.decode(String.self, at: 0) }
        }
        if !dropped.isEmpty { logger.info("dropped expired partitions", metadata: ["partitions": "\(dropped.joined(separator: ", "))"]) }
        let batchSize = self.batchSize
        for index in tenants.indices where !tenants[index].legalHold && tenants[index].removed > 0 {
            let tenant = tenants[index].tenant
            var removed = 0
            while true {
                try Task.checkCancellation()
                let started = ContinuousClock.now
                let batch = try await lease.run { connection in
                    try connection.query("SELECT audit.prune_tenant(\(tenant), \(batchSize)::integer)").rows[0].decode(Int.self, at: 0)
                }
                removed += batch
                await onBatch?(tenant, batch)
                if batch < batchSize { break }
                // Rest twice as long as the batch took: the prune keeps to a third of one core,
                // so ingest beside it keeps its latency (bench/run measures its p99 during a prune).
                let took = started.duration(to: .now)
                try await Task.sleep(for: max(pause, took * 2))
            }
            if removed > 0 {
                logger.info("pruned tenant", metadata: ["tenant": "\(tenant)", "rows": "\(removed)"])
            }
        }
        // On Citus, the feed's numbered commits whose events are gone (a PK probe per tenant elsewhere).
        var commitsRemoved = 0
        for tenant in tenants.map(\.tenant) {
            try Task.checkCancellation()
            commitsRemoved += try await lease.run { try $0.query("SELECT audit.prune_feed_commits(\(tenant))").rows[0].decode(Int.self, at: 0) }
        }
        if commitsRemoved > 0 { logger.info("removed feed commits whose events are gone", metadata: ["commits": "\(commitsRemoved)"]) }
        let oldest = try await lease.run { connection in
            _ = try connection.query("SELECT audit.mark_digests_past_retention()")
            // Every expired row is now gone, by partition drop or by prune; report what is left.
            let after = try connection.query("SELECT tenant_id, oldest_kept FROM audit.retention_plan(now())").rows
            return Dictionary(uniqueKeysWithValues: try after.map { (try $0.decode(String.self, at: 0), try $0.decode(Date?.self, at: 1)) })
        }
        for index in tenants.indices { tenants[index].oldestKept = oldest[tenants[index].tenant] ?? nil }
        return Report(ran: true, dryRun: false, partitionsCreated: created, partitionsDropped: dropped, tenants: tenants,
                      digestsWritten: written, settingsApplied: applied, globalRetention: globalChanges)
    }
}
