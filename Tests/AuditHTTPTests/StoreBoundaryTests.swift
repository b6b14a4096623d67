import AuditCore
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresLibPQ
import Testing
import TestSupport

/// Database work is bounded in time, cancelled when its client leaves, and kept in bulkheads:
/// each observed on the real database (`pg_stat_activity`), never by timing.
@Suite("the store boundary: timeouts, cancellation, bulkheads", .serialized)  // each holds table locks on the suite's database
struct StoreBoundaryTests {
    let database: TestDatabase
    let key: String

    init() async throws {
        database = try await TestCluster.shared.database("boundary")
        let admin = database.adminConninfo
        key = try await runBlocking { try PublisherKeys.create(name: "backend", tenant: nil, adminConninfo: admin).key }
    }

    var auth: HTTPFields { [.authorization: "Bearer \(key)"] }

    @Test("a statement past its time limit answers 503 timeout in the SPEC shape and frees its connection")
    func statementTimeout() async throws {
        let app = try await TestApp(conninfo: database.appConninfo) {
            $0.readConnections = 1
            $0.readTimeout = .seconds(3)
        }
        try await app.test { client in
            // Once on the one read connection first, so its plans and relation caches are made before the
            // clock matters. Under a full parallel test run on two cores that first planning alone can pass
            // the limit; what it loads stays cached, so it is asked again until it answers (a few times at most).
            var warm = try await client.execute(uri: "/v1/events?tenant=org_slow", method: .get, headers: auth)
            for _ in 0..<5 where warm.status == .serviceUnavailable {
                warm = try await client.execute(uri: "/v1/events?tenant=org_slow", method: .get, headers: auth)
            }
            #expect(warm.status == .ok)
            // Every list reads the tenant's retention from audit.tenant first: make that wait.
            let lock = try await TableLock.hold("audit.tenant", conninfo: database.adminConninfo)
            let response = try await client.execute(uri: "/v1/events?tenant=org_slow", method: .get, headers: auth)
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] != nil)
            let body = try ErrorBody(response.body)
            #expect(body.error.code == "timeout")
            #expect(!body.error.message.contains("statement"))
            try await lock.release()
            // The one read connection is back, clean (else this waits for it and fails as unavailable).
            // Asked with a generous limit of its own: only the freeing is under test here, not speed.
            let after = try await app.database.withTenant(TenantID("org_slow")!, roleName: "admin", on: app.database.readPool,
                                                          timeout: .seconds(120)) { connection in
                try connection.query("SELECT count(*) FROM audit.tenant").rows[0].decode(Int.self, at: 0)
            }
            #expect(after == 0, "the query ran on the freed connection (org_slow has no tenant row)")
            let idle = try await database.activeBackends("auditlog-read")
            #expect(idle.active == 0, "no read statement is left running")
        }
    }

    @Test("an export whose first page cannot be read is refused with 503 before any 200, and records nothing")
    func exportCheckedBefore200() async throws {
        let app = try await TestApp(conninfo: database.appConninfo) { $0.exportPageTimeout = .seconds(2) }
        try await app.test { client in
            let lock = try await TableLock.hold("audit.event", conninfo: database.adminConninfo)
            let response = try await client.execute(uri: "/v1/events/export?tenant=org_export&from=2026-01-01&format=ndjson",
                                                    method: .get, headers: auth)
            try await lock.release()
            #expect(response.status == .serviceUnavailable)
            #expect(try ErrorBody(response.body).error.code == "timeout")
        }
        let recorded = try await database.asAdmin { connection in
            try connection.query("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_export' AND action = 'audit_log.exported'")
                .rows[0].decode(Int.self, at: 0)
        }
        #expect(recorded == 0)
    }

    @Test("a client that disconnects mid-search cancels the query on the server")
    func disconnectCancels() async throws {
        let app = try await TestApp(conninfo: database.appConninfo) {
            $0.readConnections = 1
            $0.readTimeout = .seconds(120)  // only the cancellation can end the statement
        }
        let lock = try await TableLock.hold("audit.tenant", conninfo: database.adminConninfo)
        let key = self.key
        try await app.live { port in
            let client = try RawHTTP(port: port)
            client.send("GET /v1/events?tenant=org_gone HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(key)\r\n\r\n")
            try await database.eventually("the search waiting on the lock") { try await $0.activeBackends("auditlog-read").waitingOnLock == 1 }
            client.abandon()
            // Still locked, so the statement did not finish: it was cancelled.
            try await database.eventually("the search cancelled") { try await $0.activeBackends("auditlog-read").active == 0 }
        }
        try await lock.release()
    }

    @Test("a client that disconnects during its second search on a connection cancels that query too")
    func disconnectCancelsOnKeptConnection() async throws {
        let app = try await TestApp(conninfo: database.appConninfo) {
            $0.readConnections = 1
            $0.readTimeout = .seconds(120)
        }
        let key = self.key
        try await app.live { port in
            let client = try RawHTTP(port: port)
            let search = "GET /v1/events?tenant=org_gone HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(key)\r\n\r\n"
            client.send(search)
            #expect(client.readResponse()?.hasPrefix("HTTP/1.1 200") == true)
            let lock = try await TableLock.hold("audit.tenant", conninfo: database.adminConninfo)
            client.send(search)
            try await database.eventually("the search waiting on the lock") { try await $0.activeBackends("auditlog-read").waitingOnLock == 1 }
            client.abandon()
            try await database.eventually("the search cancelled") { try await $0.activeBackends("auditlog-read").active == 0 }
            try await lock.release()
        }
    }

    @Test("ingest and key lookups complete while every read connection waits on a slow search")
    func bulkheads() async throws {
        let app = try await TestApp(conninfo: database.appConninfo) {
            $0.readConnections = 2
            $0.readTimeout = .seconds(120)
            $0.acquireTimeout = .seconds(120)  // the two reads that queue for a connection wait it out
        }
        let admin = database.adminConninfo
        let freshKey = try await runBlocking { try PublisherKeys.create(name: "fresh", tenant: nil, adminConninfo: admin).key }
        // Digests are read, never written by ingest: locking them stalls reads only.
        let lock = try await TableLock.hold("audit.digest", conninfo: database.adminConninfo)
        try await app.test { client in
            let auth = self.auth
            let reads = Task {
                try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                    for _ in 0..<4 {
                        group.addTask { try await client.execute(uri: "/v1/digests?tenant=org_bulk", method: .get, headers: auth).status }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            try await database.eventually("both read connections waiting") { try await $0.activeBackends("auditlog-read").waitingOnLock == 2 }
            let event = #"{"tenant": "org_bulk", "action": "client.renamed", "actor": {"id": "u_1"}}"#
            let ingest = try await client.execute(uri: "/v1/events", method: .post,
                                                  headers: [.authorization: "Bearer \(freshKey)", .contentType: "application/json"],
                                                  body: ByteBuffer(string: event))
            #expect(ingest.status == .created)
            // The reads are still held: ingest and the new key's lookup went past them.
            #expect(try await database.activeBackends("auditlog-read").waitingOnLock == 2)
            try await lock.release()
            let statuses = try await reads.value
            #expect(statuses == Array(repeating: .ok, count: 4))
        }
    }
}
