import AuditCore
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresLibPQ
import Testing
import TestSupport

@Suite("POST /v1/events against the real database")
struct IngestTests {
    let database: TestDatabase
    let key: String
    let restrictedKey: String

    init() async throws {
        database = try await TestCluster.shared.database("ingest")
        let admin = database.adminConninfo
        key = try await runBlocking { try PublisherKeys.create(name: "backend", tenant: nil, adminConninfo: admin).key }
        restrictedKey = try await runBlocking {
            try PublisherKeys.create(name: "org_r only", tenant: TenantID("org_r"), adminConninfo: admin).key
        }
    }

    struct Created: Decodable {
        var ids: [String]
        var duplicates: Int
    }

    func post(_ client: any TestClientProtocol, _ body: String, key: String? = nil,
              contentType: String = "application/json") async throws -> TestResponse {
        var headers: HTTPFields = [.contentType: contentType]
        headers[.authorization] = "Bearer \(key ?? self.key)"
        return try await client.execute(uri: "/v1/events", method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    func count(_ sql: String = "SELECT count(*) FROM audit.event") async throws -> Int {
        try await database.asAdmin { try $0.query(PostgresQuery(unsafeSQL: sql)).rows[0].decode(Int.self, at: 0) }
    }

    static func event(tenant: String = "org_42", id: String? = nil, extra: String = "") -> String {
        let idPart = id.map { #""id": "\#($0)", "occurred_at": "\#(Timestamp.format(Date().addingTimeInterval(-60)))", "# } ?? ""
        return #"{\#(idPart)"tenant": "\#(tenant)", "action": "client.renamed", "actor": {"id": "u_7", "name": "Alice Smith"}, "targets": [{"type": "client", "id": "c_1478", "name": "Acme Ltd"}]\#(extra)}"#
    }

    static func batch(_ events: [String]) -> String {
        #"{"events": [\#(events.joined(separator: ","))]}"#
    }

    @Test("the SPEC example is stored with its diff, message, hash and target row")
    func specExample() async throws {
        let body = #"""
            {"tenant": "org_42", "id": "9f1c", "occurred_at": "\#(Timestamp.format(Date().addingTimeInterval(-30)))",
             "action": "client.renamed", "category": "client_mapping",
             "actor": {"type": "user", "id": "u_7", "name": "Alice Smith", "email": "alice@example.com"},
             "targets": [{"type": "client", "id": "c_1478", "name": "Acme Ltd"}],
             "before": {"name": "Acme"}, "after": {"name": "Acme Ltd"},
             "context": {"ip": "203.0.113.9", "user_agent": "curl/8", "request_id": "req_1"},
             "metadata": {"integration": "quickbooks"}, "outcome": "success"}
            """#
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await post(client, body)
            #expect(response.status == .created)
            let created = try JSONDecoder().decode(Created.self, from: Data(buffer: response.body))
            #expect(created.ids == ["9f1c"])
            #expect(created.duplicates == 0)
        }
        let row = try await database.asAdmin { connection in
            let row = try connection.query("""
                SELECT message, changes::text, changed_fields, category, hash, (SELECT count(*) FROM audit.event_target
                WHERE event_id = '9f1c' AND target_type = 'client' AND target_id = 'c_1478') FROM audit.event WHERE id = '9f1c'
                """).rows[0]
            return (try row.decode(String.self, at: 0), try row.decode(String.self, at: 1), try row.decode([String].self, at: 2),
                    try row.decode(String.self, at: 3), try row.decode(String.self, at: 4), try row.decode(Int.self, at: 5))
        }
        #expect(row.0 == "Alice Smith renamed client Acme to Acme Ltd")
        #expect(row.1 == #"{"name": {"new": "Acme Ltd", "old": "Acme"}}"#)
        #expect(row.2 == ["name"])
        #expect(row.3 == "client_mapping")
        #expect(row.4.count == 64)
        #expect(row.5 == 1)
        let tenant = try await database.asAdmin { connection in
            try connection.query("SELECT retention_days, legal_hold FROM audit.tenant WHERE tenant_id = 'org_42'").rows.map {
                "\(try $0.decode(Int.self, at: 0)) \(try $0.decode(Bool.self, at: 1))"
            }
        }
        #expect(tenant == ["90 false"])
    }

    @Test("a batch of 1000 valid events is one 201 and 1000 rows")
    func fullBatch() async throws {
        let events = (0..<1000).map { Self.event(tenant: "org_batch", id: "b\($0)") }
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await post(client, Self.batch(events))
            #expect(response.status == .created)
            #expect(try JSONDecoder().decode(Created.self, from: Data(buffer: response.body)).ids.count == 1000)
        }
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_batch'") == 1000)
    }

    @Test("999 good events and 1 bad one: 422 naming index and field, nothing written")
    func allOrNothing() async throws {
        var events = (0..<999).map { Self.event(tenant: "org_atomic", id: "a\($0)") }
        events.insert(#"{"tenant": "org_atomic", "action": "Client Renamed", "actor": {"id": "u"}}"#, at: 500)
        let body = Self.batch(events)
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await post(client, body)
            #expect(response.status == .unprocessableContent)
            let body = try ErrorBody(response.body)
            #expect(body.error.code == "invalid_events")
            #expect(body.error.details.map(\.index) == [500])
            #expect(body.error.details.map(\.field) == ["action"])
        }
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_atomic'") == 0)
    }

    @Test("a secret in after is stored as [redacted] and appears nowhere in the database")
    func redaction() async throws {
        let body = Self.event(tenant: "org_secret", extra: #", "before": {"password": "old-s3cret-value"}, "after": {"password": "new-s3cret-value"}, "context": {"api_key": "ctx-s3cret-value"}"#)
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await post(client, body)
            #expect(response.status == .created)
        }
        #expect(try await count("SELECT count(*) FROM audit.event e WHERE e.tenant_id = 'org_secret'") == 1)
        #expect(try await count("SELECT count(*) FROM audit.event e WHERE e::text LIKE '%s3cret%'") == 0)
        #expect(try await count("SELECT count(*) FROM audit.event e WHERE changes -> 'password' ->> 'new' = '[redacted]'") == 1)
    }

    @Test("a publisher marks a tenant's own sensitive keys in settings; that tenant's events are redacted by them, others' not")
    func tenantRedactKeys() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let set = try await client.execute(uri: "/v1/tenant/settings?tenant=org_red", method: .put,
                headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"redact_keys": ["internal_note", "employeeNumber"]}"#))
            #expect(set.status == .ok)
            #expect(String(buffer: set.body).contains(#""redact_keys":["internal_note","employeeNumber"]"#))
            let owner = try await client.execute(uri: "/v1/tenant/settings", method: .put,
                headers: [.authorization: "Bearer \(TestApp.token("org_red", .owner))", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"redact_keys": []}"#))
            #expect(owner.status == .forbidden)
            for tenant in ["org_red", "org_plain"] {
                let response = try await post(client, Self.event(tenant: tenant,
                    extra: #", "context": {"internalNote": "fired for cause", "employee_number": "E-1234", "company": "Acme"}"#))
                #expect(response.status == .created)
            }
        }
        let stored = try await database.asAdmin { connection in
            try connection.query("SELECT tenant_id, context::text FROM audit.event WHERE tenant_id IN ('org_red', 'org_plain') AND action = 'client.renamed' ORDER BY 1").rows
                .map { "\(try $0.decode(String.self, at: 0)) \(try $0.decode(String.self, at: 1))" }
        }
        #expect(stored.count == 2)
        #expect(stored.first { $0.hasPrefix("org_red ") }?.contains("fired for cause") == false)
        #expect(stored.first { $0.hasPrefix("org_red ") }?.contains("E-1234") == false)
        #expect(stored.first { $0.hasPrefix("org_red ") }?.contains("Acme") == true)
        #expect(stored.first { $0.hasPrefix("org_plain ") }?.contains("fired for cause") == true)
    }

    @Test("a retried event is stored once and counted as a duplicate")
    func idempotency() async throws {
        let body = Self.event(tenant: "org_retry", id: "once")
        try await TestApp(conninfo: database.appConninfo).test { client in
            let first = try JSONDecoder().decode(Created.self, from: Data(buffer: try await post(client, body).body))
            let second = try await post(client, body)
            #expect(second.status == .created)
            let retried = try JSONDecoder().decode(Created.self, from: Data(buffer: second.body))
            #expect(first.duplicates == 0)
            #expect(retried.duplicates == 1)
            #expect(retried.ids == ["once"])
        }
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_retry'") == 1)
    }

    @Test("a batch that repeats a stored event among new ones: the new ones are written with their targets, the repeat is a duplicate")
    func retryAmongNew() async throws {
        let stored = Self.event(tenant: "org_mixed", id: "kept")
        try await TestApp(conninfo: database.appConninfo).test { client in
            #expect(try await post(client, stored).status == .created)
            // The first attempt (plain inserts, for ids all new) fails on "kept"; the second
            // sorts it out as a duplicate and still writes the others.
            let response = try await post(client, Self.batch([
                Self.event(tenant: "org_mixed", id: "new_1"), stored, Self.event(tenant: "org_mixed", id: "new_2"),
            ]))
            #expect(response.status == .created)
            let created = try JSONDecoder().decode(Created.self, from: Data(buffer: response.body))
            #expect(created.ids == ["new_1", "kept", "new_2"])
            #expect(created.duplicates == 1)
        }
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_mixed'") == 3)
        #expect(try await count("SELECT count(*) FROM audit.event_id WHERE tenant_id = 'org_mixed'") == 3)
        #expect(try await count("SELECT count(*) FROM audit.event_target WHERE tenant_id = 'org_mixed'") == 3)
    }

    @Test("one event per id: the same id at another time or with other content is 409 id_conflict, and the first stays")
    func idConflict() async throws {
        let t1 = Timestamp.format(Date().addingTimeInterval(-120)), t2 = Timestamp.format(Date().addingTimeInterval(-60))
        @Sendable func event(_ id: String, _ time: String, action: String = "client.renamed") -> String {
            #"{"id": "\#(id)", "occurred_at": "\#(time)", "tenant": "org_ids", "action": "\#(action)", "actor": {"id": "u_7"}}"#
        }
        try await TestApp(conninfo: database.appConninfo).test { client in
            #expect(try await post(client, event("dup", t1)).status == .created)
            let retry = try await post(client, event("dup", t1))
            #expect(retry.status == .created)
            #expect(try JSONDecoder().decode(Created.self, from: Data(buffer: retry.body)).duplicates == 1)
            for body in [event("dup", t2), event("dup", t1, action: "client.deleted"), Self.batch([event("fresh", t2), event("dup", t2)])] {
                let response = try await post(client, body)
                #expect(response.status == .conflict)
                let error = try ErrorBody(response.body).error
                #expect(error.code == "id_conflict")
                #expect(error.details.first?.field == "id")
            }
            // Two different events under one id in one batch: the same answer, saying so.
            let twice = try await post(client, Self.batch([event("pair", t1), event("pair", t2)]))
            #expect(twice.status == .conflict)
            let problem = try ErrorBody(twice.body).error.details.first
            #expect(problem?.index == 1)
            #expect(problem?.message.contains("also the id of a different event sent with it") == true, "\(String(describing: problem))")
            let stored = try await post(client, event("dup", t2))
            #expect(try ErrorBody(stored.body).error.details.first?.message.contains("already stored") == true, "\(String(buffer: stored.body))")
            let shown = try await client.execute(uri: "/v1/events/dup", method: .get,
                                                 headers: [.authorization: "Bearer \(TestApp.token("org_ids", .admin))"])
            #expect(shown.status == .ok)
            #expect(String(buffer: shown.body).contains(#""occurred_at":"\#(t1)""#))
        }
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_ids'") == 1)
        #expect(try await count("SELECT count(*) FROM audit.event_id WHERE tenant_id = 'org_ids'") == 1)
    }

    @Test("a 5 MiB body is refused with 413 before it is read")
    func tooLarge() async throws {
        let big = Self.batch(Array(repeating: Self.event(extra: #", "message": "\#(String(repeating: "x", count: 4000))""#), count: 1300))
        #expect(big.utf8.count > 5_000_000)
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await post(client, big)
            #expect(response.status == .contentTooLarge)
            #expect(try ErrorBody(response.body).error.code == "body_too_large")
        }
    }

    @Test("JSON with \\u0000, not JSON, or the wrong content type: clear 4xx, never 500")
    func badBodies() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let nul = try await post(client, Self.event(tenant: "org_nul", extra: #", "message": "a\u0000b""#))
            #expect(nul.status == .unprocessableContent)
            #expect(try ErrorBody(nul.body).error.details.first?.field == "message")
            let notJSON = try await post(client, "{\"tenant\": ")
            #expect(notJSON.status == .badRequest)
            #expect(try ErrorBody(notJSON.body).error.code == "invalid_json")
            let text = try await post(client, Self.event(), contentType: "text/plain")
            #expect(text.status == .badRequest)
            #expect(try ErrorBody(text.body).error.code == "invalid_content_type")
            let empty = try await post(client, #"{"events": []}"#)
            #expect(empty.status == .unprocessableContent)
        }
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_nul'") == 0)
    }

    @Test("missing, malformed and unknown keys are 401 with the error body")
    func credentials() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let missing = try await client.execute(uri: "/v1/events", method: .post, headers: [.contentType: "application/json"],
                                                   body: ByteBuffer(string: Self.event()))
            #expect(missing.status == .unauthorized)
            #expect(try ErrorBody(missing.body).error.code == "missing_credentials")
            for bad in ["alk_nope", PublisherKeys.generate(), "Basic abc", "' OR 1=1 --"] {
                let response = try await post(client, Self.event(), key: bad)
                #expect(response.status == .unauthorized)
                #expect(try ErrorBody(response.body).error.code == "invalid_credentials")
            }
        }
    }

    @Test("a key restricted to one tenant cannot write another, nor create it")
    func restrictedKey() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let other = try await post(client, Self.batch([Self.event(tenant: "org_r"), Self.event(tenant: "org_intruded")]), key: restrictedKey)
            #expect(other.status == .forbidden)
            #expect(try ErrorBody(other.body).error.details == [.init(index: 1, field: "tenant", message: "is not this key's tenant")])
            #expect(try await post(client, Self.event(tenant: "org_r"), key: restrictedKey).status == .created)
        }
        #expect(try await count("SELECT count(*) FROM audit.tenant WHERE tenant_id = 'org_intruded'") == 0)
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id IN ('org_r', 'org_intruded')") == 1)
    }

    @Test("an event older than its tenant's own shorter retention is refused, with nothing written")
    func tenantRetention() async throws {
        try await database.asAdmin { connection in
            try connection.query("INSERT INTO audit.tenant (tenant_id, retention_days) VALUES ('org_short', 7)")
        }
        let old = #"{"tenant": "org_short", "occurred_at": "\#(Timestamp.format(Date().addingTimeInterval(-10 * 86_400)))", "action": "a.b", "actor": {"id": "u"}}"#
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await post(client, Self.batch([Self.event(tenant: "org_short"), old]))
            #expect(response.status == .unprocessableContent)
            #expect(try ErrorBody(response.body).error.details.map(\.index) == [1])
        }
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_short'") == 0)
    }

    @Test("200 concurrent single-event POSTs: 200 rows, 200 distinct acknowledgements, fewer transactions")
    func groupCommit() async throws {
        let app = try await TestApp(conninfo: database.appConninfo, poolSize: 3)
        let ids = try await app.test { client in
            try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<200 {
                    group.addTask {
                        let response = try await post(client, Self.event(tenant: "org_group\(index % 5)", id: "g\(index)"))
                        #expect(response.status == .created)
                        return try JSONDecoder().decode(Created.self, from: Data(buffer: response.body)).ids[0]
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(Set(ids).count == 200)
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id LIKE 'org_group%'") == 200)
        let transactions = await app.services.ingestor.transactions
        #expect(transactions < 200)
        #expect(transactions >= 1)
    }
}
