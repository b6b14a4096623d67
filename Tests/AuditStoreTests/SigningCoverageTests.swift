import AuditCore
@testable import AuditStore
import Foundation
import PostgresLibPQ
import Testing
import TestSupport

/// What verify may call intact: only what a signature covers. Events of the open hour, late
/// arrivals not yet in a follow-up and tenants without a settings row are reported, never passed.
@Suite("verify says exactly what it proved: unsigned events, checkpoints, tenants without settings, listed keys")
struct SigningCoverageTests {
    let database: TestDatabase
    let key = DigestSigningKey(seed: Array(repeating: UInt8(11), count: 32))!

    init() async throws {
        try await awayFromHourBoundary()  // the open hour must stay open during the test
        database = try await TestCluster.shared.database("signing_coverage")
        try await database.listDigestKey(key)
    }

    func ingest(_ tenant: String, _ ids: [String], hoursAgo: Double) async throws {
        let validator = EventValidator(now: Date(), retentionDays: 90, redactor: Redactor())
        let base = Timestamp.hourStart(Date().addingTimeInterval(-hoursAgo * 3600))
        let stored = try ids.enumerated().map { index, id in
            let draft = try validator.validate(.object([
                "tenant": .string(tenant), "id": .string(id),
                "occurred_at": .string(Timestamp.format(min(Date().addingTimeInterval(-5), base.addingTimeInterval(Double(index + 1))))),
                "action": .string("user.invited"), "actor": .object(["id": .string("u_1")]),
            ]), index: 0).get()
            return StoredEvent(draft: draft, receivedAt: Date(), message: "invited")
        }
        let pool = database.appPool(size: 1)
        _ = try await EventIngestor(pool: pool, writers: 1).ingest(stored)
        await pool.close()
    }

    func seal(delay: TimeInterval = 0) async throws -> Int {
        let writer = DigestWriter(key: key, sealDelay: delay)
        return try await database.asApp { try writer.run(on: $0) }
    }

    func verify(_ tenant: String) async throws -> ChainVerifier.Result? {
        try await database.asApp { try ChainVerifier(legacyKey: nil).verify(TenantID(tenant)!, from: nil, to: nil, on: $0) }
    }

    @Test("events of the open hour are not yet signed (exit 3, named by hour); a checkpoint signs them (exit 0)")
    func openHour() async throws {
        try await ingest("org_open", ["closed_1", "closed_2"], hoursAgo: 2)
        try await ingest("org_open", ["open_1", "open_2", "open_3"], hoursAgo: 0)
        _ = try await seal()
        var result = try #require(try await verify("org_open"))
        #expect(result.intact, "\(result.findings)")
        #expect(result.unsigned == [Timestamp.hourStart(Date()): 3])
        #expect(result.exitCode == 3)
        #expect(result.unsignedLines == ["hour \(Timestamp.format(Timestamp.hourStart(Date())).prefix(13)):00Z: 3 event(s) not yet covered by any digest"])

        let writer = DigestWriter(key: key, sealDelay: 300)
        let signedUntil = try await database.asApp { try writer.checkpoint(TenantID("org_open")!, on: $0) }
        result = try #require(try await verify("org_open"))
        #expect(result.exitCode == 0, "\(result.findings) \(result.unsigned)")
        #expect(result.events == 5)
        #expect(signedUntil <= Date().addingTimeInterval(1))

        // An event after the checkpoint is not yet signed again.
        try await ingest("org_open", ["open_4"], hoursAgo: 0)
        #expect(try await verify("org_open")?.exitCode == 3)
    }

    @Test("an hour checkpointed while open is sealed in full once it closes, and nothing in it reads as late")
    func checkpointThenClose() async throws {
        // Hour -2 as it was while open: two events received 10 minutes in, a checkpoint at 20, a
        // third event at 30 (received_at set by the owner to replay that time).
        let hour = Timestamp.hourStart(Date().addingTimeInterval(-2 * 3600))
        try await ingest("org_close", ["c1", "c2"], hoursAgo: 2)
        try await database.asAdmin { try $0.query("UPDATE audit.event SET received_at = \(hour.addingTimeInterval(600)) WHERE tenant_id = 'org_close'") }
        let writer = DigestWriter(key: key, sealDelay: 0)
        let tenant = TenantID("org_close")!
        _ = try await database.asApp { connection in
            let keys = try writer.trustedKeys(on: connection)
            return try DatabaseEngine.postgres.withTenantTransaction(tenant, roleName: AuditDatabase.maintenanceRole, on: connection) {
                try writer.append(tenant, origin: nil, keys: keys, on: $0, now: hour.addingTimeInterval(1200), checkpoint: true)
            }
        }
        let checkpoint = try await database.asAdmin {
            try $0.query("SELECT covered_until < hour_end FROM audit.digest WHERE tenant_id = 'org_close' AND hour = \(hour)")
                .rows.map { try $0.decode(Bool.self, at: 0) }
        }
        #expect(checkpoint == [true])
        try await ingest("org_close", ["c3"], hoursAgo: 2)
        try await database.asAdmin {
            try $0.query("UPDATE audit.event SET received_at = \(hour.addingTimeInterval(1800)) WHERE tenant_id = 'org_close' AND id = 'c3'")
        }
        _ = try await seal()
        let result = try #require(try await verify("org_close"))
        #expect(result.exitCode == 0, "\(result.findings) \(result.unsigned)")
        #expect(result.events == 3)
        #expect(result.lateArrivals.isEmpty, "\(result.lateArrivals)")
    }

