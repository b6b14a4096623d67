import AuditCore
import Foundation
internal import PostgresLibPQ

/// A digest as stored, with when it was written and when retention removed the events it
/// covers (if it did).
public struct StoredDigest: Sendable {
    public var link: ChainCheck.Link {
        ChainCheck.Link(digest: digest, sealedAt: createdAt, retentionRemovedAt: retentionRemovedAt)
    }

    public var digest: Digest
    public var createdAt: Date
    public var retentionRemovedAt: Date?

    /// `tenant`'s chain in position order, inside a transaction for that tenant.
    /// With `newest`, only that many of the latest, newest first.
    static func all(of tenant: TenantID, newest: Int? = nil, on connection: PostgresConnection) throws -> [StoredDigest] {
        var query: PostgresQuery = """
            SELECT hour, hour_end, sequence, position, event_count, late_count, events_sha256, covered_until,
                   coalesce(previous_signature, ''), signature, key_id, format, created_at, retention_removed_at,
                   retention_days, legal_hold, policy_at
            FROM audit.digest WHERE tenant_id = \(tenant.rawValue)
            """
        if let newest { query.append(" ORDER BY position DESC LIMIT \(newest)") } else { query.append(" ORDER BY position") }
        return try connection.query(query).rows.map { row in
            var retention: Digest.RetentionPolicy?
            if let days = try row.decode(Int?.self, at: 14), let held = try row.decode(Bool?.self, at: 15),
               let at = try row.decode(Date?.self, at: 16) {
                retention = Digest.RetentionPolicy(days: days, legalHold: held, at: at)
            }
            return StoredDigest(
                digest: Digest(
                    tenant: tenant.rawValue, hour: try row.decode(Date.self, at: 0), hourEnd: try row.decode(Date.self, at: 1),
                    sequence: try row.decode(Int.self, at: 2), position: try row.decode(Int64.self, at: 3),
                    eventCount: try row.decode(Int.self, at: 4), lateCount: try row.decode(Int.self, at: 5),
                    eventsSHA256: try row.decode(String.self, at: 6), coveredUntil: try row.decode(Date.self, at: 7),
                    previousSignature: try row.decode(String.self, at: 8), signature: try row.decode(String.self, at: 9),
                    keyID: try row.decode(String?.self, at: 10), format: try row.decode(Int.self, at: 11),
                    retention: retention),
                createdAt: try row.decode(Date.self, at: 12),
                retentionRemovedAt: try row.decode(Date?.self, at: 13))
        }
    }
}

/// A public key of the digest chain, as `GET /v1/digests/keys` lists it.
public struct PublishedDigestKey: Sendable, Equatable {
    public var keyID: String
    public var algorithm: String
    public var publicKey: [UInt8]
    public var createdAt: Date
    /// When a rotation replaced it: its digests stay verifiable, but nothing new is signed with it.
    public var retiredAt: Date?

    /// Every listed key, current and retired, oldest first (`audit.digest_keys()`).
    static func all(on connection: PostgresConnection) throws -> [PublishedDigestKey] {
        try connection.query("SELECT key_id, algorithm, public_key, created_at, retired_at FROM audit.digest_keys()").rows.map {
            PublishedDigestKey(keyID: try $0.decode(String.self, at: 0), algorithm: try $0.decode(String.self, at: 1),
                               publicKey: Crypto.unhex(try $0.decode(String.self, at: 2)) ?? [], createdAt: try $0.decode(Date.self, at: 3),
                               retiredAt: try $0.decode(Date?.self, at: 4))
        }
    }
}
