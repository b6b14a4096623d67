@testable import AuditStore
import Foundation
import Logging
import PostgresLibPQ
import Testing
import TestSupport

@Suite("migrations and partitions")
struct MigrationTests {
    let database: TestDatabase

    init() async throws {
        database = try await TestCluster.shared.database("migrations")
    }

    /// A fingerprint of the schema: relations, columns, policies, grants and functions.
    /// Daily partitions are left out: a run on a later day rightly adds the new day's.
    func schemaFingerprint() async throws -> String {
        try await database.asAdmin { connection in
            try connection.query("""
                SELECT md5(string_agg(item, ',' ORDER BY item)) FROM (
                    SELECT 'rel:' || relname || ':' || relkind::text || ':' || coalesce(relacl::text, '') AS item
                      FROM pg_class WHERE relnamespace = 'audit'::regnamespace AND NOT relispartition
                        AND NOT EXISTS (SELECT FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
                                        WHERE i.indexrelid = pg_class.oid AND t.relispartition)
                    UNION ALL SELECT 'col:' || attrelid::regclass::text || '.' || attname FROM pg_attribute
                      WHERE attrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'audit'::regnamespace AND NOT relispartition)
                        AND attnum > 0
                    UNION ALL SELECT 'pol:' || polname || ':' || polrelid::regclass::text FROM pg_policy
                    UNION ALL SELECT 'fn:' || proname || ':' || coalesce(proacl::text, '') FROM pg_proc
                      WHERE pronamespace = 'audit'::regnamespace
                    UNION ALL SELECT 'mig:' || version || ':' || checksum FROM public.auditlog_migration
                ) AS items
                """).rows[0].decode(String.self, at: 0)
        }
    }

    @Test("a search over every daily partition fits the lock table; a table too small for the pool is named")
    func lockCapacity() async throws {
        // The whole window, the resource view: the most relations one transaction locks.
        let (held, perTransaction) = try await database.asApp { connection in
            try connection.withTransaction(preamble: "SET LOCAL auditlog.tenant = 'org_locks'; SET LOCAL auditlog.role = 'admin'") { connection in
                _ = try connection.query("""
                    SELECT count(*) FROM audit.search_events(NULL, NULL, now() - interval '400 days', now() + interval '1 day',
                        NULL, NULL, NULL, NULL, NULL, 'client', 'c1', NULL, NULL, 51, false)
                    """)
                let row = try connection.query("""
                    SELECT (SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'relation'),
                           current_setting('max_locks_per_transaction')::bigint
                    """).rows[0]
                return (try row.decode(Int.self, at: 0), try row.decode(Int.self, at: 1))
            }
        }
        #expect(held > 100, "the search planned the window's partitions")
        if ProcessInfo.processInfo.environment["AUDITLOG_TEST_DATABASE_URL"] ?? "" == "" {
            #expect(perTransaction >= held, "the embedded server leaves each connection room for its largest search")
        }

        let fits = try await database.store { $0.readConnections = 1; $0.ingestConnections = 1 }
        #expect(try await fits.lockCapacityShortfall() == nil)
        await fits.close()
        let crowded = try await database.store { $0.readConnections = 100_000 }
        let message = try await crowded.lockCapacityShortfall()
        #expect(message?.contains("Set max_locks_per_transaction to at least") == true)
        await crowded.close()
    }

    @Test("the service role can tell a current schema (so serve starts without the owner) from a missing one")
    func currentAsServiceRole() async throws {
        let runner = MigrationRunner(
            migrations: try Migration.load(from: try Migration.defaultDirectory()), retentionDays: 90, logger: Logger(label: "test"))
        let app = database.appConninfo
        #expect(try await runBlocking { try runner.isCurrent(conninfo: app) })
        let empty = try await TestCluster.shared.emptyDatabase("unmigrated")
        #expect(try await runBlocking { try !runner.isCurrent(conninfo: empty) })
    }

    @Test("the service role never compiles statements with JIT (a prune batch spent 0.75 s compiling)")
    func noJIT() async throws {
        let setting = try await database.asApp { try $0.query("SHOW jit").rows[0].decode(String.self, at: 0) }
        #expect(setting == "off")
        let pruneConfig = try await database.asAdmin { connection in
            try connection.query("SELECT array_to_string(proconfig, ',') FROM pg_proc WHERE oid = 'audit.prune_tenant(text, integer)'::regprocedure")
                .rows[0].decode(String.self, at: 0)
        }
        #expect(pruneConfig.contains("jit=off"))
    }

