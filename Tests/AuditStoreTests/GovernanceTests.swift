import AuditCore
@testable import AuditStore
import Foundation
import PostgresLibPQ
import Testing
import TestSupport

@Suite("governed retention: no cut sooner than the grace period, whatever the service role does")
struct GovernanceTests {
    let database: TestDatabase

    /// org_gov (retention 30 of a global 30) has events 2 and 20 days old.
    init() async throws {
        database = try await TestCluster.shared.database("governance")
        try await database.listDigestKey(Self.key)
        try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: """
                UPDATE audit.retention_policy SET global_days = 30;
                INSERT INTO audit.tenant (tenant_id, retention_days) VALUES ('org_gov', 30);
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                SELECT 'org_gov', 'd' || d || '_' || n, now() - d * interval '1 day' + n * interval '1 minute',
                       'a.b', 'a', 'user', 'u', 'm', repeat('a', 64)
                FROM unnest(ARRAY[2, 20]) AS d, generate_series(1, 5) AS n;
                """)
        }
    }

    /// `sql` as the service role in org_gov's context under `role`.
    func asService(_ role: String, _ sql: String) async throws -> [PostgresRow] {
        try await database.asApp { connection in
            try connection.withTransaction(preamble: "SET LOCAL auditlog.tenant = 'org_gov'; SET LOCAL auditlog.role = '\(role)'") {
                try $0.query(PostgresQuery(unsafeSQL: sql)).rows
            }
        }
    }

    func count(_ sql: String) async throws -> Int {
        try await database.asAdmin { try $0.query(PostgresQuery(unsafeSQL: sql)).rows[0].decode(Int.self, at: 0) }
    }

    static let key = DigestSigningKey(seed: Array(repeating: UInt8(4), count: 32))!

    /// One maintenance pass, sealing closed hours with no delay.
    func pass() async throws -> RetentionPass.Report {
        let store = try await database.store()
        let report = try await store.runRetention(RetentionPass(pause: .milliseconds(1), digests: DigestWriter(key: Self.key, sealDelay: 0)),
                                                  dryRun: false)
        await store.close()
        return report
    }

    /// What verify says about retention (the seeded events are written as the owner, without
    /// real hashes or id claims, so the rest of its findings are about them).
    func verify() async throws -> (findings: [String], removedByRetention: Int, unjudged: Int) {
        let result = try #require(try await database.asApp { try ChainVerifier(legacyKey: nil).verify(TenantID("org_gov")!, from: nil, to: nil, on: $0) })
        return (result.findings.map(\.description).filter { $0.contains("retention") || $0.contains("removed") }, result.hoursRemovedByRetention,
                result.retentionStampsUnjudged.count)
    }

    @Test("a shorter retention waits out the grace: nothing is pruned meanwhile, then it takes effect and is recorded")
    func shorterRetention() async throws {
        let requested = try await asService("owner", "SELECT applied, effective_at > now() + interval '6 days' FROM audit.change_setting('retention_days', '7', NULL, 'u_owner')")
        #expect(try requested[0].decode(Bool.self, at: 0) == false)
        #expect(try requested[0].decode(Bool.self, at: 1))
        _ = try await pass()
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_gov' AND id LIKE 'd20%'") == 5)
        #expect(try await count("SELECT retention_days FROM audit.tenant WHERE tenant_id = 'org_gov'") == 30)

        // The grace ends: moved through the database, not waited for.
        try await database.asAdmin { try $0.executeScript(unsafeSQL: "UPDATE audit.setting_change SET effective_at = now() - interval '1 second'") }
        let report = try await pass()
        #expect(report.settingsApplied.map(\.newValue) == ["7"])
        #expect(try await count("SELECT retention_days FROM audit.tenant WHERE tenant_id = 'org_gov'") == 7)
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_gov' AND id LIKE 'd20%'") == 0)
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_gov' AND id LIKE 'd2\\_%'") == 5)
        #expect(try await count("""
            SELECT count(*) FROM audit.event WHERE tenant_id = 'org_gov' AND action = 'organization.settings_updated'
              AND metadata ->> 'after_grace' = 'true' AND changes -> 'retention_days' ->> 'new' = '7'
            """) == 1)
        // The chain signed the new policy before anything was removed under it.
        #expect(try await count("""
            SELECT count(*) FROM audit.digest WHERE tenant_id = 'org_gov' AND format = 3 AND retention_days = 7 AND NOT legal_hold
              AND policy_at <= (SELECT min(retention_removed_at) FROM audit.digest WHERE tenant_id = 'org_gov' AND retention_days = 30)
            """) >= 1)
        // verify: the hours removed were the policy's to remove, judged by what the chain signed.
        let result = try await verify()
        #expect(result.findings.isEmpty, "\(result.findings)")
        #expect(result.removedByRetention > 0)
        #expect(result.unjudged == 0)
    }

    @Test("a cut made outside the governed path, settings restored afterwards, is TAMPERED in verify, named by hour")
    func ungovernedCut() async throws {
        _ = try await pass()
        #expect(try await verify().findings.isEmpty)
        // What the issue found: retention 1, prune and stamp, then the settings put back. Only an
        // owner of the schema can still do this, and it can make the recorded history agree (a
        // change to 1 day "applied" a day ago); verify names it from the policy the chain signed.
        try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: """
                UPDATE audit.tenant SET retention_days = 1 WHERE tenant_id = 'org_gov';
                SELECT audit.prune_tenant('org_gov', 1000);
                SELECT audit.mark_digests_past_retention();
                UPDATE audit.tenant SET retention_days = 30 WHERE tenant_id = 'org_gov';
                INSERT INTO audit.setting_change (tenant_id, change_id, setting, old_value, new_value, requested_by, requested_role,
                                                  requested_at, effective_at, applied_at)
                VALUES ('org_gov', 'c_forged', 'retention_days', '1', '30', 'u', 'publisher', now(), now(), now() + interval '1 second');
                """)
        }
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_gov' AND id LIKE 'd20%'") == 0)
        let findings = try await verify().findings
        let hour20 = String(Timestamp.format(Timestamp.hourStart(Date().addingTimeInterval(-20 * 86_400 + 60))).prefix(13))
        #expect(findings.contains { $0.hasPrefix("hour \(hour20)") && $0.contains("the retention then (30 days) kept this hour (as the chain signed it)") }, "\(findings)")
    }

    @Test("the service role cannot shorten, lift a hold or prune faster, by any direct SQL", arguments: [
        ("publisher", "UPDATE audit.tenant SET retention_days = 1 WHERE tenant_id = 'org_gov'"),
        ("publisher", "UPDATE audit.tenant SET legal_hold = false WHERE tenant_id = 'org_gov'"),
        ("publisher", "INSERT INTO audit.tenant (tenant_id, retention_days) VALUES ('org_new', 1)"),
        ("publisher", "INSERT INTO audit.tenant (tenant_id, retention_days) VALUES ('org_gov', 1) ON CONFLICT (tenant_id) DO UPDATE SET retention_days = 1"),
        ("publisher", "UPDATE audit.setting_change SET effective_at = now() - interval '1 day'"),
        ("publisher", "INSERT INTO audit.setting_change (tenant_id, change_id, setting, old_value, new_value, requested_by, requested_role, requested_at, effective_at) VALUES ('org_gov', 'x', 'retention_days', '30', '1', 'me', 'publisher', now(), now())"),
        ("owner", "SELECT * FROM audit.change_setting('legal_hold', 'false', 'because', 'u_owner')"),
        ("admin", "SELECT * FROM audit.change_setting('retention_days', '1', NULL, 'u_admin')"),
    ])
    func directAttacks(_ role: String, _ sql: String) async throws {
        _ = try await asService("publisher", "SELECT * FROM audit.change_setting('legal_hold', 'true', 'litigation', 'key_1')")
        await #expect(throws: PostgresError.self) { _ = try await asService(role, sql) }
        // And what it may call changes nothing before its time.
        _ = try await asService("publisher", "SELECT * FROM audit.change_setting('legal_hold', 'false', 'lifted', 'key_1')")
        _ = try await asService("publisher", "SELECT * FROM audit.change_setting('retention_days', '1', NULL, 'key_1')")
        #expect(try await asService("maintenance", "SELECT count(*) FROM audit.apply_due_setting_changes()")[0].decode(Int.self, at: 0) == 0)
        #expect(try await asService("maintenance", "SELECT audit.prune_tenant('org_gov', 1000)")[0].decode(Int.self, at: 0) == 0)
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_gov'") == 10)
        #expect(try await count("SELECT (legal_hold AND retention_days = 30)::int FROM audit.tenant WHERE tenant_id = 'org_gov'") == 1)
    }
}
