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
    /// A page (`GET /v1/digests`): the digests after position `after` that cover an hour of
    /// `[from, to)`, in position order, at most `limit`.
    static func page(of tenant: TenantID, from: Date?, to: Date?, after: Int64?, limit: Int,
                     on connection: PostgresConnection) throws -> [StoredDigest] {
        var filter: PostgresQuery = ""
        if let from { filter.append(" AND hour_end > \(from)") }
        if let to { filter.append(" AND hour < \(to)") }
        if let after { filter.append(" AND position > \(after)") }
        filter.append(" ORDER BY position LIMIT \(limit)")
        return try all(of: tenant, filter: filter, on: connection)
    }

    /// When each of `hours` was first sealed (its first digest that is not a checkpoint).
    static func firstSeals(of tenant: TenantID, hours: [Date], on connection: PostgresConnection) throws -> [Date: Date] {
        guard !hours.isEmpty else { return [:] }
        var seals: [Date: Date] = [:]
        for row in try connection.query("""
            SELECT DISTINCT ON (h.hour) h.hour, d.created_at
            FROM unnest(\(hours.map(Timestamp.format))::timestamptz[]) AS h(hour)
            JOIN audit.digest AS d ON d.tenant_id = \(tenant.rawValue) AND d.hour <= h.hour AND d.hour_end > h.hour
                                  AND d.covered_until >= d.hour_end
            ORDER BY h.hour, d.position
            """).rows {
            seals[try row.decode(Date.self, at: 0)] = try row.decode(Date.self, at: 1)
        }
        return seals
    }

    static func all(of tenant: TenantID, newest: Int? = nil, on connection: PostgresConnection) throws -> [StoredDigest] {
        let order: PostgresQuery = newest.map { " ORDER BY position DESC LIMIT \($0)" } ?? " ORDER BY position"
        return try all(of: tenant, filter: order, on: connection)
    }

    /// `filter`: what follows the tenant condition (more conditions, the order, a limit).
    private static func all(of tenant: TenantID, filter: PostgresQuery, on connection: PostgresConnection) throws -> [StoredDigest] {
        var query: PostgresQuery = """
            SELECT hour, hour_end, sequence, position, event_count, late_count, events_sha256, covered_until,
                   coalesce(previous_signature, ''), signature, key_id, format, created_at, retention_removed_at,
                   retention_days, legal_hold, policy_at
            FROM audit.digest WHERE tenant_id = \(tenant.rawValue)
            """
        query.append(filter)
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

    /// The public keys by key id, as a signature check looks them up.
    static func byID(_ keys: [PublishedDigestKey]) -> [String: [UInt8]] {
        Dictionary(keys.map { ($0.keyID, $0.publicKey) }) { first, _ in first }
    }

    /// Every listed key, current and retired, oldest first (`audit.digest_keys()`).
    static func all(on connection: PostgresConnection) throws -> [PublishedDigestKey] {
        try connection.query("SELECT key_id, algorithm, public_key, created_at, retired_at FROM audit.digest_keys()").rows.map {
            PublishedDigestKey(keyID: try $0.decode(String.self, at: 0), algorithm: try $0.decode(String.self, at: 1),
                               publicKey: Crypto.unhex(try $0.decode(String.self, at: 2)) ?? [], createdAt: try $0.decode(Date.self, at: 3),
                               retiredAt: try $0.decode(Date?.self, at: 4))
        }
    }
}
