import AuditCore
import Foundation
import Logging
internal import PostgresLibPQ

/// Seals every closed hour of every tenant into its chain (part of the maintenance pass).
///
/// An hour is closed once it ended more than `sealDelay` ago (`AUDITLOG_SEAL_DELAY`); a digest
/// covers the events received before the watermark `now - sealDelay`, so a transaction still
/// committing cannot slip in unseen (keep the delay above `AUDITLOG_WRITE_TIMEOUT`). Each pass:
///
/// - seals the hours closed since the last pass, from the chain's end to the watermark's hour:
///   an hour with events gets its own digest, a run of empty hours one digest for the run;
///   a tenant's first pass starts at the oldest hour its retention could hold (or its oldest
///   event), so no hour in reach of a backdated event is left unsealed;
/// - writes a follow-up digest for every sealed hour that received events since the last
///   digest, counting those that arrived after the hour's first seal (`late_count`).
///
/// Every digest signs the retention policy in force as it is written (format 3). When the policy
/// changed since the chain's newest digest and nothing else is due, a follow-up digest of the
/// newest sealed hour records it, so the pass that applies a shorter retention or a lifted hold
/// has signed it before it removes anything under it.
///
/// Stored times are never trusted past the watermark: a digest claiming a `covered_until` or
/// `hour_end` in the future (only a forgery can) cannot stop later events from being sealed.
public struct DigestWriter: Sendable {
    public static let defaultSealDelay: TimeInterval = 300
    let key: DigestSigningKey
    let sealDelay: TimeInterval
    var engine: DatabaseEngine = .postgres

    public init(key: DigestSigningKey, sealDelay: TimeInterval = DigestWriter.defaultSealDelay) {
        self.key = key
        self.sealDelay = max(0, sealDelay)
    }

    /// Writes the digests due at `now` for every tenant; returns how many it wrote. The signing
    /// key's public half is listed in `audit.digest_key` first, so every digest's key is known.
    func run(on connection: PostgresConnection, now: Date = Date()) throws -> Int {
        try connection.query("SELECT audit.register_digest_key(\(key.keyID), \(Crypto.hex(key.publicKey)))")
        let tenants = try connection.query("SELECT tenant_id, origin FROM audit.tenants_to_seal()").rows.map {
            (try $0.decode(String.self, at: 0), try $0.decode(Date.self, at: 1))
        }
        // Read once per pass: the keys a stored digest's signature may hold under.
        let keys = Dictionary(try PublishedDigestKey.all(on: connection).map { ($0.keyID, $0.publicKey) }) { first, _ in first }
        var written = 0
        for (raw, origin) in tenants {
            guard let tenant = TenantID(raw) else { continue }
            written += try engine.withTenantTransaction(tenant, roleName: AuditDatabase.maintenanceRole, on: connection) {
                try append(tenant, origin: origin, keys: keys, on: $0, now: now)
            }
        }
        return written
    }

    struct Link {
        var position: Int64
        var signature: String
    }

