import AuditCore
import Foundation
internal import PostgresLibPQ

/// A publisher API key as the service knows it after authentication (never the key itself).
public struct PublisherKey: Sendable, Hashable {
    public var id: Int64
    public var name: String
    /// When set, the key may only write and read this tenant.
    public var tenant: TenantID?

    public func allows(_ tenant: TenantID) -> Bool {
        self.tenant == nil || self.tenant == tenant
    }
}

/// Making, recognising and storing publisher keys: `alk_` + 32 random bytes in URL-safe
/// base64; only the SHA-256 of the whole key is kept.
public enum PublisherKeys {
    public static let prefix = "alk_"

    public static func generate() -> String {
        prefix + Crypto.base64URL(Crypto.randomBytes(32))
    }

    /// The shape of a key, checked before any database work.
    public static func isWellFormed(_ key: String) -> Bool {
        guard key.hasPrefix(prefix), key.utf8.count == prefix.utf8.count + 43 else { return false }
        return key.utf8.dropFirst(prefix.utf8.count).allSatisfy { byte in
            (65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
        }
    }

    public static func hash(_ key: String) -> [UInt8] {
        Crypto.sha256(Array(key.utf8))
    }

    /// Stores a new key (as the schema owner) and returns its text, which is shown once.
    static func create(name: String, tenant: TenantID?, adminConninfo: String) throws -> (key: String, record: PublisherKey) {
        let connection = try PostgresConnection(conninfo: adminConninfo)
        return try connection.withTransaction { try insert(name: name, tenant: tenant, change: "created", detail: "", on: $0) }
    }

    private static func insert(name: String, tenant: TenantID?, change: String, detail: String,
                               on connection: PostgresConnection) throws -> (key: String, record: PublisherKey) {
        let key = generate()
        let id = try connection.query("""
            INSERT INTO audit.api_key (name, key_hash, key_prefix, tenant_id)
            VALUES (\(name), \(Data(hash(key))), \(String(key.prefix(12))), \(tenant?.rawValue))
            RETURNING id
            """).rows[0].decode(Int64.self, at: 0)
        try record(id, change, detail: detail, on: connection)
        return (key, PublisherKey(id: id, name: name, tenant: tenant))
    }

    private static func record(_ id: Int64, _ change: String, detail: String, on connection: PostgresConnection) throws {
        try connection.query("INSERT INTO audit.api_key_change (key_id, change, detail) VALUES (\(id), \(change), \(detail))")
    }

    /// Every key, oldest first (never a secret: only the first characters of each).
    static func list(adminConninfo: String) throws -> [PublisherKeyRecord] {
        let connection = try PostgresConnection(conninfo: adminConninfo)
        return try connection.query("""
            SELECT id, name, tenant_id, key_prefix, created_at, last_used_at, revoked_at, expires_at, replaced_by
            FROM audit.api_key ORDER BY id
            """).rows.map { row in
            PublisherKeyRecord(id: try row.decode(Int64.self, at: 0), name: try row.decode(String.self, at: 1),
                               tenant: try row.decode(String?.self, at: 2), prefix: try row.decode(String.self, at: 3),
                               createdAt: try row.decode(Date.self, at: 4), lastUsedAt: try row.decode(Date?.self, at: 5),
                               revokedAt: try row.decode(Date?.self, at: 6), expiresAt: try row.decode(Date?.self, at: 7),
                               replacedBy: try row.decode(Int64?.self, at: 8))
        }
    }

    /// Revokes key `id` at once; nil when there is no such key. Revoking a revoked key changes nothing.
    static func revoke(id: Int64, adminConninfo: String) throws -> PublisherKeyRecord? {
        let connection = try PostgresConnection(conninfo: adminConninfo)
        try connection.withTransaction { connection in
            let revoked = try connection.query("""
                UPDATE audit.api_key SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL RETURNING id
                """).rows.count
            if revoked > 0 { try record(id, "revoked", detail: "", on: connection) }
        }
        return try list(adminConninfo: adminConninfo).first { $0.id == id }
    }

    /// A new key with key `id`'s name and tenant; the old one keeps working for `grace` seconds,
    /// then is refused. Nil when there is no such key, or it is revoked or already expired.
    static func rotate(id: Int64, grace: Int, adminConninfo: String) throws -> (key: String, record: PublisherKey, old: PublisherKeyRecord)? {
        let connection = try PostgresConnection(conninfo: adminConninfo)
        let made = try connection.withTransaction { connection -> (key: String, record: PublisherKey)? in
            guard let row = try connection.query("""
                SELECT name, tenant_id FROM audit.api_key
                WHERE id = \(id) AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) FOR UPDATE
                """).rows.first else { return nil }
            let tenant = try row.decode(String?.self, at: 1).flatMap(TenantID.init)
            let made = try insert(name: try row.decode(String.self, at: 0), tenant: tenant, change: "created",
                                  detail: "rotated from key \(id)", on: connection)
            try connection.query("""
                UPDATE audit.api_key SET expires_at = now() + make_interval(secs => \(Double(grace))), replaced_by = \(made.record.id)
                WHERE id = \(id)
                """)
            try record(id, "rotated", detail: "replaced by key \(made.record.id); refused after \(grace) s", on: connection)
            return made
        }
        guard let made, let old = try list(adminConninfo: adminConninfo).first(where: { $0.id == id }) else { return nil }
        return (made.key, made.record, old)
    }
}

/// A publisher key as `auditlog keys list` shows it.
public struct PublisherKeyRecord: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var tenant: String?
    /// The key's first 12 characters (`alk_` and 8 more), to tell keys apart.
    public var prefix: String
    public var createdAt: Date
    public var lastUsedAt: Date?
    public var revokedAt: Date?
    /// A rotated key works until then.
    public var expiresAt: Date?
    public var replacedBy: Int64?

