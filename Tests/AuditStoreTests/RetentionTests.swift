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

    /// `count` events of org_short, 20 days old: past its 7-day retention, inside the global 30.
    func insertExpired(_ count: Int) async throws {
        try await database.asAdmin { connection in
            try connection.query("""
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                SELECT 'org_short', 'bulk' || g, now() - interval '20 days' + g * interval '1 millisecond', 'a.b', 'a', 'user', 'u', 'm', repeat('a', 64)
                FROM generate_series(1, \(count)::integer) AS g
                """)
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

    @Test("a pruned event takes its target rows and id claim with it, over batches that span days; kept events keep theirs")
    func pruneTakesTargetsAndClaims() async throws {
        // org_short: 12 events over 3 days past its 7-day retention (batches of 5 cross the days),
        // and one 2 days old; each with a target row and an id claim.
        try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: """
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash, targets)
                SELECT 'org_short', 'tg' || g, date_trunc('day', now()) - (20 + g % 3) * interval '1 day' + g * interval '1 minute',
                       'a.b', 'a', 'user', 'u', 'm', repeat('a', 64),
                       jsonb_build_array(jsonb_build_object('type', 'client', 'id', 'c' || g), jsonb_build_object('type', 'user', 'id', 'u'))
                FROM generate_series(1, 12) AS g
                UNION ALL
                SELECT 'org_short', 'tg_kept', now() - interval '2 days', 'a.b', 'a', 'user', 'u', 'm', repeat('a', 64),
                       '[{"type": "client", "id": "c_kept"}]';
                INSERT INTO audit.event_target (tenant_id, target_type, target_id, occurred_at, event_id)
                SELECT e.tenant_id, x ->> 'type', x ->> 'id', e.occurred_at, e.id
                FROM audit.event AS e CROSS JOIN LATERAL jsonb_array_elements(e.targets) AS x WHERE e.id LIKE 'tg%';
                INSERT INTO audit.event_id (tenant_id, id, occurred_at, hash)
                SELECT tenant_id, id, occurred_at, hash FROM audit.event WHERE id LIKE 'tg%';
                """)
        }
        let pool = database.appPool(size: 1)
        _ = try await RetentionPass(batchSize: 5, pause: .zero).run(pool: pool, dryRun: false)
        await pool.close()
        let left = try await database.asAdmin { connection in
            try ["event", "event_target", "event_id"].map { table in
                let column = table == "event_target" ? "event_id" : "id"
                return try connection.query(PostgresQuery(unsafeSQL: "SELECT string_agg(\(column), ',' ORDER BY \(column)) FROM audit.\(table) WHERE \(column) LIKE 'tg%'"))
                    .rows[0].decode(String.self, at: 0)
            }
        }
        #expect(left == ["tg_kept", "tg_kept", "tg_kept"])
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
        try await insertExpired(20_000)
        let store = try await database.store()
        let validator = EventValidator(now: Date(), retentionDays: 90, redactor: Redactor())
        // The pass tells when it has pruned its first batch, and waits at its 50th (of 101) until
        // the ingest below is done: so the 50 writes run while the prune is in the middle.
        let started = Gate(), ingested = Gate()
        let batches = Counter()
        var gated = RetentionPass(batchSize: 200, pause: .zero)
        gated.onBatch = { tenant, _ in
            guard tenant == "org_short" else { return }
            let number = await batches.increment()
            if number == 1 { await started.open() }
            if number == 50 { await ingested.wait() }
        }
        let pruning = Task { [gated] in try await store.runRetention(gated, dryRun: false) }
        await started.wait()
        var acknowledged = 0
        for index in 0..<50 {
            let draft = try validator.validate(.object([
                "tenant": .string("org_short"), "id": .string("live\(index)"), "occurred_at": .string(Timestamp.format(Date())),
                "action": .string("a.b"), "actor": .object(["id": .string("u")]),
            ]), index: 0).get()
            let result = try await store.ingestor.ingest([StoredEvent(draft: draft, receivedAt: Date(), message: "m")])
            acknowledged += result.ids.count
        }
        let batchesWhenIngestDone = await batches.value
        await ingested.open()
        let report = try await pruning.value
        #expect(acknowledged == 50)
        #expect((1...50).contains(batchesWhenIngestDone), "the prune was under way while every event was written")
        #expect(await batches.value == 101)
        #expect(report.tenants.first { $0.tenant == "org_short" }?.removed == 20_015)
        let left = try await database.asAdmin { connection in
            try connection.query("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_short' AND id LIKE 'live%'").rows[0].decode(Int.self, at: 0)
        }
        #expect(left == 50)
        await store.close()
    }

    @Test("a pass cancelled mid-prune (SIGTERM) stops at the next batch, releases its lock, and the next pass finishes")
    func cancelledPrune() async throws {
        try await insertExpired(3000)
        func count() async throws -> Int {
            try await database.asAdmin { connection in
                try connection.query("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_short'").rows[0].decode(Int.self, at: 0)
            }
        }
        let before = try await count()  // 3,000 bulk + 20 from init, of which the 5 two-day-old ones stay
        let store = try await database.store()
        let first = RetentionPass(batchSize: 100, pause: .zero, onBatch: { tenant, _ in
            // What graceful shutdown does to the maintenance service's task.
            if tenant == "org_short" { withUnsafeCurrentTask { $0?.cancel() } }
        })
        let pass = Task { try await store.runRetention(first, dryRun: false) }
        let stopped = await #expect(throws: StoreError.self) { try await pass.value }
        #expect(stopped?.code == .cancelled)
        #expect(try await count() == before - 100, "one batch of 100 went; the rest waits for the next pass")
        let next = try await store.runRetention(RetentionPass(batchSize: 100, pause: .zero), dryRun: false)
        #expect(next.ran, "the cancelled pass gave its advisory lock back")
        #expect(next.tenants.first { $0.tenant == "org_short" }?.removed == before - 100 - 5)
        #expect(try await count() == 5)
        await store.close()
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

/// Opens once; every waiter (before or after) goes on.
actor Gate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func open() {
        isOpen = true
        waiters.forEach { $0.resume() }
        waiters.removeAll()
    }

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

actor Counter {
    private(set) var value = 0

    func increment() -> Int {
        value += 1
        return value
    }
}