    func append(_ tenant: TenantID, origin: Date, keys: [String: [UInt8]], on connection: PostgresConnection, now: Date) throws -> Int {
        let watermark = Timestamp.truncatedToMicroseconds(now.addingTimeInterval(-sealDelay))
        let closedBefore = Timestamp.hourStart(watermark)
        let t = tenant.rawValue
        // The chain goes on from its head; what is already sealed is read from the newest digest
        // whose signature holds (a forged one cannot hold back later events).
        let recent = try StoredDigest.all(of: tenant, newest: 50, on: connection)
        var last = recent.first.map { Link(position: $0.digest.position, signature: $0.digest.signature) }
        let trusted = recent.first { stored in
            guard let keyID = stored.digest.keyID else { return true }  // an HMAC digest of an earlier version
            return keys[keyID].map { stored.digest.verify(publicKey: $0) } ?? false
        }
        let since = min(trusted?.digest.coveredUntil ?? Date(timeIntervalSince1970: 0), watermark)
        let sealedThrough: Date
        if recent.isEmpty {
            let oldest = try connection.query("""
                SELECT min(occurred_at) FROM audit.event WHERE tenant_id = \(t) AND received_at < \(watermark)
                """).rows[0].decode(Date?.self, at: 0)
            sealedThrough = Timestamp.hourStart(min(origin, oldest ?? origin))
        } else {
            sealedThrough = try connection.query("""
                SELECT max(hour_end) FROM audit.digest WHERE tenant_id = \(t) AND hour_end <= \(closedBefore)
                """).rows[0].decode(Date?.self, at: 0) ?? Timestamp.hourStart(origin)
        }

        // The policy in force now, as mark_digests_past_retention and prune_tenant will read it
        // (two statements: on Citus the tenant's row is on a worker, the global policy is not).
        let global = try connection.query("SELECT audit.global_retention_days(), now()").rows[0]
        guard let setting = try connection.query("SELECT retention_days, legal_hold FROM audit.tenant WHERE tenant_id = \(t)").rows.first else {
            return 0
        }
        let policy = Digest.RetentionPolicy(days: min(try setting.decode(Int.self, at: 0), try global.decode(Int.self, at: 0)),
                                            legalHold: try setting.decode(Bool.self, at: 1), at: try global.decode(Date.self, at: 1))

        var written = 0
        func write(hour: Date, hourEnd: Date, lateSince: Date?) throws {
            let hashes = try connection.query("""
                SELECT hash, received_at >= \(lateSince ?? watermark) FROM audit.event
                WHERE tenant_id = \(t) AND occurred_at >= \(hour) AND occurred_at < \(hourEnd) AND received_at < \(watermark)
                ORDER BY occurred_at, id COLLATE "C"
                """).rows.map { (try $0.decode(String.self, at: 0), try $0.decode(Bool.self, at: 1)) }
            let sequence = try connection.query("""
                SELECT greatest(
                    (SELECT count(*) FROM audit.digest WHERE tenant_id = \(t) AND hour <= \(hour) AND hour_end > \(hour)),
                    (SELECT coalesce(max(sequence) + 1, 0) FROM audit.digest WHERE tenant_id = \(t) AND hour = \(hour)))
                """).rows[0].decode(Int.self, at: 0)
            var digest = Digest(tenant: t, hour: hour, hourEnd: hourEnd, sequence: sequence, position: (last?.position ?? 0) + 1,
                                eventCount: hashes.count, lateCount: hashes.filter(\.1).count,
                                eventsSHA256: Digest.eventsSHA256(hashes.map(\.0)), coveredUntil: watermark,
                                previousSignature: last?.signature ?? "", retention: policy)
            digest.sign(with: key)
            try Self.insert([digest], on: connection)
            last = Link(position: digest.position, signature: digest.signature)
            written += 1
        }

        // Late: sealed hours that received events since the last digest, each against the
        // covered_until of the first digest that sealed it. When the chain's last digest was
        // written after every sealed hour ended (always, but for a forged or missing chain), such
        // an event was received after its own hour ended: that is the predicate of
        // event_late_idx (sql/0020), stated here word for word so the index finds them.
        var arrivals: PostgresQuery = """
            SELECT DISTINCT date_trunc('hour', occurred_at, 'UTC') AS hour FROM audit.event
            WHERE tenant_id = \(t) AND occurred_at < \(sealedThrough) AND received_at >= \(since) AND received_at < \(watermark)
            """
        if since >= sealedThrough {
            arrivals.append("""
                 AND (received_at AT TIME ZONE 'UTC') >= date_trunc('hour', occurred_at AT TIME ZONE 'UTC') + interval '1 hour'
                """)
        }
        let late = try connection.query("""
            SELECT h.hour, (SELECT d.covered_until FROM audit.digest AS d
                             WHERE d.tenant_id = \(t) AND d.hour <= h.hour AND d.hour_end > h.hour
                             ORDER BY d.position LIMIT 1)
            FROM (\(arrivals)) AS h
            ORDER BY 1
            """).rows.map { (try $0.decode(Date.self, at: 0), try $0.decode(Date?.self, at: 1)) }
        for (hour, firstSeal) in late {
            try write(hour: hour, hourEnd: hour.addingTimeInterval(3600), lateSince: firstSeal)
        }

        // A changed policy with nothing else due: a follow-up of the newest sealed hour signs it.
        if written == 0, sealedThrough >= closedBefore, let newest = recent.first,
           newest.digest.retention.map({ ($0.days, $0.legalHold) != (policy.days, policy.legalHold) }) ?? true {
            let hour = sealedThrough.addingTimeInterval(-3600)
            let firstSeal = try connection.query("""
                SELECT covered_until FROM audit.digest WHERE tenant_id = \(t) AND hour <= \(hour) AND hour_end > \(hour)
                ORDER BY position LIMIT 1
                """).rows.first?.decode(Date.self, at: 0)
            try write(hour: hour, hourEnd: hour.addingTimeInterval(3600), lateSince: firstSeal)
        }

        // Newly closed hours: each hour with events alone, each run of empty hours together.
        guard sealedThrough < closedBefore else { return written }
        // Usually no digest touches them yet: all are sealed from one read of their events and
        // written in a few statements (a tenant's first pass may seal weeks of hours).
        let touched = try connection.query("""
            SELECT count(*) FROM audit.digest WHERE tenant_id = \(t) AND hour < \(closedBefore) AND hour_end > \(sealedThrough)
            """).rows[0].decode(Int.self, at: 0)
        if touched == 0 {
            written += try sealNewHours(t, from: sealedThrough, to: closedBefore, watermark: watermark, policy: policy, last: &last, on: connection)
            return written
        }
        let busy = try connection.query("""
            SELECT DISTINCT date_trunc('hour', occurred_at, 'UTC') FROM audit.event
            WHERE tenant_id = \(t) AND occurred_at >= \(sealedThrough) AND occurred_at < \(closedBefore) AND received_at < \(watermark)
            ORDER BY 1
            """).rows.map { try $0.decode(Date.self, at: 0) }
        var cursor = sealedThrough
        for hour in busy + [closedBefore] {
            if cursor < hour { try write(hour: cursor, hourEnd: hour, lateSince: nil) }
            if hour < closedBefore { try write(hour: hour, hourEnd: hour.addingTimeInterval(3600), lateSince: nil) }
            cursor = hour.addingTimeInterval(3600)
        }
        return written
    }