    /// `active`, `revoked`, `expires …` or `expired`, as of `now`.
    public func state(at now: Date) -> String {
        if revokedAt != nil { return "revoked" }
        if let expiresAt { return expiresAt > now ? "expires" : "expired" }
        return "active"
    }
}

/// Looks presented keys up through `audit.authenticate_api_key`, remembering answers for two
/// seconds so that single-event ingest does not pay a round trip per request. Concurrent
/// requests with the same key share one lookup.
public actor PublisherKeyAuthenticator {
    let pool: ConnectionPool
    nonisolated let cacheLifetime: TimeInterval
    private var cache: [[UInt8]: (lookup: Task<PublisherKey?, any Error>, expires: Date)] = [:]

    /// Two seconds: a revoked key, or a rotated one past its grace, is refused within that on every
    /// replica, while concurrent single-event requests still share one lookup per key.
    init(pool: ConnectionPool, cacheLifetime: TimeInterval = 2) {
        self.pool = pool
        self.cacheLifetime = cacheLifetime
    }

    /// The key's record, or nil when the text is not a valid, unrevoked key.
    public func authenticate(_ presented: String) async throws -> PublisherKey? {
        guard PublisherKeys.isWellFormed(presented) else { return nil }
        let digest = PublisherKeys.hash(presented)
        if let cached = cache[digest], cached.expires > Date() { return try await cached.lookup.value }
        let pool = self.pool
        let lookup = Task {
            try await mappingErrors { try await pool.withConnection { connection -> PublisherKey? in
                let rows = try connection.query("SELECT key_id, key_name, key_tenant FROM audit.authenticate_api_key(\(Data(digest)))").rows
                guard let row = rows.first else { return nil }
                let tenant = try row.decode(String?.self, at: 2).flatMap(TenantID.init)
                return PublisherKey(id: try row.decode(Int64.self, at: 0), name: try row.decode(String.self, at: 1), tenant: tenant)
            } }
        }
        if cache.count > 10_000 { cache.removeAll() }
        cache[digest] = (lookup, Date().addingTimeInterval(cacheLifetime))
        do {
            return try await lookup.value
        } catch {
            cache[digest] = nil  // a database hiccup is not remembered
            throw error
        }
    }
}