    @Test("running the migrations again applies nothing and changes nothing")
    func idempotent() async throws {
        let before = try await schemaFingerprint()
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let runner = try MigrationRunner.bundled(retentionDays: 90, logger: logger)
        let admin = database.adminConninfo
        let applied = try await runBlocking { try runner.run(adminConninfo: admin) }
        #expect(applied == [])
        #expect(try await schemaFingerprint() == before)
    }

    @Test("a function's file is re-applied when it changes, once; the service role then sees the schema behind")
    func repeatableScripts() async throws {
        var logger = Logger(label: "test")
        logger.logLevel = .error
        var runner = try MigrationRunner.bundled(retentionDays: nil, logger: logger)
        #expect(runner.repeatables.contains { $0.name == "functions/search_events" })
        #expect(runner.repeatables.contains { $0.name == "policies/event" })
        let index = try #require(runner.repeatables.firstIndex { $0.name == "functions/tenant_ids" })
        runner.repeatables[index].sql = runner.repeatables[index].sql.replacingOccurrences(
            of: "BEGIN\n", with: "BEGIN\n    -- changed by a test\n")
        let (admin, app, changed) = (database.adminConninfo, database.appConninfo, runner)
        #expect(try await runBlocking { try !changed.isCurrent(conninfo: app) })
        #expect(try await runBlocking { try changed.run(adminConninfo: admin) } == ["functions/tenant_ids"])
        #expect(try await runBlocking { try changed.run(adminConninfo: admin) } == [])
        #expect(try await runBlocking { try changed.isCurrent(conninfo: app) })
        let body = try await database.asAdmin {
            try $0.query("SELECT prosrc FROM pg_proc WHERE oid = 'audit.tenant_ids()'::regprocedure").rows[0].decode(String.self, at: 0)
        }
        #expect(body.contains("changed by a test"), "the function's definition is now the file's")
    }

    @Test("no audit function is executable by PUBLIC; the service role keeps its own grants")
    func functionGrants() async throws {
        let publicExecutable = try await database.asAdmin { connection in
            try connection.query("""
                SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'audit'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')
                """).rows.map { try $0.decode(String.self, at: 0) }
        }
        #expect(publicExecutable == [])
        let appExecutable = try await database.asApp { connection in
            try connection.query("SELECT has_function_privilege('audit.authenticate_api_key(bytea)', 'EXECUTE')").rows[0].decode(Bool.self, at: 0)
        }
        #expect(appExecutable)
    }

    @Test("an applied migration whose file changed is refused with a clear message")
    func editedMigration() async throws {
        var migrations = try Migration.load(from: try Migration.defaultDirectory())
        migrations[1].sql += "\n-- edited afterwards\n"
        let runner = MigrationRunner(migrations: migrations, retentionDays: 90, logger: Logger(label: "test"))
        let admin = database.adminConninfo
        let error = await #expect(throws: MigrationError.self) {
            try await runBlocking { try runner.run(adminConninfo: admin) }
        }
        #expect(error?.message.contains("0002_tables was changed after it was applied") == true)
    }

    @Test("daily partitions cover the retention window and a week ahead")
    func partitions() async throws {
        // The template was migrated earlier, maybe yesterday: migrate again, as serve does at start.
        let runner = MigrationRunner(
            migrations: try Migration.load(from: try Migration.defaultDirectory()), retentionDays: 90, logger: Logger(label: "test"))
        let admin = database.adminConninfo
        try await runBlocking { _ = try runner.run(adminConninfo: admin) }
        let (count, oldest, newest) = try await database.asAdmin { connection in
            let row = try connection.query("""
                SELECT count(*), min(c.relname), max(c.relname)
                FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'audit.event'::regclass
                """).rows[0]
            return (try row.decode(Int.self, at: 0), try row.decode(String.self, at: 1), try row.decode(String.self, at: 2))
        }
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd"
        formatter.timeZone = TimeZone(identifier: "UTC")
        let day = 86_400.0
        #expect(count >= 98)
        #expect(oldest <= "event_p" + formatter.string(from: Date().addingTimeInterval(-90 * day)))
        #expect(newest >= "event_p" + formatter.string(from: Date().addingTimeInterval(7 * day)))
    }

    @Test("the service role cannot create partitions outside the allowed range")
    func partitionBounds() async throws {
        let error = await #expect(throws: PostgresError.self) {
            try await database.asApp { connection in
                try connection.query("SELECT audit.ensure_partitions(current_date, current_date + 365)")
            }
        }
        #expect(error?.sqlState == "22023")
        let made = try await database.asApp { connection in
            try connection.query("SELECT audit.ensure_partitions(current_date + 30, current_date + 30)").rows[0].decode(Int.self, at: 0)
        }
        #expect(made == 2)  // day +30 of event and of event_target
    }
}