    /// Seals the closed hours `[from, to)`, none of which any digest covers yet: the digests
    /// `append` would write one by one (each hour with events, each run of empty hours; sequence
    /// 0, nothing late), computed from one ordered read of the range's hashes and inserted in
    /// batches.
    func sealNewHours(_ t: String, from: Date, to: Date, watermark: Date, policy: Digest.RetentionPolicy, last: inout Link?,
                      on connection: PostgresConnection) throws -> Int {
        var hours: [(hour: Date, hashes: [String])] = []
        for row in try connection.query("""
            SELECT date_trunc('hour', occurred_at, 'UTC'), hash FROM audit.event
            WHERE tenant_id = \(t) AND occurred_at >= \(from) AND occurred_at < \(to) AND received_at < \(watermark)
            ORDER BY occurred_at, id COLLATE "C"
            """).rows {
            let hour = try row.decode(Date.self, at: 0), hash = try row.decode(String.self, at: 1)
            if hours.last?.hour == hour { hours[hours.count - 1].hashes.append(hash) } else { hours.append((hour, [hash])) }
        }
        var digests: [Digest] = []
        func add(hour: Date, hourEnd: Date, hashes: [String]) {
            var digest = Digest(tenant: t, hour: hour, hourEnd: hourEnd, sequence: 0, position: (last?.position ?? 0) + 1,
                                eventCount: hashes.count, lateCount: 0, eventsSHA256: Digest.eventsSHA256(hashes), coveredUntil: watermark,
                                previousSignature: last?.signature ?? "", retention: policy)
            digest.sign(with: key)
            last = Link(position: digest.position, signature: digest.signature)
            digests.append(digest)
        }
        var cursor = from
        for (hour, hashes) in hours + [(to, [])] {
            if cursor < hour { add(hour: cursor, hourEnd: hour, hashes: []) }
            if hour < to { add(hour: hour, hourEnd: hour.addingTimeInterval(3600), hashes: hashes) }
            cursor = hour.addingTimeInterval(3600)
        }
        for start in stride(from: 0, to: digests.count, by: 500) {
            try Self.insert(digests[start..<min(start + 500, digests.count)], on: connection)
        }
        return digests.count
    }

    /// Stores signed digests as they were signed, in one statement. Multi-row VALUES rather than
    /// INSERT … SELECT FROM unnest(…): Citus runs an INSERT … SELECT into a distributed table as
    /// a COPY, which row-level security refuses.
    static func insert(_ digests: some Collection<Digest>, on connection: PostgresConnection) throws {
        var insert: PostgresQuery = """
            INSERT INTO audit.digest (tenant_id, hour, hour_end, sequence, position, event_count, late_count, events_sha256,
                covered_until, previous_signature, signature, key_id, format, retention_days, legal_hold, policy_at) VALUES
            """
        for (index, digest) in digests.enumerated() {
            if index > 0 { insert.append(",") }
            insert.append("""
                (\(digest.tenant), \(digest.hour), \(digest.hourEnd), \(digest.sequence), \(digest.position), \(digest.eventCount),
                 \(digest.lateCount), \(digest.eventsSHA256), \(digest.coveredUntil), \(digest.previousSignature), \(digest.signature),
                 \(digest.keyID), \(digest.format), \(digest.retention?.days), \(digest.retention?.legalHold), \(digest.retention?.at))
                """)
        }
        try connection.query(insert)
    }
}
