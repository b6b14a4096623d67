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
        let key = generate()
        let connection = try PostgresConnection(conninfo: adminConninfo)
        let row = try connection.query("""
            INSERT INTO audit.api_key (name, key_hash, key_prefix, tenant_id)
            VALUES (\(name), \(Data(hash(key))), \(String(key.prefix(12))), \(tenant?.rawValue))
            RETURNING id
            """).rows[0]
        return (key, PublisherKey(id: try row.decode(Int64.self, at: 0), name: name, tenant: tenant))
    }
}

/// Looks presented keys up through `audit.authenticate_api_key`, remembering answers for a
/// minute so that single-event ingest does not pay a round trip per request. Concurrent
/// requests with the same key share one lookup.
public actor PublisherKeyAuthenticator {
    let pool: ConnectionPool
    let cacheLifetime: TimeInterval
    private var cache: [[UInt8]: (lookup: Task<PublisherKey?, any Error>, expires: Date)] = [:]

    init(pool: ConnectionPool, cacheLifetime: TimeInterval = 60) {
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
