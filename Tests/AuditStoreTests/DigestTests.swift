import AuditCore
@testable import AuditStore
import Foundation
import PostgresLibPQ
import Testing
import TestSupport

@Suite("the digest chain and verify: intact, and every kind of tampering named by hour")
struct DigestTests {
    let database: TestDatabase
    let key = DigestSigningKey(seed: Array(repeating: UInt8(3), count: 32))!
    /// The token key of the tests: it must check nothing.
    let tokenKey = Array(repeating: UInt8(7), count: 32)

    /// Nine events of org_v in three closed hours (2, 3 and 5 hours ago), ingested the normal way
    /// and received 10 minutes ago, so the digests' 5-minute grace has passed for them.
    init() async throws {
        database = try await TestCluster.shared.database("digests")
        try await ingest((0..<9).map { index in
            (id: "h\(index / 3)_\(index % 3)", hoursAgo: [2.0, 3.0, 5.0][index / 3], minute: index % 3)
        }, receivedAt: Date().addingTimeInterval(-600))
    }

    func ingest(_ events: [(id: String, hoursAgo: Double, minute: Int)], receivedAt: Date) async throws {
        let validator = EventValidator(now: Date(), retentionDays: 90, redactor: Redactor())
        let stored = try events.map { event in
            let occurred = Date(timeIntervalSince1970: ((Date().timeIntervalSince1970 - event.hoursAgo * 3600) / 3600).rounded(.down) * 3600
                + Double(event.minute * 60 + 30))
            let draft = try validator.validate(.object([
                "tenant": .string("org_v"), "id": .string(event.id), "occurred_at": .string(Timestamp.format(occurred)),
                "action": .string("client.renamed"), "actor": .object(["id": .string("u_1"), "name": .string("Al")]),
                "before": .object(["n": .number(1)]), "after": .object(["n": .number(2.5)]),
            ]), index: 0).get()
            return StoredEvent(draft: draft, receivedAt: receivedAt, message: "Al renamed a client")
        }
        let pool = database.appPool(size: 1)
        _ = try await EventIngestor(pool: pool, writers: 1).ingest(stored)
        await pool.close()
    }

    func writeDigests(at now: Date = Date()) async throws -> Int {
        let writer = DigestWriter(key: key)
        return try await database.asApp { try writer.run(on: $0, now: now) }
    }

    func verify() async throws -> ChainVerifier.Result {
        let verifier = ChainVerifier(legacyKey: tokenKey)
        return try await database.asApp { try verifier.verify(TenantID("org_v")!, from: nil, to: nil, on: $0) }
    }

    func admin(_ sql: String) async throws {
        try await database.asAdmin { try $0.executeScript(unsafeSQL: sql) }
    }

    @Test("an untouched tenant verifies intact; late events get a follow-up digest, never a rewrite")
    func intact() async throws {
        #expect(try await writeDigests() == 3)
        var result = try await verify()
        #expect(result.intact)
        #expect(result.digests == 3)
        #expect(result.events == 9)
        #expect(try await writeDigests() == 0)

        // Received after the first digests' cut-off, for an hour they already cover.
        try await ingest([(id: "late", hoursAgo: 3, minute: 40)], receivedAt: Date().addingTimeInterval(-200))
        #expect(try await writeDigests(at: Date().addingTimeInterval(600)) == 1)
        let sequences = try await database.asAdmin { connection in
            try connection.query("SELECT sequence, event_count FROM audit.digest ORDER BY position").rows.map {
                "\(try $0.decode(Int.self, at: 0)):\(try $0.decode(Int.self, at: 1))"
            }
        }
        #expect(sequences.sorted() == ["0:3", "0:3", "0:3", "1:4"])
        result = try await verify()
        #expect(result.intact)
        #expect(result.digests == 4)
    }

    @Test("digests are Ed25519-signed under a published key; the token key verifies none of them")
    func publicKeys() async throws {
        #expect(try await writeDigests() == 3)
        let store = try await database.store()
        let keys = try await store.digestKeys()
        await store.close()
        #expect(keys.map(\.keyID) == [key.keyID])
        #expect(keys.first?.publicKey == key.publicKey)
        let digests = try await database.asAdmin { try StoredDigest.all(of: TenantID("org_v")!, on: $0).map(\.digest) }
        #expect(digests.count == 3)
        for digest in digests {
            #expect(digest.keyID == key.keyID)
            #expect(digest.verify(publicKey: try #require(keys.first).publicKey))
            #expect(digest.signature != digest.expectedSignature(key: tokenKey))
            #expect(!digest.verify(publicKey: DigestSigningKey(seed: tokenKey)!.publicKey))
        }
    }

    @Test("an HMAC digest from before digest keys still verifies with the old key, and a digest under an unknown key is named")
    func legacyAndUnknownKeys() async throws {
        #expect(try await writeDigests() == 3)
        // Position 1 re-signed as the earlier versions did (HMAC, no key id), the later ones signed
        // again over the new links: a chain that began before digest keys existed.
        let chain = try await database.asAdmin { try StoredDigest.all(of: TenantID("org_v")!, on: $0).map(\.digest) }
        var previous = ""
        for position in 1...3 {
            var digest = chain[position - 1]
            digest.previousSignature = previous
            if position == 1 {
                digest.signature = digest.expectedSignature(key: tokenKey)
                digest.keyID = nil
            } else {
                digest.sign(with: key)
            }
            let (signature, keyID, link) = (digest.signature, digest.keyID, previous)
            try await database.asAdmin { connection in
                try connection.query("""
                    UPDATE audit.digest SET signature = \(signature), key_id = \(keyID), previous_signature = \(link)
                    WHERE position = \(position)
                    """)
            }
            previous = signature
        }
        var result = try await verify()
        #expect(result.intact, "\(result.findings)")
        try await admin("UPDATE audit.digest SET key_id = 'ed25519:00000000000000ff' WHERE position = 3")
        result = try await verify()
        #expect(result.findings.contains { $0.description.contains("not a published digest key") })
    }

    @Test("tampering is found and named by hour", arguments: [
        ("UPDATE audit.event SET message = 'nothing to see' WHERE id = 'h1_1'", "event h1_1 was altered"),
        ("DELETE FROM audit.event WHERE id = 'h2_0'", "1 event(s) removed"),
        ("""
         INSERT INTO audit.event (tenant_id, id, occurred_at, received_at, action, category, actor_type, actor_id, message, hash)
         SELECT 'org_v', 'forged', occurred_at + interval '1 second', received_at, 'a.b', 'a', 'user', 'u', 'forged', repeat('f', 64)
         FROM audit.event WHERE id = 'h0_0'
         """, "inserted outside the normal path"),
        ("UPDATE audit.digest SET event_count = 2 WHERE position = 2", "was altered: its signature does not match"),
        ("DELETE FROM audit.digest WHERE position = 2", "a digest was removed"),
    ])
    func tampering(_ statement: String, _ expected: String) async throws {
        #expect(try await writeDigests() == 3)
        try await admin(statement)
        let result = try await verify()
        #expect(!result.intact)
        #expect(result.findings.contains { $0.description.contains(expected) && $0.hour != nil }, "\(result.findings)")
    }
}
