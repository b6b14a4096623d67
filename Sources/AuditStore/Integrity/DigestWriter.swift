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
    /// The advisory lock class that serialises the writers of one tenant's chain.
    static let chainLockClass: Int32 = 0x6175_6463
    let key: DigestSigningKey
    let sealDelay: TimeInterval
    var engine: DatabaseEngine = .postgres

    public init(key: DigestSigningKey, sealDelay: TimeInterval = DigestWriter.defaultSealDelay) {
        self.key = key
        self.sealDelay = max(0, sealDelay)
    }

    /// Writes the digests due at `now` for every tenant; returns how many it wrote. The signing
    /// key must be listed in `audit.digest_key` (by `auditlog migrate` or `auditlog digest-key
    /// rotate`, as the schema owner): the service role cannot list a key, so a stolen service
    /// credential cannot make its own key trusted.
    func run(on connection: PostgresConnection, now: Date = Date()) throws -> Int {
        let keys = try trustedKeys(on: connection)
        var written = 0
        for (tenant, origin) in try tenantsToSeal(on: connection) {
            written += try seal(tenant, origin: origin, keys: keys, on: connection, now: now)
        }
        return written
    }

    /// Every tenant whose chain a pass extends, with where a new chain starts (`audit.tenants_to_seal`).
    func tenantsToSeal(on connection: PostgresConnection) throws -> [(TenantID, Date)] {
        try connection.query("SELECT tenant_id, origin FROM audit.tenants_to_seal()").rows.compactMap { row in
            guard let tenant = TenantID(try row.decode(String.self, at: 0)) else { return nil }
            return (tenant, try row.decode(Date.self, at: 1))
        }.sorted { $0.0.rawValue < $1.0.rawValue }
    }

    /// Writes the digests due at `now` for one tenant, in its own transaction (a pass stops between
    /// tenants when it is cancelled).
    func seal(_ tenant: TenantID, origin: Date, keys: [String: [UInt8]], on connection: PostgresConnection, now: Date = Date()) throws -> Int {
        try engine.withTenantTransaction(tenant, roleName: AuditDatabase.maintenanceRole, on: connection) {
            try append(tenant, origin: origin, keys: keys, on: $0, now: now, checkpoint: false)
        }
    }

    /// Seals everything `tenant` has received so far, the open hour included (a checkpoint, for a
    /// bundle export): waits for the tenant's writes in flight (each ingest transaction holds
    /// `ingestLock` shared), reads the clock, lets writes go on, then seals up to that moment.
    /// Every event received before the returned time is covered by a signature.
    func checkpoint(_ tenant: TenantID, on connection: PostgresConnection) throws -> Date {
        let keys = try trustedKeys(on: connection)
        let lock = Self.ingestLock(tenant)
        try connection.query("SELECT pg_advisory_lock(\(lock.0), \(lock.1))")
        let watermark: Date
        do {
            watermark = try connection.query("SELECT clock_timestamp()").rows[0].decode(Date.self, at: 0)
            try connection.query("SELECT pg_advisory_unlock(\(lock.0), \(lock.1))")
        } catch {
            _ = try? connection.query("SELECT pg_advisory_unlock(\(lock.0), \(lock.1))")
            throw error
        }
        _ = try engine.withTenantTransaction(tenant, roleName: AuditDatabase.maintenanceRole, on: connection) {
            try append(tenant, origin: nil, keys: keys, on: $0, now: watermark, checkpoint: true)
        }
        return watermark
    }

    /// The advisory lock (class, key) every ingest transaction holds shared for each tenant it
    /// writes, and a checkpoint takes exclusively for a moment: once it has it, no write of the
    /// tenant is in flight, and every later one is received after it (`received_at` is the
    /// insert's `clock_timestamp()`).
    static func ingestLock(_ tenant: TenantID) -> (Int32, Int32) {
        (0x6175_6474, Int32(bitPattern: UInt32(truncatingIfNeeded: tenant.rawValue.utf8.reduce(UInt64(14_695_981_039_346_656_037)) {
            ($0 ^ UInt64($1)) &* 1_099_511_628_211
        })))
    }

    /// The listed keys a stored digest's signature may hold under; throws when this writer's own
    /// key is not listed, or was retired.
    func trustedKeys(on connection: PostgresConnection) throws -> [String: [UInt8]] {
        let listed = try PublishedDigestKey.all(on: connection)
        guard let own = listed.first(where: { $0.keyID == key.keyID }) else {
            throw DigestKeyError(message: "the digest key \(key.keyID) is not listed in audit.digest_key; run `auditlog migrate` "
                                 + "(or `auditlog digest-key rotate`) with DATABASE_ADMIN_URL to list it")
        }
        if own.retiredAt != nil {
            throw DigestKeyError(message: "the digest key \(key.keyID) was retired; set AUDITLOG_DIGEST_KEY to the current key")
        }
        return PublishedDigestKey.byID(listed)
    }

    struct Link {
        var position: Int64
        var signature: String
    }

    /// `checkpoint`: `now` is the watermark itself (no seal delay), and the open hours are sealed
    /// too. A digest whose `covered_until` lies before its `hour_end` is such a checkpoint: it
    /// does not close its hours, which the first pass after they end seals again in full.
    func append(_ tenant: TenantID, origin: Date?, keys: [String: [UInt8]], on connection: PostgresConnection, now: Date,
                checkpoint: Bool) throws -> Int {
        let watermark = Timestamp.truncatedToMicroseconds(checkpoint ? now : now.addingTimeInterval(-sealDelay))
        let closedBefore = Timestamp.hourStart(watermark)
        let t = tenant.rawValue
        // One writer per chain at a time: the maintenance pass and a checkpoint may meet here.
        try connection.query("SELECT pg_advisory_xact_lock(\(Self.chainLockClass), \(Self.ingestLock(tenant).1))")
        // The chain goes on from its head; what is already sealed is read from the newest digest
        // whose signature holds (a forged one cannot hold back later events).
        let recent = try StoredDigest.all(of: tenant, newest: 50, on: connection)
        var last = recent.first.map { Link(position: $0.digest.position, signature: $0.digest.signature) }
        let trusted = recent.first { stored in
            guard let keyID = stored.digest.keyID else { return true }  // an HMAC digest of an earlier version
            return keys[keyID].map { stored.digest.verify(publicKey: $0) } ?? false
        }
        // The policy in force now, as mark_digests_past_retention and prune_tenant will read it
        // (two statements: on Citus the tenant's row is on a worker, the global policy is not).
        let global = try connection.query("SELECT audit.global_retention_days(), now()").rows[0]
        // A tenant without a settings row (events written outside the ingest path, or a row
        // removed) has the defaults: the global retention, no hold. Its events are sealed all the same.
        let setting = try connection.query("SELECT retention_days, legal_hold, created_at FROM audit.tenant WHERE tenant_id = \(t)").rows.first
        let globalDays = try global.decode(Int.self, at: 0)
        let policy = Digest.RetentionPolicy(days: min(try setting?.decode(Int.self, at: 0) ?? globalDays, globalDays),
                                            legalHold: try setting?.decode(Bool.self, at: 1) ?? false, at: try global.decode(Date.self, at: 1))

        // Where a new chain starts (`tenants_to_seal`'s origin, when not given).
        let origin = try origin ?? Timestamp.hourStart(
            min(try setting?.decode(Date.self, at: 2) ?? policy.at, policy.at).addingTimeInterval(-Double(policy.days) * 86_400))

        let since = min(trusted?.digest.coveredUntil ?? Date(timeIntervalSince1970: 0), watermark)
        let sealedThrough: Date
        if recent.isEmpty {
            let oldest = try connection.query("""
                SELECT min(occurred_at) FROM audit.event WHERE tenant_id = \(t) AND received_at < \(watermark)
                """).rows[0].decode(Date?.self, at: 0)
            sealedThrough = Timestamp.hourStart(min(origin, oldest ?? origin))
        } else {
            sealedThrough = try connection.query("""
                SELECT max(hour_end) FROM audit.digest
                WHERE tenant_id = \(t) AND hour_end <= \(closedBefore) AND covered_until >= hour_end
                """).rows[0].decode(Date?.self, at: 0) ?? Timestamp.hourStart(origin)
        }

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
                             WHERE d.tenant_id = \(t) AND d.hour <= h.hour AND d.hour_end > h.hour AND d.covered_until >= d.hour_end
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
                SELECT covered_until FROM audit.digest
                WHERE tenant_id = \(t) AND hour <= \(hour) AND hour_end > \(hour) AND covered_until >= hour_end
                ORDER BY position LIMIT 1
                """).rows.first?.decode(Date.self, at: 0)
            try write(hour: hour, hourEnd: hour.addingTimeInterval(3600), lateSince: firstSeal)
        }

        // Newly closed hours: each hour with events alone, each run of empty hours together.
        if sealedThrough < closedBefore {
            // Usually no digest touches them yet: all are sealed from one read of their events and
            // written in a few statements (a tenant's first pass may seal weeks of hours).
            let touched = try connection.query("""
                SELECT count(*) FROM audit.digest WHERE tenant_id = \(t) AND hour < \(closedBefore) AND hour_end > \(sealedThrough)
                """).rows[0].decode(Int.self, at: 0)
            if touched == 0 {
                written += try sealNewHours(t, from: sealedThrough, to: closedBefore, watermark: watermark, policy: policy, last: &last, on: connection)
            } else {
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
            }
        }
        guard checkpoint else { return written }

        // A checkpoint also covers the open hours (the current one, and the next for events dated
        // ahead): each hour whose events are not all under its latest digest gets a digest, and
        // an empty hour before it that no digest covers yet an empty one.
        let open = try connection.query("""
            SELECT date_trunc('hour', occurred_at, 'UTC'), count(*) FROM audit.event
            WHERE tenant_id = \(t) AND occurred_at >= \(closedBefore) AND received_at < \(watermark)
            GROUP BY 1 ORDER BY 1
            """).rows.map { (try $0.decode(Date.self, at: 0), try $0.decode(Int.self, at: 1)) }
        var cursor = closedBefore
        for (hour, count) in open {
            let covered = try connection.query("""
                SELECT event_count, hour_end FROM audit.digest WHERE tenant_id = \(t) AND hour <= \(hour) AND hour_end > \(hour)
                ORDER BY position DESC LIMIT 1
                """).rows.first.map { (try $0.decode(Int.self, at: 0), try $0.decode(Date.self, at: 1)) }
            if cursor < hour {
                let gapCovered = try connection.query("""
                    SELECT count(*) FROM audit.digest WHERE tenant_id = \(t) AND hour <= \(cursor) AND hour_end > \(cursor)
                    """).rows[0].decode(Int.self, at: 0) > 0
                if !gapCovered { try write(hour: cursor, hourEnd: hour, lateSince: nil) }
            }
            if covered.map({ $0.0 != count || $0.1 != hour.addingTimeInterval(3600) }) ?? true {
                try write(hour: hour, hourEnd: hour.addingTimeInterval(3600), lateSince: nil)
            }
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

/// The service's digest key cannot sign: not listed by the schema owner, or retired.
public struct DigestKeyError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
