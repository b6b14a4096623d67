import AuditCore
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresLibPQ
import Testing
import TestSupport

/// Inputs found from outside to reach PostgreSQL and come back as 500: each is now a 4xx with
/// the SPEC's error body, and the service keeps answering afterwards.
@Suite("hostile input: never a 500")
struct HostileInputTests {
    let database: TestDatabase
    let key: String

    init() async throws {
        database = try await TestCluster.shared.database("hostile")
        let admin = database.adminConninfo
        key = try await runBlocking { try PublisherKeys.create(name: "backend", tenant: nil, adminConninfo: admin).key }
    }

    var auth: HTTPFields { [.authorization: "Bearer \(key)"] }

    func expectError(_ response: TestResponse, _ status: HTTPResponse.Status, _ code: String,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
        #expect(response.status == status, sourceLocation: sourceLocation)
        #expect(try ErrorBody(response.body).error.code == code, sourceLocation: sourceLocation)
    }

    @Test("every route answers a query parameter it does not take with 400 unknown_parameter, naming it", arguments: [
        ("GET", "/v1/events"), ("GET", "/v1/events/e1"), ("GET", "/v1/actors/u_1/events"), ("GET", "/v1/targets/client/c_1/events"),
        ("GET", "/v1/events/export"), ("GET", "/v1/categories"), ("GET", "/v1/tenant/settings"), ("PUT", "/v1/tenant/settings"),
        ("DELETE", "/v1/tenant/settings/pending/x"), ("POST", "/v1/viewer-tokens"), ("GET", "/v1/digests"), ("GET", "/v1/digests/keys"),
        ("GET", "/v1/events/feed"), ("GET", "/v1/events/live"), ("GET", "/v1/streams"), ("POST", "/v1/events"),
        ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"), ("GET", "/openapi.yaml"),
    ])
    func unknownParameters(_ method: String, _ path: String) async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await client.execute(uri: "\(path)?tenant=org_h&bogus_param=1", method: HTTPRequest.Method(method)!,
                                                    headers: auth + [.contentType: "application/json"], body: ByteBuffer(string: "{}"))
            try expectError(response, .badRequest, "unknown_parameter")
            // Routes that take no tenant name that parameter first.
            let takesTenant = path.hasPrefix("/v1") && !["/v1/digests/keys", "/v1/events", "/v1/viewer-tokens"].contains(path) || method == "GET"
                && path == "/v1/events"
            #expect(try ErrorBody(response.body).error.details.first?.field == (takesTenant ? "bogus_param" : "tenant"), "\(method) \(path)")
        }
    }

    @Test("dates before year 0001 (also after applying an offset) are 400 on every read route", arguments: [
        "from=0000-01-01", "to=0000-12-31", "q=after:0000-01-01", "q=before:0000-06-01",
        "from=0001-01-01T00:00:00%2B14:00", "from=10000-01-01", "to=9999-12-31T23:59:59-01:00",
    ])
    func ancientDates(_ query: String) async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            for path in ["/v1/events", "/v1/categories", "/v1/targets/client/c_1/events", "/v1/actors/u_1/events",
                         "/v1/events/export"] {
                let response = try await client.execute(uri: "\(path)?tenant=org_h&\(query)", method: .get, headers: auth)
                try expectError(response, .badRequest, "invalid_query")
                // The message quotes what was sent, not only the parameter's name.
                let sent = (query.removingPercentEncoding ?? query).replacingOccurrences(of: "q=", with: "")
                #expect(try ErrorBody(response.body).error.message.contains(sent), "\(path)?\(query)")
            }
        }
    }

    @Test("the widest dates the API takes are answered, not failed", arguments: [
        "from=0001-01-01", "to=9999-12-31T23:59:59Z", "q=hello%20after:0001-01-01", "changed=plan&to=9999-12-31",
    ])
    func widestDates(_ query: String) async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            for path in ["/v1/events", "/v1/categories", "/v1/targets/client/c_1/events", "/v1/events/export"] {
                let response = try await client.execute(uri: "\(path)?tenant=org_h&\(query)", method: .get, headers: auth)
                #expect(response.status == .ok, "\(path)?\(query)")
            }
        }
    }

    @Test("a NUL character in q, actor, changed or a path is 400", arguments: [
        "/v1/events?tenant=org_h&q=a%00b", "/v1/events?tenant=org_h&actor=u%00", "/v1/events?tenant=org_h&changed=plan%00",
        "/v1/categories?tenant=org_h&q=%00", "/v1/actors/u%00x/events?tenant=org_h", "/v1/events?tenant=org_h&q=actor:%00",
    ])
    func nulInQuery(_ uri: String) async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await client.execute(uri: uri, method: .get, headers: auth)
            #expect(response.status == .badRequest)
            #expect(try ErrorBody(response.body).error.code == "invalid_query")
        }
    }

    @Test("a viewer token with NUL in its actor cannot be minted, and one signed by hand is refused")
    func nulInToken() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            for field in [#""actor_id": "sup\u0000"#, #""actor_id": "sup_1", "actor_name": "Sam\u0000"#] {
                let body = #"{"tenant": "org_h", "role": "support", \#(field)"}"#
                let response = try await client.execute(uri: "/v1/viewer-tokens", method: .post,
                                                        headers: auth + [.contentType: "application/json"], body: ByteBuffer(string: body))
                try expectError(response, .unprocessableContent, "invalid_token_request")
            }
            let now = Date()
            let forged = ViewerTokenCodec(key: TestApp.signingKey).mint(ViewerClaims(
                tenant: TenantID("org_h")!, role: .support, actorID: "sup\u{0}", actorName: "Sam\u{0}", issuedAt: now,
                expiresAt: now.addingTimeInterval(600)))
            let read = try await client.execute(uri: "/v1/events", method: .get, headers: [.authorization: "Bearer \(forged)"])
            try expectError(read, .unauthorized, "invalid_credentials")
        }
    }

    @Test("an action whose first word is too long to be the default category is 422 naming the field")
    func longFirstWord() async throws {
        let action = String(repeating: "a", count: 126) + ".x"
        try await TestApp(conninfo: database.appConninfo).test { client in
            let body = #"{"tenant": "org_h", "action": "\#(action)", "actor": {"id": "u_1"}}"#
            let response = try await client.execute(uri: "/v1/events", method: .post,
                                                    headers: auth + [.contentType: "application/json"], body: ByteBuffer(string: body))
            try expectError(response, .unprocessableContent, "invalid_events")
            #expect(try ErrorBody(response.body).error.details.map(\.field) == ["action"])
            let withCategory = #"{"tenant": "org_h", "action": "\#(action)", "category": "misc", "actor": {"id": "u_1"}}"#
            let stored = try await client.execute(uri: "/v1/events", method: .post,
                                                  headers: auth + [.contentType: "application/json"], body: ByteBuffer(string: withCategory))
            #expect(stored.status == .created)
        }
    }

    @Test("the same id and time three times in one batch is stored once; the copies are duplicates")
    func duplicateInBatch() async throws {
        let event = #"{"tenant": "org_dup", "id": "same", "occurred_at": "\#(Timestamp.format(Date().addingTimeInterval(-30)))", "action": "a.b", "actor": {"id": "u"}}"#
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await client.execute(uri: "/v1/events", method: .post, headers: auth + [.contentType: "application/json"],
                                                    body: ByteBuffer(string: #"{"events": [\#(event), \#(event), \#(event)]}"#))
            #expect(response.status == .created)
            struct Created: Decodable { var ids: [String]; var duplicates: Int }
            let created = try JSONDecoder().decode(Created.self, from: Data(buffer: response.body))
            #expect(created.ids == ["same", "same", "same"])
            #expect(created.duplicates == 2)
        }
        let rows = try await database.asAdmin {
            try $0.query("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_dup'").rows[0].decode(Int.self, at: 0)
        }
        #expect(rows == 1)
    }

    @Test("the global retention has one source, the database's: ingest, settings and defaults all follow it")
    func oneRetentionSource() async throws {
        let own = try await TestCluster.shared.database("retention_source")
        try await own.asAdmin { try $0.executeScript(unsafeSQL: "UPDATE audit.retention_policy SET global_days = 30") }
        let admin = own.adminConninfo
        let key = try await runBlocking { try PublisherKeys.create(name: "backend", tenant: nil, adminConninfo: admin).key }
        let headers: HTTPFields = [.authorization: "Bearer \(key)", .contentType: "application/json"]
        let app = try await TestApp(conninfo: own.appConninfo)
        #expect(app.database.globalRetentionDays == 30)
        try await app.test { client in
            // 40 days old: inside 90, outside the database's 30, where no partition exists.
            let old = #"{"tenant": "org_30", "id": "old", "occurred_at": "\#(Timestamp.format(Date().addingTimeInterval(-40 * 86_400)))", "action": "a.b", "actor": {"id": "u"}}"#
            let response = try await client.execute(uri: "/v1/events", method: .post, headers: headers, body: ByteBuffer(string: old))
            try expectError(response, .unprocessableContent, "invalid_events")
            #expect(try ErrorBody(response.body).error.details.map(\.field) == ["occurred_at"])
            let longer = try await client.execute(uri: "/v1/tenant/settings?tenant=org_30", method: .put, headers: headers,
                                                  body: ByteBuffer(string: #"{"retention_days": 60}"#))
            try expectError(longer, .unprocessableContent, "invalid_settings")
            let settings = try await client.execute(uri: "/v1/tenant/settings?tenant=org_30", method: .get, headers: headers)
            #expect(String(buffer: settings.body).contains(#""retention_days":30"#))
        }
    }

    /// Over a real socket: what HTTP client libraries never send.
    func rawExchange(_ send: @escaping @Sendable (RawHTTP) -> Void) async throws -> String {
        try await TestApp(conninfo: database.appConninfo).live { port in
            try await runBlocking {
                let connection = try RawHTTP(port: port)
                send(connection)
                guard let answer = connection.readUntilClosed() else { throw ObservationError(message: "the server never closed the connection") }
                return answer
            }
        }
    }

    func head(_ extra: String) -> String {
        "POST /v1/events HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(key)\r\nContent-Type: application/json\r\n\(extra)\r\n"
    }

    @Test("a body over 4 MiB is 413 and the connection is closed, with or without Content-Length", arguments: [true, false])
    func tooLarge(_ declared: Bool) async throws {
        let body = Array(#"{"events": ["#.utf8) + Array(repeating: UInt8(ascii: " "), count: 5 * 1024 * 1024) + Array("]}".utf8)
        let head = declared ? self.head("Content-Length: \(body.count)\r\n") : self.head("Transfer-Encoding: chunked\r\n")
        let answer = try await rawExchange { connection in
            connection.send(head)
            if declared {
                connection.send(body)
            } else {
                var offset = 0
                while offset < body.count {
                    let chunk = body[offset..<min(offset + 65_536, body.count)]
                    guard connection.send(Array(String(chunk.count, radix: 16).utf8) + [13, 10] + chunk + [13, 10]) else { return }
                    offset += chunk.count
                }
                connection.send("0\r\n\r\n")
            }
        }
        #expect(answer.hasPrefix("HTTP/1.1 413"))
        #expect(answer.contains(#""code":"body_too_large""#))
    }

    @Test("a malformed chunk and a body cut short are 400, not 500", arguments: ["chunk", "short"])
    func brokenBodies(_ kind: String) async throws {
        let head = kind == "chunk" ? self.head("Transfer-Encoding: chunked\r\n") : self.head("Content-Length: 500\r\n")
        let answer = try await rawExchange { connection in
            connection.send(head)
            if kind == "chunk" {
                connection.send("5\r\n{\"eve\r\nzz-not-hex\r\n")
            } else {
                connection.send(#"{"tenant": "org_h", "#)
                connection.finishSending()
            }
        }
        #expect(answer.hasPrefix("HTTP/1.1 400"), "\(answer.prefix(120))")
        #expect(!answer.contains("500 Internal"))
    }
}

extension HTTPFields {
    static func + (lhs: HTTPFields, rhs: HTTPFields) -> HTTPFields {
        var merged = lhs
        merged.append(contentsOf: rhs)
        return merged
    }
}
