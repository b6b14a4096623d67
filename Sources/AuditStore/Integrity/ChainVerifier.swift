import AuditCore
import Foundation
internal import PostgresLibPQ

/// Recomputes a tenant's integrity chain from the stored events (`auditlog verify`): the checks
/// of `ChainCheck` (the same the offline bundle verifier runs), and what only the database holds:
/// that every target row is one its event names, and every event holds its id's claim.
public struct ChainVerifier: Sendable {
    public typealias Finding = ChainCheck.Finding
    public typealias Result = ChainCheck.Report

    /// The HMAC key of digests written before there were digest keys (`AUDITLOG_SIGNING_KEY`).
    let legacyKey: [UInt8]?
    var engine: DatabaseEngine = .postgres

    public init(legacyKey: [UInt8]?) {
        self.legacyKey = legacyKey
    }

    /// Verifies `tenant` for the hours in `[from, to)` (the chain's links are always checked whole);
    /// nil when the database knows no such tenant (no settings row, no event, no digest).
    func verify(_ tenant: TenantID, from: Date?, to: Date?, on connection: PostgresConnection) throws -> Result? {
        try engine.withTenantTransaction(tenant, roleName: AuditDatabase.maintenanceRole, on: connection) { connection -> Result? in
            let t = tenant.rawValue
            let known = try connection.query("""
                SELECT EXISTS (SELECT FROM audit.tenant WHERE tenant_id = \(t))
                    OR EXISTS (SELECT FROM audit.event WHERE tenant_id = \(t))
                    OR EXISTS (SELECT FROM audit.digest WHERE tenant_id = \(t))
                """).rows[0].decode(Bool.self, at: 0)
            guard known else { return nil }
            let now = try connection.query("SELECT now()").rows[0].decode(Date.self, at: 0)
            let keys = PublishedDigestKey.byID(try PublishedDigestKey.all(on: connection))
            let chain = try StoredDigest.all(of: tenant, on: connection).map(\.link)
            let lower = from.map(Timestamp.hourStart)
            var query: PostgresQuery = "SELECT \(unsafeSQL: EventReader.columns) FROM audit.event AS e WHERE e.tenant_id = \(tenant.rawValue)"
            if let lower { query.append(" AND e.occurred_at >= \(lower)") }
            if let to { query.append(" AND e.occurred_at < \(to)") }
            query.append(#" ORDER BY e.occurred_at, e.id COLLATE "C""#)
            var events: [ChainCheck.Event] = []
            for row in try connection.query(query).rows {
                guard case .object(let record) = try EventReader.record(row), let event = ChainCheck.Event(record: record) else { continue }
                events.append(event)
            }
            var result = ChainCheck.run(chain: chain, events: events, keys: keys, legacyKey: legacyKey,
                                        from: lower, to: to, now: now)
            result.findings += try retentionFindings(tenant, stamped: result.retentionStampsUnjudged, on: connection)
            result.findings += try targetFindings(tenant, events: events, from: lower, to: to, on: connection)
            result.findings += try idFindings(tenant, events: events, on: connection)
            result.findings.sort { ($0.hour ?? .distantPast) < ($1.hour ?? .distantPast) }
            return result
        }
    }

    /// The "removed by retention" stamps that no signed policy precedes (digests before format 3,
    /// see `ChainCheck.retentionStamps`), judged by the policy the database says was in force:
    /// no legal hold, and older than the tenant's retention then (its current settings, walked
    /// back through the changes `audit.setting_change` records, against today's global
    /// retention). A stamp that policy did not allow means the settings were changed outside
    /// `audit.change_setting`, or the stamp was forged.
    func retentionFindings(_ tenant: TenantID, stamped: [ChainCheck.Link], on connection: PostgresConnection) throws -> [Finding] {
        guard !stamped.isEmpty else { return [] }
        let global = try connection.query("SELECT audit.global_retention_days()").rows[0].decode(Int.self, at: 0)
        guard let current = try connection.query("""
            SELECT retention_days, legal_hold FROM audit.tenant WHERE tenant_id = \(tenant.rawValue)
            """).rows.first.map({ (try $0.decode(Int.self, at: 0), try $0.decode(Bool.self, at: 1)) }) else {
            return [Finding(hour: stamped[0].digest.hour, message: "hours are marked removed by retention, but the tenant has no settings row")]
        }
        let history = try connection.query("""
            SELECT setting, old_value, applied_at FROM audit.setting_change
            WHERE tenant_id = \(tenant.rawValue) AND applied_at IS NOT NULL ORDER BY applied_at DESC
            """).rows.map { (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1), try $0.decode(Date.self, at: 2)) }
        func policy(at moment: Date) -> (days: Int, held: Bool) {
            var (days, held) = current
            for (setting, old, applied) in history where applied > moment {
                if setting == "legal_hold" { held = old == "true" } else { days = Int(old) ?? days }
            }
            return (days, held)
        }
        var findings: [Finding] = []
        for link in stamped {
            guard let removed = link.retentionRemovedAt else { continue }
            let (days, held) = policy(at: removed)
            let policy = Digest.RetentionPolicy(days: min(days, global), legalHold: held, at: removed)
            if !policy.allowsRemoving(hourEnd: link.digest.hourEnd, at: removed) {
                findings.append(Finding(hour: link.digest.hour, message: ChainCheck.removedMessage(removed, held: held, days: policy.days, signed: false)))
            }
        }
        return findings
    }

