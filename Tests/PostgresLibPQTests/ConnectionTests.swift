import Foundation
import PostgresLibPQ
import Testing
import TestSupport

@Suite("a connection: errors, prepared statements, transactions, COPY")
struct ConnectionTests {
    let database: TestDatabase

    init() async throws {
        database = try await TestCluster.shared.database("connection")
    }

    @Test("a server error carries its SQLSTATE, and its description never shows bound values")
    func serverError() async throws {
        let error = await #expect(throws: PostgresError.self) {
            try await database.asApp { connection in
                try connection.query("SELECT \("secret-value-42")::integer")
            }
        }
        #expect(error?.code == .server)
        #expect(error?.sqlState == "22P02")
        #expect(error?.message.contains("secret-value-42") == true)  // the server quotes it…
        #expect(error.map { "\($0)" }?.contains("secret-value-42") == false)  // …the description does not
    }

    @Test("division by zero is 22012 and the connection stays usable")
    func recoverAfterError() async throws {
        let value = try await database.asApp { connection in
            #expect(throws: PostgresError.self) { try connection.query("SELECT 1 / \(0)") }
            return try connection.query("SELECT \(7) + 1").rows[0].decode(Int.self, at: 0)
        }
        #expect(value == 8)
    }

    @Test("the same SQL is prepared once per connection, whatever its binds")
    func preparedOnce() async throws {
        let prepared = try await database.asApp { connection in
            for number in 0..<5 {
                _ = try connection.query("SELECT \(number)::integer + 1")
            }
            return try connection.query("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::integer%'")
                .rows[0].decode(Int.self, at: 0)
        }
        #expect(prepared == 1)
    }

    @Test("a throwing transaction body leaves nothing behind")
    func rollback() async throws {
        struct Boom: Error {}
        let count = try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: "CREATE TABLE rollback_probe (value text)")
            #expect(throws: Boom.self) {
                try connection.withTransaction { connection in
                    try connection.query("INSERT INTO rollback_probe VALUES (\("kept?"))")
                    throw Boom()
                }
            }
            #expect(connection.isIdle)
            return try connection.query("SELECT count(*) FROM rollback_probe").rows[0].decode(Int.self, at: 0)
        }
        #expect(count == 0)
    }

    @Test("a deferred transaction opens with its first statements, sent with its opening in one round trip")
    func deferredTransaction() async throws {
        let opening: [PostgresQuery] = ["SELECT set_config('auditlog.tenant', \("org_deferred"), true)"]
        let seen = try await database.asApp { connection in
            try connection.withDeferredTransaction(opening: opening) { connection -> [String] in
                #expect(!connection.isInTransaction)  // nothing sent before the first query
                let results = try connection.queries([
                    "SELECT current_setting('auditlog.tenant', true)",
                    "SELECT \("second") || txid_current()::text",
                ])
                #expect(connection.isInTransaction)
                let third = try connection.query("SELECT txid_current()::text")
                return [try results[0].rows[0].decode(String.self, at: 0), try results[1].rows[0].decode(String.self, at: 0),
                        "second" + (try third.rows[0].decode(String.self, at: 0))]
            }
        }
        #expect(seen[0] == "org_deferred")
        #expect(seen[1] == seen[2])  // one transaction
        // Local to the transaction: the setting ended with it.
        let after = try await database.asApp { try $0.query("SELECT coalesce(current_setting('auditlog.tenant', true), '')").rows[0].decode(String.self, at: 0) }
        #expect(after == "")
    }

    @Test("a read-only deferred transaction refuses writes, and its unanswered COMMIT is read before the session's next use")
    func readOnlyDeferredTransaction() async throws {
        let opening: [PostgresQuery] = ["SELECT set_config('auditlog.tenant', \("org_read"), true)"]
        let seen = try await database.asApp { connection in
            let error = #expect(throws: PostgresError.self) {
                try connection.withDeferredTransaction(opening: opening, readOnly: true) { connection in
                    try connection.query("CREATE TEMP TABLE read_only_probe (n integer)")
                }
            }
            #expect(error?.sqlState == "25006")
            #expect(connection.isIdle)
            var values: [String] = []
            for round in 0..<3 {
                values.append(try connection.withDeferredTransaction(opening: opening, readOnly: true) { connection in
                    try connection.query("SELECT current_setting('auditlog.tenant') || current_setting('transaction_read_only') || \(round)")
                        .rows[0].decode(String.self, at: 0)
                })
            }
            // The last COMMIT may still be unanswered: the transaction counts as ended, and the
            // session's next use (checkAlive, then the query) reads the answer first.
            #expect(!connection.isInTransaction)
            #expect(connection.checkAlive())
            values.append(try connection.query("SELECT coalesce(current_setting('auditlog.tenant', true), '') || current_setting('transaction_read_only')")
                .rows[0].decode(String.self, at: 0))
            return values
        }
        #expect(seen == ["org_readon0", "org_readon1", "org_readon2", "off"])
    }

    @Test("a statement new to the session is prepared inside its deferred transaction, so the opening's statement_timeout bounds its wait for a lock")
    func preparedUnderOpeningTimeout() async throws {
        let lock = try await TableLock.hold("audit.tenant", conninfo: database.adminConninfo)
        let error = await #expect(throws: PostgresError.self) {
            try await database.asApp { connection in
                // The session's own bound, different in kind: prepared before the opening, the
                // parse would wait under it and end as 55P03 (lock_not_available) after 30 s.
                try connection.executeScript(unsafeSQL: "SET lock_timeout = '30s'")
                return try connection.withDeferredTransaction(opening: ["SELECT set_config('statement_timeout', \("200"), true)"], readOnly: true) { connection in
                    try connection.query("SELECT count(*) FROM audit.tenant").rows[0].decode(Int.self, at: 0)
                }
            }
        }
        try await lock.release()
        #expect(error?.sqlState == "57014")
    }

    @Test("a failure in a deferred transaction's round trip is the statement's error; the transaction is rolled back and the connection usable")
    func deferredFailure() async throws {
        let opening: [PostgresQuery] = ["SELECT set_config('auditlog.tenant', \("org_deferred"), true)"]
        let value = try await database.asApp { connection in
            let error = #expect(throws: PostgresError.self) {
                try connection.withDeferredTransaction(opening: opening) { connection in
                    try connection.queries(["SELECT 1", "SELECT 1 / \(0)", "SELECT 2"])
                }
            }
            #expect(error?.sqlState == "22012")
            #expect(connection.isIdle)
            #expect(throws: PostgresError.self) {
                try connection.withDeferredTransaction(opening: ["SELECT set_config('no such setting', \("x"), true)"]) { connection in
                    try connection.query("SELECT 1")
                }
            }
            #expect(connection.isIdle)
            // A script in a deferred transaction runs inside it, after the opening.
            let script = try connection.withDeferredTransaction(opening: opening) { connection in
                try connection.executeScript(unsafeSQL: "SET LOCAL application_name = 'deferred'")
                return try connection.query("SELECT current_setting('auditlog.tenant') || current_setting('application_name')")
                    .rows[0].decode(String.self, at: 0)
            }
            #expect(script == "org_deferreddeferred")
            return try connection.query("SELECT \(7) + 1").rows[0].decode(Int.self, at: 0)
        }
        #expect(value == 8)
    }

    @Test("COPY FROM STDIN stores tabs, newlines, backslashes and NULL exactly")
    func copyIn() async throws {
        let rows: [[String?]] = (0..<1000).map { index in
            ["row \(index)\twith tab\nand newline \\ backslash", index.isMultiple(of: 10) ? nil : "value \(index)"]
        }
        let stored = try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: "CREATE TABLE copy_probe (id serial, a text, b text)")
            let copied = try connection.copyIn(unsafeSQL: "COPY copy_probe (a, b) FROM STDIN", rows: rows)
            #expect(copied == 1000)
            return try connection.query("SELECT a, b FROM copy_probe ORDER BY id").rows.map {
                [try $0.decode(String?.self, at: 0), try $0.decode(String?.self, at: 1)]
            }
        }
        #expect(stored == rows)
    }

    @Test("a failing COPY reports the server's error and leaves the connection usable")
    func copyFailure() async throws {
        let after = try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: "CREATE TABLE copy_typed (n integer)")
            let error = #expect(throws: PostgresError.self) {
                try connection.copyIn(unsafeSQL: "COPY copy_typed (n) FROM STDIN", rows: [["1"], ["not a number"]])
            }
            #expect(error?.sqlState == "22P02")
            return try connection.query("SELECT count(*) FROM copy_typed").rows[0].decode(Int.self, at: 0)
        }
        #expect(after == 0)
    }

    @Test("an unreachable server is a connection failure")
    func unreachable() async throws {
        let error = await #expect(throws: PostgresError.self) {
            try await runBlocking { _ = try PostgresConnection(conninfo: "host=/nonexistent/auditlog port=5432 user=x dbname=x") }
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.isConnectionProblem == true)
    }
}
