import AuditCore
import Foundation
internal import PostgresLibPQ

/// A digest as stored, with when retention removed the events it covers (if it did).
public struct StoredDigest: Sendable {
    public var digest: Digest
    public var retentionRemovedAt: Date?

    /// `tenant`'s chain in position order, inside a transaction for that tenant.
    static func all(of tenant: TenantID, on connection: PostgresConnection) throws -> [StoredDigest] {
        try connection.query("""
            SELECT hour, sequence, position, event_count, events_sha256, covered_until, coalesce(previous_signature, ''),
                   signature, key_id, retention_removed_at
            FROM audit.digest WHERE tenant_id = \(tenant.rawValue) ORDER BY position
            """).rows.map { row in
            StoredDigest(
                digest: Digest(
                    tenant: tenant.rawValue, hour: try row.decode(Date.self, at: 0), sequence: try row.decode(Int.self, at: 1),
                    position: try row.decode(Int64.self, at: 2), eventCount: try row.decode(Int.self, at: 3),
                    eventsSHA256: try row.decode(String.self, at: 4), coveredUntil: try row.decode(Date.self, at: 5),
                    previousSignature: try row.decode(String.self, at: 6), signature: try row.decode(String.self, at: 7),
                    keyID: try row.decode(String?.self, at: 8)),
                retentionRemovedAt: try row.decode(Date?.self, at: 9))
        }
    }
}

/// A public key of the digest chain, as `GET /v1/digests/keys` lists it.
public struct PublishedDigestKey: Sendable, Equatable {
    public var keyID: String
    public var algorithm: String
    public var publicKey: [UInt8]
    public var createdAt: Date

    /// Every key that ever signed a digest, oldest first (`audit.digest_keys()`).
    static func all(on connection: PostgresConnection) throws -> [PublishedDigestKey] {
        try connection.query("SELECT key_id, algorithm, public_key, created_at FROM audit.digest_keys()").rows.map {
            PublishedDigestKey(keyID: try $0.decode(String.self, at: 0), algorithm: try $0.decode(String.self, at: 1),
                               publicKey: Crypto.unhex(try $0.decode(String.self, at: 2)) ?? [], createdAt: try $0.decode(Date.self, at: 3))
        }
    }
}
