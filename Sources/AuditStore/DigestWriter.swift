import AuditCore
import Foundation
import Logging
internal import PostgresLibPQ

/// Appends digests for closed hours to each tenant's chain (part of the maintenance pass).
///
/// An hour is closed once it ended more than `grace` ago; only events received before
/// `now - grace` are covered, so a transaction still committing cannot slip in unseen.
public struct DigestWriter: Sendable {
    public static let grace: TimeInterval = 300
    let key: DigestSigningKey
    var engine: DatabaseEngine = .postgres

    public init(key: DigestSigningKey) {
        self.key = key
    }

    /// Writes the digests due at `now` for every tenant; returns how many it wrote. The signing
    /// key's public half is listed in `audit.digest_key` first, so every digest's key is known.
    func run(on connection: PostgresConnection, now: Date = Date()) throws -> Int {
        try connection.query("SELECT audit.register_digest_key(\(key.keyID), \(Crypto.hex(key.publicKey)))")
        let tenants = try connection.query("SELECT * FROM audit.tenant_ids()").rows.map { try $0.decode(String.self, at: 0) }
        var written = 0
        for raw in tenants {
            guard let tenant = TenantID(raw) else { continue }
            written += try engine.withTenantTransaction(tenant, roleName: AuditDatabase.maintenanceRole, on: connection) {
                try append(tenant, on: $0, now: now)
            }
        }
        return written
    }

    func append(_ tenant: TenantID, on connection: PostgresConnection, now: Date) throws -> Int {
        let watermark = Timestamp.truncatedToMicroseconds(now.addingTimeInterval(-Self.grace))
        let closedBefore = Timestamp.hourStart(watermark)
        var last = try connection.query("""
            SELECT position, signature, covered_until FROM audit.digest
            WHERE tenant_id = \(tenant.rawValue) ORDER BY position DESC LIMIT 1
            """).rows.first.map { (try $0.decode(Int64.self, at: 0), try $0.decode(String.self, at: 1), try $0.decode(Date.self, at: 2)) }
        let since = last?.2 ?? Date(timeIntervalSince1970: 0)
        let lastClosedBefore = Timestamp.hourStart(since)
        // Hours with events received since the last digest, and hours that were still open then.
        let hours = try connection.query("""
            SELECT DISTINCT date_trunc('hour', occurred_at) FROM audit.event
            WHERE tenant_id = \(tenant.rawValue) AND received_at < \(watermark) AND occurred_at < \(closedBefore)
              AND (received_at >= \(since) OR occurred_at >= \(lastClosedBefore))
            ORDER BY 1
            """).rows.map { try $0.decode(Date.self, at: 0) }
        for hour in hours {
            let hashes = try connection.query("""
                SELECT hash FROM audit.event
                WHERE tenant_id = \(tenant.rawValue) AND occurred_at >= \(hour)
                  AND occurred_at < \(hour.addingTimeInterval(3600)) AND received_at < \(watermark)
                ORDER BY occurred_at, id
                """).rows.map { try $0.decode(String.self, at: 0) }
            let sequence = try connection.query("""
                SELECT coalesce(max(sequence) + 1, 0) FROM audit.digest
                WHERE tenant_id = \(tenant.rawValue) AND hour = \(hour)
                """).rows[0].decode(Int.self, at: 0)
            var digest = Digest(tenant: tenant.rawValue, hour: hour, sequence: sequence, position: (last?.0 ?? 0) + 1,
                                eventCount: hashes.count, eventsSHA256: Digest.eventsSHA256(hashes),
                                coveredUntil: watermark, previousSignature: last?.1 ?? "")
            digest.sign(with: key)
            try connection.query("""
                INSERT INTO audit.digest (tenant_id, hour, sequence, position, event_count, events_sha256, covered_until,
                    previous_signature, signature, key_id)
                VALUES (\(tenant.rawValue), \(hour), \(sequence), \(digest.position), \(hashes.count), \(digest.eventsSHA256),
                    \(watermark), \(digest.previousSignature), \(digest.signature), \(digest.keyID))
                """)
            last = (digest.position, digest.signature, watermark)
        }
        return hours.count
    }
}
