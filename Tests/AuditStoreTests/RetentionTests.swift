import AuditCore
@testable import AuditStore
import Dispatch
import Foundation
import Logging
import PostgresLibPQ
import Testing
import TestSupport

@Suite("retention: short tenant retention, global partition drops, legal hold, one pass at a time")
struct RetentionTests {
    let database: TestDatabase

    /// Global retention 30 days. org_keep (30), org_short (7) and org_hold (7, on hold) each
    /// have events 2, 10, 40 and 50 days old; org_gone has events only 50 days old.
    init() async throws {
        database = try await TestCluster.shared.database("retention")
        try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: """
                UPDATE audit.retention_policy SET global_days = 30;
                INSERT INTO audit.tenant (tenant_id, retention_days, legal_hold) VALUES
                    ('org_keep', 90, false), ('org_short', 7, false), ('org_hold', 7, true), ('org_gone', 90, false);
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                SELECT t, 'd' || d || '_' || n, date_trunc('day', now()) - d * interval '1 day' + n * interval '1 minute',
                       'a.b', 'a', 'user', 'u', 'm', repeat('a', 64)
                FROM (VALUES ('org_keep'), ('org_short'), ('org_hold')) AS tenants(t), unnest(ARRAY[2, 10, 40, 50]) AS d,
                     generate_series(1, 5) AS n;
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                SELECT 'org_gone', 'd50_' || n, date_trunc('day', now()) - 50 * interval '1 day' + n * interval '1 minute',
                       'a.b', 'a', 'user', 'u', 'm', repeat('a', 64)
                FROM generate_series(1, 5) AS n;
                """)
        }
    }

    func remaining() async throws -> [String: [String]] {
        try await database.asAdmin { connection in
            var result: [String: [String]] = [:]
            for row in try connection.query("SELECT tenant_id, id FROM audit.event ORDER BY tenant_id, id").rows {
                result[try row.decode(String.self, at: 0), default: []].append(try row.decode(String.self, at: 1))
            }
            return result
        }
    }

    func days(_ ids: [String]?) -> Set<String> {
        Set((ids ?? []).map { String($0.prefix { $0 != "_" }) })
    }

    @Test("a dry run reports and removes nothing; a pass keeps exactly each tenant's window, and all of a held tenant")
    func pass() async throws {
        let before = try await remaining()
        let pool = database.appPool(size: 1)
        let dry = try await RetentionPass(pause: .zero).run(pool: pool, dryRun: true)
        #expect(dry.ran)
        #expect(try await remaining() == before)
        let planned = Dictionary(uniqueKeysWithValues: dry.tenants.map { ($0.tenant, $0.removed) })
        #expect(planned == ["org_keep": 10, "org_short": 15, "org_hold": 0, "org_gone": 5])

        let report = try await RetentionPass(batchSize: 4, pause: .zero).run(pool: pool, dryRun: false)
        #expect(report.ran)
        let after = try await remaining()
        #expect(days(after["org_keep"]) == ["d2", "d10"])
        #expect(days(after["org_short"]) == ["d2"])
        #expect(days(after["org_hold"]) == ["d2", "d10", "d40", "d50"])
        #expect(after["org_hold"]?.count == 20)
        #expect(after["org_gone"] == nil)
        await pool.close()

        // The partition 50 days back is kept for the held tenant; none older than it holds rows of others.
        let partitions = try await database.asAdmin { connection in
            try connection.query("""
                SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'audit.event'::regclass AND c.relname = 'event_p' || to_char(now() - interval '50 days', 'YYYYMMDD')
                """).rows[0].decode(Int.self, at: 0)
        }
        #expect(partitions == 1)
    }

    @Test("a partition older than the global retention with no held tenant is dropped, not deleted from")
    func dropsWholeDays() async throws {
        try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: "UPDATE audit.tenant SET legal_hold = false")
        }
        let pool = database.appPool(size: 1)
        let report = try await RetentionPass(pause: .zero).run(pool: pool, dryRun: false)
        await pool.close()
        #expect(report.partitionsDropped.contains("event_p" + Self.day(-50)))
        #expect(report.partitionsDropped.contains("event_p" + Self.day(-40)))
        #expect(!report.partitionsDropped.contains("event_p" + Self.day(-10)))
    }

    static func day(_ offset: Int) -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Calendar(identifier: .gregorian).startOfDay(for: Date()).addingTimeInterval(Double(offset) * 86_400 + 43_200))
    }

    @Test("while one pass holds the lock, a second one skips")
    func onePassAtATime() async throws {
        let holderPool = database.appPool(size: 1)
        let locked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let holder = Task {
            try await holderPool.withConnection { connection in
                try connection.query("SELECT pg_advisory_lock(\(0x6175_6469_7472_6574 as Int64))")
                locked.signal()
                release.wait()
            }
        }
        await withCheckedContinuation { continuation in DispatchQueue.global().async { locked.wait(); continuation.resume() } }
        let pool = database.appPool(size: 1)
        let report = try await RetentionPass(pause: .zero).run(pool: pool, dryRun: false)
        #expect(!report.ran)
        #expect(try await remaining()["org_gone"]?.count == 5)
        release.signal()
        try await holder.value
        await pool.close()
        await holderPool.close()
    }

    @Test("ingest keeps succeeding while a large prune runs")
    func ingestDuringPrune() async throws {
        try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: """
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                SELECT 'org_short', 'bulk' || g, now() - interval '20 days' + g * interval '1 millisecond', 'a.b', 'a', 'user', 'u', 'm', repeat('a', 64)
                FROM generate_series(1, 20000) AS g
                """)
        }
        let prunePool = database.appPool(size: 1), ingestPool = database.appPool(size: 2)
        let ingestor = EventIngestor(pool: ingestPool, writers: 2)
        let validator = EventValidator(now: Date(), retentionDays: 90, redactor: Redactor())
        let pruning = Task { try await RetentionPass(batchSize: 200, pause: .zero).run(pool: prunePool, dryRun: false) }
        var acknowledged = 0
        for index in 0..<50 {
            let draft = try validator.validate(.object([
                "tenant": .string("org_short"), "id": .string("live\(index)"), "occurred_at": .string(Timestamp.format(Date())),
                "action": .string("a.b"), "actor": .object(["id": .string("u")]),
            ]), index: 0).get()
            let result = try await ingestor.ingest([StoredEvent(draft: draft, receivedAt: Date(), message: "m")])
            acknowledged += result.ids.count
        }
        let report = try await pruning.value
        #expect(acknowledged == 50)
        #expect(report.tenants.first { $0.tenant == "org_short" }?.removed == 20_015)
        let left = try await database.asAdmin { connection in
            try connection.query("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_short' AND id LIKE 'live%'").rows[0].decode(Int.self, at: 0)
        }
        #expect(left == 50)
        await prunePool.close()
        await ingestPool.close()
    }

    @Test("the service role cannot prune inside a retention window, whatever it passes")
    func pruneGuards() async throws {
        let removed = try await database.asApp { connection in
            try connection.query("SELECT audit.prune_tenant('org_keep', 10000)").rows[0].decode(Int.self, at: 0)
        }
        #expect(removed == 10)  // only the 40- and 50-day-old events: org_keep's window is the global 30 days
        #expect(days(try await remaining()["org_keep"]) == ["d2", "d10"])
    }
}
