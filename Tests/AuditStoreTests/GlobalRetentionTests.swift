import AuditCore
@testable import AuditStore
import Foundation
import PostgresLibPQ
import Testing
import TestSupport

/// Lowering AUDITLOG_RETENTION_DAYS is a cut like any other: recorded, pending for the grace,
/// shown to every tenant it shortens, in force only afterwards.
@Suite("a lower global retention is governed: pending for the grace, shown and recorded, then in force")
struct GlobalRetentionTests {
    let database: TestDatabase
    static let key = DigestSigningKey(seed: Array(repeating: UInt8(14), count: 32))!

    /// org_long (its own 90 days) and org_short (its own 10) have events 5 and 40 days old; the global retention is 90.
    init() async throws {
        database = try await TestCluster.shared.database("global_retention")
        try await database.listDigestKey(Self.key)
        try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: """
                UPDATE audit.retention_policy SET global_days = 90;
                INSERT INTO audit.tenant (tenant_id, retention_days) VALUES ('org_long', 90), ('org_short', 10);
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                SELECT t, 'd' || d, now() - d * interval '1 day', 'a.b', 'a', 'user', 'u', 'm', repeat('a', 64)
                FROM unnest(ARRAY['org_long', 'org_short']) AS t, unnest(ARRAY[5, 40]) AS d;
                """)
        }
    }

    func request(_ days: Int) async throws -> String {
        try await database.asAdmin { try $0.query("SELECT audit.request_global_retention(\(days)::integer)").rows[0].decode(String.self, at: 0) }
    }

    func pass() async throws -> RetentionPass.Report {
        let store = try await database.store()
        let report = try await store.runRetention(RetentionPass(pause: .milliseconds(1), digests: DigestWriter(key: Self.key, sealDelay: 0)),
                                                  dryRun: false)
        await store.close()
        return report
    }

    func events(_ tenant: String, where condition: String = "true") async throws -> Int {
        try await database.asAdmin {
            try $0.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM audit.event WHERE tenant_id = '\(tenant)' AND \(condition)")).rows[0].decode(Int.self, at: 0)
        }
    }

    @Test("a cut to 30 days waits out the grace: shown as pending to the tenants it shortens, recorded in their logs, then in force")
    func governedCut() async throws {
        #expect(try await request(30) == "pending")
        #expect(try await request(30) == "pending")  // asked again: the same date
        let store = try await database.store()
        #expect(store.globalRetentionDays == 90)
        let long = try await store.settings(tenant: TenantID("org_long")!, role: .owner)
        let short = try await store.settings(tenant: TenantID("org_short")!, role: .owner)
        await store.close()
        let pending = try #require(long.pending.first { $0.changeID == "service_retention" })
        #expect(pending.oldValue == "90" && pending.newValue == "30" && pending.requestedBy == "service_provider" && pending.requestedByName == "the service provider")
        #expect(pending.effectiveAt > Date().addingTimeInterval(86_400))
        #expect(short.pending.isEmpty)  // 10 days is already shorter

        var report = try await pass()
        #expect(report.globalRetention.map(\.kind) == ["requested"])
        #expect(report.globalRetention.first?.tenants.map(\.tenant) == ["org_long"])
        #expect(try await events("org_long", where: "id = 'd40'") == 1)  // nothing cut before the grace
        #expect(try await events("org_long", where: "action = 'organization.settings_updated' AND metadata ->> 'status' = 'pending'") == 1)
        #expect(try await events("org_short", where: "action = 'organization.settings_updated'") == 0)
        #expect(try await pass().globalRetention.isEmpty)  // recorded once

        // The grace ends (moved through the database rather than waited for).
        try await database.asAdmin { try $0.query("UPDATE audit.retention_policy SET pending_effective_at = now() - interval '1 second'") }
        report = try await pass()
        #expect(report.globalRetention.map(\.kind) == ["applied"])
        #expect(try await database.asApp { try $0.query("SELECT audit.global_retention_days()").rows[0].decode(Int.self, at: 0) } == 30)
        #expect(try await events("org_long", where: "id = 'd40'") == 0)
        #expect(try await events("org_long", where: "id = 'd5'") == 1)
        #expect(try await events("org_long", where: "action = 'organization.settings_updated' AND metadata ->> 'status' = 'applied'") == 1)
        #expect(try await pass().globalRetention.isEmpty)
    }

    @Test("a longer global retention is in force at once, and withdraws a pending cut")
    func lengthen() async throws {
        #expect(try await request(30) == "pending")
        #expect(try await request(120) == "applied")
        #expect(try await database.asApp { try $0.query("SELECT count(*) FROM audit.pending_global_retention()").rows[0].decode(Int.self, at: 0) } == 0)
        #expect(try await database.asApp { try $0.query("SELECT audit.global_retention_days()").rows[0].decode(Int.self, at: 0) } == 120)
        #expect(try await request(120) == "unchanged")
    }

    @Test("the service role cannot request, hasten or apply a cut itself")
    func serviceRoleRefused() async throws {
        #expect(try await request(30) == "pending")
        for sql in [
            "SELECT audit.request_global_retention(1)",
            "UPDATE audit.retention_policy SET pending_effective_at = now() - interval '1 day'",
            "UPDATE audit.retention_policy SET global_days = 1",
        ] {
            let error = await #expect(throws: PostgresError.self) { try await database.asApp { try $0.query(PostgresQuery(unsafeSQL: sql)) } }
            #expect(error?.sqlState == "42501", "\(sql)")
        }
        // Running the due step early changes nothing but the record of the request.
        _ = try await database.asApp { try $0.query("SELECT * FROM audit.apply_due_global_retention()") }
        #expect(try await database.asApp { try $0.query("SELECT audit.global_retention_days()").rows[0].decode(Int.self, at: 0) } == 90)
    }
}
