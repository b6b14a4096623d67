import AuditCore
@testable import AuditStore
import Foundation
import PostgresLibPQ
import Testing
import TestSupport

/// Isolation proven by connecting as the service role itself, below any HTTP code.
@Suite("row-level security, as the auditlog_app role")
struct RowLevelSecurityTests {
    let database: TestDatabase

    init() async throws {
        database = try await TestCluster.shared.database("rls")
        try await database.asApp { connection in
            try connection.withTransaction(preamble: context("org_a", "publisher")) { connection in
                try insertEvent(connection, tenant: "org_a", id: "a1", message: "alpha one")
                try insertEvent(connection, tenant: "org_a", id: "a2", message: "alpha two")
            }
            try connection.withTransaction(preamble: context("org_b", "publisher")) { connection in
                try insertEvent(connection, tenant: "org_b", id: "b1", message: "bravo one")
            }
        }
    }

    func visibleEvents(_ preamble: String?) async throws -> [String] {
        try await database.asApp { connection in
            try connection.withTransaction(preamble: preamble) { connection in
                try connection.query("SELECT id FROM audit.event ORDER BY id").rows.map { try $0.decode(String.self, at: 0) }
            }
        }
    }

    @Test("tenant A's context never returns tenant B's rows, whatever the query asks for")
    func isolation() async throws {
        #expect(try await visibleEvents(context("org_a", "admin")) == ["a1", "a2"])
        #expect(try await visibleEvents(context("org_b", "owner")) == ["b1"])
        let explicit = try await database.asApp { connection in
            try connection.withTransaction(preamble: context("org_a", "support")) { connection in
                try connection.query("SELECT count(*) FROM audit.event WHERE tenant_id = \("org_b")").rows[0].decode(Int.self, at: 0)
            }
        }
        #expect(explicit == 0)
        let tenants = try await database.asApp { connection in
            try connection.withTransaction(preamble: context("org_a", "admin")) { connection in
                try connection.query("SELECT tenant_id FROM audit.tenant").rows.map { try $0.decode(String.self, at: 0) }
            }
        }
        #expect(tenants == ["org_a"])
    }

    @Test("audit.target_events reads only the context's tenant, and nothing without one")
    func targetEventsUnderRowLevelSecurity() async throws {
        // The function runs as the service role (SECURITY INVOKER), so the policies apply to
        // every row it reads, by the join of the last day and by the lookups before it.
        try await database.asApp { connection in
            try connection.withTransaction(preamble: context("org_b", "publisher")) { connection in
                try connection.query("""
                    INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                    VALUES ('org_b', 'b_old', now() - interval '20 days', 'client.renamed', 'client_mapping', 'user', 'u_1', 'old', repeat('a', 64))
                    """)
                try connection.query("""
                    INSERT INTO audit.event_target (tenant_id, target_type, target_id, occurred_at, event_id)
                    SELECT tenant_id, 'client', 'cl_shared', occurred_at, id FROM audit.event WHERE id IN ('b1', 'b_old')
                    """)
            }
        }
        func read(_ preamble: String?) async throws -> [String] {
            try await database.asApp { connection in
                try connection.withTransaction(preamble: preamble) { connection in
                    try connection.query("""
                        SELECT id FROM audit.target_events('client', 'cl_shared', now() - interval '90 days', now() + interval '1 day',
                                                           now(), NULL, NULL, 10)
                        """).rows.map { try $0.decode(String.self, at: 0) }
                }
            }
        }
        #expect(try await read(context("org_b", "admin")) == ["b1", "b_old"])
        #expect(try await read(context("org_a", "owner")) == [])
        #expect(try await read(context("org_b", "member")) == [])
        #expect(try await read(nil) == [])
    }

    @Test("no tenant set: no rows and no error")
    func noTenant() async throws {
        #expect(try await visibleEvents(nil) == [])
        #expect(try await visibleEvents("SET LOCAL auditlog.role = 'admin'") == [])
        // A tenant context from an earlier transaction does not leak into the next one.
        let later = try await database.asApp { connection in
            _ = try connection.withTransaction(preamble: context("org_a", "admin")) { try $0.query("SELECT 1") }
            return try connection.query("SELECT count(*) FROM audit.event").rows[0].decode(Int.self, at: 0)
        }
        #expect(later == 0)
    }

    @Test("the member role and unknown roles read nothing")
    func memberReadsNothing() async throws {
        #expect(try await visibleEvents(context("org_a", "member")) == [])
        #expect(try await visibleEvents(context("org_a", "superadmin")) == [])
    }