    /// One `audit.event_target` row: a target, and the event (by time and id) it lists.
    struct TargetRow: Hashable {
        var type: String
        var id: String
        var micros: Int64
        var event: String
    }

    /// Every `audit.event_target` row is one of its event's own targets, and each target has its row.
    func targetFindings(_ tenant: TenantID, events: [ChainCheck.Event], from: Date?, to: Date?, on connection: PostgresConnection) throws -> [Finding] {
        var expected: Set<TargetRow> = []
        for event in events {
            guard case .array(let targets)? = event.record["targets"] else { continue }
            for case .object(let target) in targets {
                guard case .string(let type)? = target["type"], case .string(let id)? = target["id"] else { continue }
                expected.insert(TargetRow(type: type, id: id, micros: Timestamp.micros(event.occurredAt), event: event.id))
            }
        }
        var query: PostgresQuery = """
            SELECT target_type, target_id, (extract(epoch FROM occurred_at) * 1000000)::bigint, event_id
            FROM audit.event_target WHERE tenant_id = \(tenant.rawValue)
            """
        if let from { query.append(" AND occurred_at >= \(from)") }
        if let to { query.append(" AND occurred_at < \(to)") }
        func hour(_ row: TargetRow) -> Date { Timestamp.hourStart(Date(timeIntervalSince1970: Double(row.micros) / 1_000_000)) }
        var findings: [Finding] = []
        for result in try connection.query(query).rows {
            let row = TargetRow(type: try result.decode(String.self, at: 0), id: try result.decode(String.self, at: 1),
                                micros: try result.decode(Int64.self, at: 2), event: try result.decode(String.self, at: 3))
            if expected.remove(row) == nil {
                findings.append(Finding(hour: hour(row), message: "a target row lists event \(row.event) under \(row.type)/\(row.id), which that event does not name"))
            }
        }
        for missing in expected {
            findings.append(Finding(hour: hour(missing), message: "event \(missing.event) names \(missing.type)/\(missing.id) but has no target row (that target's view misses it)"))
        }
        return findings
    }

    /// Each event holds its id's claim in `audit.event_id` (same time, same hash).
    func idFindings(_ tenant: TenantID, events: [ChainCheck.Event], on connection: PostgresConnection) throws -> [Finding] {
        guard !events.isEmpty else { return [] }
        var claims: [String: (Int64, String)] = [:]
        for row in try connection.query("""
            SELECT id, (extract(epoch FROM occurred_at) * 1000000)::bigint, hash FROM audit.event_id
            WHERE tenant_id = \(tenant.rawValue) AND id = ANY(\(events.map(\.id))::text[])
            """).rows {
            claims[try row.decode(String.self, at: 0)] = (try row.decode(Int64.self, at: 1), try row.decode(String.self, at: 2))
        }
        var findings: [Finding] = []
        for event in events {
            let hour = Timestamp.hourStart(event.occurredAt)
            guard let claim = claims[event.id] else {
                findings.append(Finding(hour: hour, message: "event \(event.id) has no id claim: it was written outside the ingest path"))
                continue
            }
            if claim.0 != Timestamp.micros(event.occurredAt) || claim.1 != event.hash {
                findings.append(Finding(hour: hour, message: "event \(event.id) is a second event under an id another event holds"))
            }
        }
        return findings
    }
}