    @Test("a tenant whose settings row is gone is sealed all the same")
    func tenantWithoutSettings() async throws {
        try await ingest("org_norow", ["a", "b"], hoursAgo: 2)
        try await database.asAdmin { try $0.query("DELETE FROM audit.tenant WHERE tenant_id = 'org_norow'") }
        _ = try await seal()
        let digests = try await database.asAdmin {
            try $0.query("SELECT count(*) FROM audit.digest WHERE tenant_id = 'org_norow'").rows[0].decode(Int.self, at: 0)
        }
        #expect(digests > 0)
        let result = try #require(try await verify("org_norow"))
        #expect(result.unsigned.isEmpty)
        #expect(result.exitCode == 0, "\(result.findings)")
    }

    @Test("verify of a tenant the database does not know answers nil (exit 1), not intact")
    func unknownTenant() async throws {
        #expect(try await verify("org_typo") == nil)
    }

    @Test("the service role cannot list a digest key, and a writer with an unlisted key signs nothing")
    func keysOnlyByOwner() async throws {
        let rogue = DigestSigningKey(seed: Array(repeating: UInt8(12), count: 32))!
        for sql in [
            "SELECT audit.register_digest_key('\(rogue.keyID)', '\(Crypto.hex(rogue.publicKey))', false)",
            "INSERT INTO audit.digest_key (key_id, public_key) VALUES ('\(rogue.keyID)', '\(Crypto.hex(rogue.publicKey))')",
            "UPDATE audit.digest_key SET retired_at = now()",
        ] {
            let error = await #expect(throws: PostgresError.self) { try await database.asApp { try $0.query(PostgresQuery(unsafeSQL: sql)) } }
            #expect(error?.sqlState == "42501", "\(sql): \(String(describing: error))")
        }
        try await ingest("org_rogue", ["x"], hoursAgo: 2)
        let writer = DigestWriter(key: rogue, sealDelay: 0)
        let refused = await #expect(throws: DigestKeyError.self) { try await database.asApp { try writer.run(on: $0) } }
        #expect(refused?.message.contains("not listed") == true)
        let written = try await database.asAdmin {
            try $0.query("SELECT count(*) FROM audit.digest WHERE key_id = \(rogue.keyID)").rows[0].decode(Int.self, at: 0)
        }
        #expect(written == 0)
    }

    @Test("a rotation retires the old key: its digests still verify, the service no longer signs with it")
    func rotation() async throws {
        try await ingest("org_rot", ["r1"], hoursAgo: 3)
        _ = try await seal()
        let next = DigestSigningKey(seed: Array(repeating: UInt8(13), count: 32))!
        try await database.asAdmin { try MigrationRunner.listDigestKey(next, retiringOthers: true, on: $0) }
        let store = try await database.store()
        let keys = try await store.digestKeys()
        await store.close()
        #expect(keys.map(\.keyID).sorted() == [key.keyID, next.keyID].sorted())
        #expect(keys.first { $0.keyID == key.keyID }?.retiredAt != nil)
        #expect(keys.first { $0.keyID == next.keyID }?.retiredAt == nil)
        await #expect(throws: DigestKeyError.self) { try await database.asApp { try DigestWriter(key: key, sealDelay: 0).run(on: $0) } }
        try await ingest("org_rot", ["r2"], hoursAgo: 2)
        _ = try await database.asApp { try DigestWriter(key: next, sealDelay: 0).run(on: $0) }
        let result = try #require(try await verify("org_rot"))
        #expect(result.exitCode == 0, "\(result.findings) \(result.unsigned)")
        // A migrate still configured with the old key does not bring it back.
        try await database.asAdmin { try MigrationRunner.listDigestKey(key, retiringOthers: false, on: $0) }
        let again = try await database.asApp { try PublishedDigestKey.all(on: $0) }
        #expect(again.first { $0.keyID == key.keyID }?.retiredAt != nil)
    }
}