    @Test("only the publisher of the matching tenant may write")
    func writes() async throws {
        for (preamble, tenant) in [(context("org_a", "publisher"), "org_b"), (context("org_a", "owner"), "org_a")] {
            let error = await #expect(throws: PostgresError.self) {
                try await database.asApp { connection in
                    try connection.withTransaction(preamble: preamble) { connection in
                        try connection.query("""
                            INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                            VALUES (\(tenant), 'forged', now(), 'x.y', 'x', 'user', 'u', 'forged', repeat('b', 64))
                            """)
                    }
                }
            }
            #expect(error?.sqlState == "42501")
        }
        #expect(try await visibleEvents(context("org_b", "admin")) == ["b1"])
    }

    @Test("the service role cannot store a malformed id or hash: ids are 1-128 of A-Z a-z 0-9 _ . : -, hashes 64 lowercase hex", arguments: [
        (String(repeating: "i", count: 129), String(repeating: "a", count: 64)), ("has space", String(repeating: "a", count: 64)),
        ("", String(repeating: "a", count: 64)), ("é", String(repeating: "a", count: 64)),
        ("ok", String(repeating: "a", count: 63)), ("ok", String(repeating: "a", count: 65)),
        ("ok", String(repeating: "A", count: 64)), ("ok", String(repeating: "g", count: 64)), ("ok", String(repeating: "a", count: 63) + "\n"),
    ])
    func formatChecks(_ id: String, _ hash: String) async throws {
        // event_id checks the hash only; the id's format is the event row's check.
        for table in hash == String(repeating: "a", count: 64) ? ["event"] : ["event", "event_id"] {
            let error = await #expect(throws: PostgresError.self) {
                try await database.asApp { connection in
                    try connection.withTransaction(preamble: context("org_a", "publisher")) { connection in
                        try connection.query(PostgresQuery(unsafeSQL: table == "event" ? """
                            INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                            VALUES ('org_a', $1, now(), 'x.y', 'x', 'user', 'u', 'forged', $2)
                            """ : "INSERT INTO audit.event_id (tenant_id, id, occurred_at, hash) VALUES ('org_a', $1, now(), $2)",
                            binds: [id, hash]))
                    }
                }
            }
            #expect(error?.sqlState == "23514", "\(table): \(id) / \(hash)")
        }
        #expect(try await visibleEvents(context("org_a", "admin")) == ["a1", "a2"])
    }

    @Test("the longest id and a well-formed hash are accepted from the service role")
    func formatChecksAccept() async throws {
        struct RolledBack: Error {}
        let id = String(repeating: "i", count: 127) + ":"
        // Thrown after both inserts succeeded, so the transaction rolls back and the suite's rows stay as they were.
        await #expect(throws: RolledBack.self) {
            try await database.asApp { connection in
                try connection.withTransaction(preamble: context("org_a", "publisher")) { connection in
                    try connection.query("INSERT INTO audit.event_id (tenant_id, id, occurred_at, hash) VALUES ('org_a', \(id), now(), repeat('0123456789abcdef', 4))")
                    try connection.query("""
                        INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                        VALUES ('org_a', \(id), now(), 'x.y', 'x', 'user', 'u', 'longest id', repeat('0123456789abcdef', 4))
                        """)
                    throw RolledBack()
                }
            }
        }
    }

    @Test("UPDATE, DELETE and TRUNCATE of events are refused to the service role", arguments: [
        "UPDATE audit.event SET message = 'changed'",
        "DELETE FROM audit.event",
        "TRUNCATE audit.event",
        "DELETE FROM audit.event_target",
        "DROP TABLE audit.event_p\(Self.today())",
        "SELECT * FROM audit.event_p\(Self.today())",
        "SELECT * FROM audit.api_key",
    ])
    func forbidden(_ statement: String) async throws {
        let error = await #expect(throws: PostgresError.self) {
            try await database.asApp { connection in
                try connection.withTransaction(preamble: context("org_a", "publisher")) { connection in
                    try connection.executeScript(unsafeSQL: statement)
                }
            }
        }
        #expect(error?.sqlState == "42501")
        #expect(try await visibleEvents(context("org_a", "admin")) == ["a1", "a2"])
    }

    @Test("the feed's commit numbers and a vendor-wide stream's cursors: each tenant's own, written only as its publisher, no settings through them")
    func commitNumbersAndCursors() async throws {
        func run(_ preamble: String, _ sql: String) async throws -> Int {
            try await database.asApp { connection in
                try connection.withTransaction(preamble: preamble) { connection in
                    let result = try connection.query(PostgresQuery(unsafeSQL: sql))
                    return result.rows.isEmpty ? 0 : (try? result.rows[0].decode(Int.self, at: 0)) ?? result.rows.count
                }
            }
        }
        func refused(_ preamble: String, _ sql: String) async -> String? {
            do {
                _ = try await run(preamble, sql)
                return nil
            } catch let error as PostgresError {
                return error.sqlState
            } catch {
                return "\(error)"
            }
        }
        // The publisher numbers its own tenant's commits, and only that.
        #expect(try await run(context("org_a", "publisher"), "UPDATE audit.tenant SET feed_seq = feed_seq + 1 WHERE tenant_id = 'org_a' RETURNING feed_seq") == 1)
        #expect(try await run(context("org_a", "publisher"), "UPDATE audit.tenant SET feed_seq = 99 WHERE tenant_id = 'org_b' RETURNING 1") == 0)
        #expect(try await run(context("org_a", "admin"), "UPDATE audit.tenant SET feed_seq = 99 WHERE tenant_id = 'org_a' RETURNING 1") == 0)
        #expect(await refused(context("org_a", "publisher"), "UPDATE audit.tenant SET retention_days = 1 WHERE tenant_id = 'org_a'") == "42501")
        _ = try await run(context("org_a", "publisher"), "INSERT INTO audit.feed_commit (tenant_id, seq) VALUES ('org_a', 1)")
        #expect(await refused(context("org_a", "publisher"), "INSERT INTO audit.feed_commit (tenant_id, seq) VALUES ('org_b', 1)") == "42501")
        #expect(await refused(context("org_a", "admin"), "INSERT INTO audit.feed_commit (tenant_id, seq) VALUES ('org_a', 2)") == "42501")
        // The transaction id and time are the database's on one node (CitusLayout grants them on Citus).
        #expect(await refused(context("org_a", "publisher"), "INSERT INTO audit.feed_commit (tenant_id, seq, xid) VALUES ('org_a', 3, '5')") == "42501")
        #expect(try await run(context("org_a", "admin"), "SELECT count(*) FROM audit.feed_commit") == 1)
        #expect(try await run(context("org_b", "admin"), "SELECT count(*) FROM audit.feed_commit") == 0)
        #expect(try await run("SELECT 1", "SELECT count(*) FROM audit.feed_commit") == 0)
        // Cursors belong to the vendor-wide context '*', never to a tenant's.
        #expect(await refused(context("org_a", "publisher"), "INSERT INTO audit.stream_cursor (tenant_id, stream_id, seq) VALUES ('org_a', 's', 0)") == "42501")
        _ = try await run(context("*", "maintenance"), "INSERT INTO audit.stream_cursor (tenant_id, stream_id, seq) VALUES ('org_a', 's', 1)")
        #expect(try await run(context("org_a", "admin"), "SELECT count(*) FROM audit.stream_cursor") == 0)
        #expect(try await run(context("*", "maintenance"), "SELECT count(*) FROM audit.stream_cursor") == 1)
        // The vendor-wide context reads tenant rows (their commit numbers) but changes none.
        #expect(try await run(context("*", "maintenance"), "SELECT count(*) FROM audit.tenant") == 2)
        #expect(try await run(context("*", "publisher"), "UPDATE audit.tenant SET feed_seq = 99 RETURNING 1") == 0)
    }

    static func today() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }

    @Test("the service role is no superuser, cannot bypass RLS and owns nothing")
    func roleAttributes() async throws {
        let (superuser, bypass, owned) = try await database.asAdmin { connection in
            let role = try connection.query("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = 'auditlog_app'").rows[0]
            let owned = try connection.query("""
                SELECT count(*) FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = 'auditlog_app'
                """).rows[0].decode(Int.self, at: 0)
            return (try role.decode(Bool.self, at: 0), try role.decode(Bool.self, at: 1), owned)
        }
        #expect(!superuser)
        #expect(!bypass)
        #expect(owned == 0)
        let rlsEverywhere = try await database.asAdmin { connection in
            try connection.query("""
                SELECT bool_and(relrowsecurity AND relforcerowsecurity) FROM pg_class
                WHERE relnamespace = 'audit'::regnamespace AND relname IN ('tenant', 'event', 'event_target', 'api_key', 'digest')
                """).rows[0].decode(Bool.self, at: 0)
        }
        #expect(rlsEverywhere)
    }

    @Test("AuditDatabase.withTenant sets the context from typed values")
    func serviceLayerContext() async throws {
        let auditDatabase = try await database.store()
        let ids = try await auditDatabase.withTenant(TenantID("org_b")!, roleName: "support", on: auditDatabase.readPool) { connection in
            try connection.query("SELECT id FROM audit.event").rows.map { try $0.decode(String.self, at: 0) }
        }
        #expect(ids == ["b1"])
        let memberIDs = try await auditDatabase.withTenant(TenantID("org_b")!, roleName: "member", on: auditDatabase.readPool) { connection in
            try connection.query("SELECT id FROM audit.event").rows.map { try $0.decode(String.self, at: 0) }
        }
        #expect(memberIDs == [])
        await auditDatabase.close()
    }
}
