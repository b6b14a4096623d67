import AuditCore
@testable import AuditStore
import Foundation
import PostgresLibPQ
import Testing
import TestSupport

/// A publisher key's life: created, listed (never its secret), used, rotated with a grace,
/// revoked; every step recorded, and none of it reachable by the service role.
@Suite("publisher keys: list, revoke and rotate as the owner; refused by every replica once revoked or past their grace")
struct PublisherKeyTests {
    let database: TestDatabase

    init() async throws {
        database = try await TestCluster.shared.database("publisher_keys")
    }

    /// A lookup as a second replica makes it: its own pool, no cache.
    func authenticate(_ key: String) async throws -> PublisherKey? {
        let pool = database.appPool(size: 1)
        let fresh = PublisherKeyAuthenticator(pool: pool, cacheLifetime: 0)
        defer { Task { await pool.close() } }
        return try await fresh.authenticate(key)
    }

    @Test("a revoked key is refused by a replica that had it cached once its cache lifetime passes, and by a fresh one at once")
    func revoke() async throws {
        let admin = database.adminConninfo
        let created = try PublisherKeys.create(name: "billing backend", tenant: TenantID("org_k"), adminConninfo: admin)
        let store = try await database.store()
        #expect(try await store.keys.authenticate(created.key)?.id == created.record.id)
        #expect(store.keys.cacheLifetime <= 5, "a revoked key must be refused within 5 s on every replica")

        let revoked = try #require(try PublisherKeys.revoke(id: created.record.id, adminConninfo: admin))
        #expect(revoked.revokedAt != nil)
        #expect(try await authenticate(created.key) == nil)
        await store.close()
        #expect(try PublisherKeys.revoke(id: 999_999, adminConninfo: admin) == nil)

        let listed = try PublisherKeys.list(adminConninfo: admin).first { $0.id == created.record.id }
        #expect(listed?.lastUsedAt != nil)
        #expect(listed?.tenant == "org_k")
        #expect(listed?.prefix == String(created.key.prefix(12)))
        #expect(listed?.state(at: Date()) == "revoked")
    }

    @Test("a rotated key works for its grace, then is refused; the new one works; each step is recorded")
    func rotate() async throws {
        let admin = database.adminConninfo
        let created = try PublisherKeys.create(name: "sync worker", tenant: nil, adminConninfo: admin)
        let kept = try #require(try PublisherKeys.rotate(id: created.record.id, grace: 3600, adminConninfo: admin))
        #expect(kept.record.name == "sync worker" && kept.record.tenant == nil)
        #expect(try await authenticate(created.key)?.id == created.record.id)
        #expect(try await authenticate(kept.key)?.id == kept.record.id)
        #expect(kept.old.replacedBy == kept.record.id)

        let ended = try #require(try PublisherKeys.rotate(id: kept.record.id, grace: 0, adminConninfo: admin))
        #expect(try await authenticate(kept.key) == nil)
        #expect(try await authenticate(ended.key)?.id == ended.record.id)
        #expect(try PublisherKeys.rotate(id: kept.record.id, grace: 60, adminConninfo: admin) == nil)  // expired: nothing to rotate

        let changes = try await database.asAdmin { connection in
            try connection.query("""
                SELECT key_id, change FROM audit.api_key_change WHERE key_id = ANY(\([created.record.id, kept.record.id, ended.record.id].map(String.init))::bigint[])
                ORDER BY made_at
                """).rows.map { "\(try $0.decode(Int64.self, at: 0)) \(try $0.decode(String.self, at: 1))" }
        }
        #expect(changes == ["\(created.record.id) created", "\(kept.record.id) created", "\(created.record.id) rotated",
                            "\(ended.record.id) created", "\(kept.record.id) rotated"])
    }

    @Test("the service role cannot read the keys or their changes, revoke, un-revoke or extend a key")
    func serviceRoleRefused() async throws {
        let created = try PublisherKeys.create(name: "victim", tenant: nil, adminConninfo: database.adminConninfo)
        _ = try PublisherKeys.revoke(id: created.record.id, adminConninfo: database.adminConninfo)
        for sql in [
            "SELECT count(*) FROM audit.api_key_change",
            "DELETE FROM audit.api_key_change",
            "UPDATE audit.api_key SET revoked_at = NULL",
            "UPDATE audit.api_key SET expires_at = NULL",
            "INSERT INTO audit.api_key_change (key_id, change) VALUES (1, 'created')",
        ] {
            let outcome: String
            do {
                let result = try await database.asApp { try $0.query(PostgresQuery(unsafeSQL: sql)) }
                outcome = "rows \(result.rows.first.map { (try? $0.decode(Int.self, at: 0)) ?? -1 } ?? 0) affected \(result.affectedRows)"
            } catch let error as PostgresError {
                outcome = error.sqlState ?? "?"
            }
            #expect(outcome == "42501", "\(sql): \(outcome)")
        }
        #expect(try await authenticate(created.key) == nil)
    }
}
