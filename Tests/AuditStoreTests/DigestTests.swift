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

    /// Nine events of org_v in three closed hours (2, 3 and 5 hours ago), ingested the normal way;
    /// the writer seals with no delay (`AUDITLOG_SEAL_DELAY=0`), so nothing waits.
    init() async throws {
        try await awayFromHourBoundary()  // its hours are counted back from now
        database = try await TestCluster.shared.database("digests")
        try await database.listDigestKey(key)
        try await ingest((0..<9).map { index in
            (id: "h\(index / 3)_\(index % 3)", hoursAgo: [2.0, 3.0, 5.0][index / 3], minute: index % 3)
        })
    }

    func ingest(_ events: [(id: String, hoursAgo: Double, minute: Int)], receivedAt: Date = Date()) async throws {
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
        let writer = DigestWriter(key: key, sealDelay: 0)
        return try await database.asApp { try writer.run(on: $0, now: now) }
    }

    func verify() async throws -> ChainVerifier.Result {
        let verifier = ChainVerifier(legacyKey: tokenKey)
        return try #require(try await database.asApp { try verifier.verify(TenantID("org_v")!, from: nil, to: nil, on: $0) })
    }

    func admin(_ sql: String) async throws {
        try await database.asAdmin { try $0.executeScript(unsafeSQL: sql) }
    }

    /// Runs `sql` as the service role itself, in org_v's context under `role`: what a
    /// compromised service could do with its own database privileges.
    func asService(_ role: String, _ sql: String) async throws {
        try await database.asApp { connection in
            try connection.executeScript(unsafeSQL: """
                BEGIN; SET LOCAL auditlog.tenant = 'org_v'; SET LOCAL auditlog.role = '\(role)'; \(sql); COMMIT
                """)
        }
    }

    /// The start of the hour `hoursAgo` hours before now, as SQL.
    func hourSQL(_ hoursAgo: Int) -> String {
        "'\(Timestamp.format(Timestamp.hourStart(Date().addingTimeInterval(Double(-hoursAgo) * 3600))))'::timestamptz"
    }

    func hourStart(_ hoursAgo: Int) -> Date {
        Timestamp.hourStart(Date().addingTimeInterval(Double(-hoursAgo) * 3600))
    }

    @Test("every closed hour is sealed, empty runs together; a backdated event is a late arrival with a follow-up digest")
    func intact() async throws {
        let written = try await writeDigests()
        var result = try await verify()
        #expect(result.intact, "\(result.findings)")
        #expect(result.events == 9)
        #expect(result.lateArrivals.isEmpty)
        #expect(try await writeDigests() == 0)
        // Three busy hours alone; the empty stretches (from the retention's reach up to 5 hours
        // ago, 4 hours ago, and 1 hour ago up to now) one digest each.
        #expect(written == 6)
        let empty = try await database.asAdmin { connection in
            try connection.query("SELECT count(*), count(*) FILTER (WHERE hour_end > hour + interval '1 hour') FROM audit.digest WHERE event_count = 0").rows
                .map { [try $0.decode(Int.self, at: 0), try $0.decode(Int.self, at: 1)] }
        }
        #expect(empty == [[3, 1]])

        // A backdated event for an hour already sealed: accepted, then a follow-up digest counts it late.
        try await ingest([(id: "late", hoursAgo: 3, minute: 40)])
        #expect(try await writeDigests() == 1)
        let followUp = try await database.asAdmin { connection in
            try connection.query("SELECT sequence, event_count, late_count FROM audit.digest ORDER BY position DESC LIMIT 1").rows.map {
                "\(try $0.decode(Int.self, at: 0)):\(try $0.decode(Int.self, at: 1)):\(try $0.decode(Int.self, at: 2))"
            }
        }
        #expect(followUp == ["1:4:1"])
        result = try await verify()
        #expect(result.intact, "\(result.findings)")
        #expect(result.lateArrivals.map(\.hour) == [hourStart(3)])
        #expect(result.lateArrivals.first?.description.hasPrefix("1 event arrived for \(Timestamp.format(hourStart(3)).prefix(13)):00Z after it was sealed at ") == true)

        // late:true finds exactly that event.
        let store = try await database.store()
        var filter = EventFilter()
        try SearchQuery.apply("late:true", to: &filter)
        let page = try await store.page(filter, after: nil, limit: 50, tenant: TenantID("org_v")!, role: .admin)
        // And through the full-text path (audit.search_events).
        var text = EventFilter()
        try SearchQuery.apply("late:true renamed", to: &text)
        let searched = try await store.page(text, after: nil, limit: 50, tenant: TenantID("org_v")!, role: .admin)
        await store.close()
        #expect(try page.rows.map { try $0.decode(String.self, at: 0) } == ["late"])
        #expect(try searched.rows.map { try $0.decode(String.self, at: 0) } == ["late"])
    }

    @Test("attacks with the service role's own privileges are refused or named by hour")
    func serviceRoleAttacks() async throws {
        _ = try await writeDigests()
        // A future received_at: the column is the database's, the service may not name it.
        await #expect(throws: PostgresError.self) {
            try await asService("publisher", """
                INSERT INTO audit.event (tenant_id, id, occurred_at, received_at, action, category, actor_type, actor_id, message, hash)
                VALUES ('org_v', 'future', \(hourSQL(3)), '2099-01-01', 'a.b', 'a', 'user', 'u', 'm', repeat('f', 64))
                """)
        }
        // An event slipped into a sealed hour and one into a sealed empty hour, with id claims.
        for (id, hours) in [("slipped", 2), ("empty_hour", 4)] {
            try await asService("publisher", """
                INSERT INTO audit.event_id (tenant_id, id, occurred_at, hash) VALUES ('org_v', '\(id)', \(hourSQL(hours)) + interval '7 minutes', repeat('e', 64));
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                VALUES ('org_v', '\(id)', \(hourSQL(hours)) + interval '7 minutes', 'a.b', 'a', 'user', 'u', 'm', repeat('e', 64))
                """)
        }
        // A target row listing an event under a resource it never named.
        try await asService("publisher", """
            INSERT INTO audit.event_target (tenant_id, target_type, target_id, occurred_at, event_id)
            SELECT 'org_v', 'client', 'c_victim', occurred_at, id FROM audit.event WHERE id = 'h1_0'
            """)
        // A digest claiming to cover until 2099, as the maintenance role may append.
        try await asService("maintenance", """
            INSERT INTO audit.digest (tenant_id, hour, hour_end, sequence, position, event_count, late_count, events_sha256,
                covered_until, previous_signature, signature, key_id, format)
            SELECT 'org_v', hour, hour_end, 9, position + 1, 0, 0, repeat('0', 64), '2099-01-01', signature, repeat('a', 128), key_id, 2
            FROM audit.digest ORDER BY position DESC LIMIT 1
            """)
        // The next pass still seals what arrived since, despite the forged covered_until.
        try await ingest([(id: "after_forgery", hoursAgo: 5, minute: 50)])
        #expect(try await writeDigests() >= 1)

        let result = try await verify()
        #expect(!result.intact)
        let text = result.findings.map(\.description)
        let lateHours = Set(result.lateArrivals.map(\.hour))
        #expect(lateHours.isSuperset(of: [hourStart(2), hourStart(4), hourStart(5)]), "\(result.lateArrivals)")
        #expect(text.contains { $0.contains("event slipped was altered") && $0.contains(Timestamp.format(hourStart(2)).prefix(13)) })
        #expect(text.contains { $0.contains("event empty_hour was altered") && $0.contains(Timestamp.format(hourStart(4)).prefix(13)) })
        #expect(text.contains { $0.contains("lists event h1_0 under client/c_victim") && $0.contains(Timestamp.format(hourStart(3)).prefix(13)) })
        #expect(text.contains { $0.contains("has not come yet") })
        #expect(text.contains { $0.contains("signature does not match") })
    }

    @Test("digests are Ed25519-signed under a published key; the token key verifies none of them")
    func publicKeys() async throws {
        #expect(try await writeDigests() == 6)
        let store = try await database.store()
        let keys = try await store.digestKeys()
        await store.close()
        #expect(keys.map(\.keyID) == [key.keyID])
        #expect(keys.first?.publicKey == key.publicKey)
        let digests = try await database.asAdmin { try StoredDigest.all(of: TenantID("org_v")!, on: $0).map(\.digest) }
        #expect(digests.count == 6)
        for digest in digests {
            #expect(digest.keyID == key.keyID)
            #expect(digest.verify(publicKey: try #require(keys.first).publicKey))
            #expect(digest.signature != digest.expectedSignature(key: tokenKey))
            #expect(!digest.verify(publicKey: DigestSigningKey(seed: tokenKey)!.publicKey))
        }
    }

    @Test("an HMAC digest from before digest keys still verifies with the old key, and a digest under an unknown key is named")
    func legacyAndUnknownKeys() async throws {
        #expect(try await writeDigests() == 6)
        // A chain that began before digest keys: an HMAC digest (format 1, one empty hour, no key
        // id) in front of the chain, every later link signed again over the new previous signature.
        var chain = try await database.asAdmin { try StoredDigest.all(of: TenantID("org_v")!, on: $0).map(\.digest) }
        var legacy = chain[0]
        legacy.format = 1
        legacy.hourEnd = legacy.hour
        legacy.hour = legacy.hour.addingTimeInterval(-3600)
        legacy.eventCount = 0
        legacy.eventsSHA256 = Digest.eventsSHA256([])
        legacy.keyID = nil
        legacy.signature = legacy.expectedSignature(key: tokenKey)
        var previous = legacy.signature
        for index in chain.indices {
            chain[index].position += 1
            chain[index].previousSignature = previous
            chain[index].sign(with: key)
            previous = chain[index].signature
        }
        let (rewritten, first) = (chain, legacy)
        try await database.asAdmin { connection in
            try connection.query("UPDATE audit.digest SET position = position + 1000")
            try connection.query("""
                INSERT INTO audit.digest (tenant_id, hour, hour_end, sequence, position, event_count, events_sha256, covered_until,
                    previous_signature, signature, format)
                VALUES ('org_v', \(first.hour), \(first.hourEnd), 0, 1, 0, \(first.eventsSHA256), \(first.coveredUntil), '',
                    \(first.signature), 1)
                """)
            for digest in rewritten {
                try connection.query("""
                    UPDATE audit.digest SET position = \(digest.position), previous_signature = \(digest.previousSignature),
                        signature = \(digest.signature)
                    WHERE position = \(digest.position + 999)
                    """)
            }
        }
        var result = try await verify()
        #expect(result.intact, "\(result.findings)")
        try await admin("UPDATE audit.digest SET key_id = 'ed25519:00000000000000ff' WHERE position = 4")
        result = try await verify()
        #expect(result.findings.contains { $0.description.contains("not a trusted digest key") })
    }

    @Test("tampering is found and named by hour", arguments: [
        ("UPDATE audit.event SET message = 'nothing to see' WHERE id = 'h1_1'", "event h1_1 was altered"),
        ("DELETE FROM audit.event WHERE id = 'h2_0'", "1 event(s) removed"),
        ("""
         INSERT INTO audit.event (tenant_id, id, occurred_at, received_at, action, category, actor_type, actor_id, message, hash)
         SELECT 'org_v', 'forged', occurred_at + interval '1 second', received_at, 'a.b', 'a', 'user', 'u', 'forged', repeat('f', 64)
         FROM audit.event WHERE id = 'h0_0'
         """, "inserted outside the normal path"),
        ("""
         UPDATE audit.event AS e SET occurred_at = s.swapped FROM (
             SELECT id, CASE id WHEN 'h1_0' THEN (SELECT occurred_at FROM audit.event WHERE id = 'h1_2')
                                ELSE (SELECT occurred_at FROM audit.event WHERE id = 'h1_0') END AS swapped
             FROM audit.event WHERE id IN ('h1_0', 'h1_2')) AS s
         WHERE e.id = s.id
         """, "event h1_0 was altered"),
        ("UPDATE audit.digest SET event_count = 2 WHERE position = 2", "was altered: its signature does not match"),
        ("DELETE FROM audit.digest WHERE position = 2", "a digest was removed"),
    ])
    func tampering(_ statement: String, _ expected: String) async throws {
        #expect(try await writeDigests() == 6)
        try await admin(statement)
        let result = try await verify()
        #expect(!result.intact)
        #expect(result.findings.contains { $0.description.contains(expected) && $0.hour != nil }, "\(result.findings)")
    }
}
