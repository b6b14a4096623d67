import AuditCore
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresLibPQ
import Testing
import TestSupport

/// SPEC §6.4: the service's own entries read as sentences and name the vendor by
/// `AUDITLOG_VENDOR_NAME`, never by a publisher key's internal label or id.
@Suite("the service's own entries: sentences that name the vendor, never a key")
struct OwnEntriesTests {
    let database: TestDatabase
    let key: String

    init() async throws {
        database = try await TestCluster.shared.database("own_entries")
        let admin = database.adminConninfo
        key = try await runBlocking { try PublisherKeys.create(name: "billing backend", tenant: nil, adminConninfo: admin).key }
    }

    func send(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil,
              credential: String? = nil) async throws -> TestResponse {
        var headers: HTTPFields = [.authorization: "Bearer \(credential ?? key)"]
        if body != nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
    }

    @Test("settings, holds, streams, exports and support views each read as a sentence naming the vendor")
    func sentences() async throws {
        var app = try await TestApp(conninfo: database.appConninfo) { $0.vendorName = "Acme Cloud" }
        app.services.streamAllowHosts = try DestinationAllowList.parse("127.0.0.1")
        try await app.test { client in
            let seed = try await send(client, .post, "/v1/events",
                                      #"{"tenant": "org_own", "action": "user.login_failed", "actor": {"id": "u_9", "name": "Eve Ng"}, "metadata": {"plan": {"name": "Pro"}}}"#)
            #expect(seed.status == .created)
            #expect(try await send(client, .put, "/v1/tenant/settings?tenant=org_own", #"{"legal_hold": true, "reason": "litigation 42"}"#).status == .ok)
            #expect(try await send(client, .put, "/v1/tenant/settings?tenant=org_own", #"{"legal_hold": false, "reason": "case closed"}"#).status == .ok)
            #expect(try await send(client, .put, "/v1/tenant/settings?tenant=org_own", #"{"retention_days": 30}"#).status == .ok)
            let settings = JSONValue.parse(Array(try await send(client, .get, "/v1/tenant/settings?tenant=org_own").body.readableBytesView))
            let pending = settings?.objectValue?["pending"]?.arrayValue ?? []
            #expect(pending.count == 2)
            if let id = pending.first?.objectValue?["change_id"]?.stringValue {
                #expect(try await send(client, .delete, "/v1/tenant/settings/pending/\(id)?tenant=org_own").status == .ok)
            }
            let created = try await send(client, .post, "/v1/streams?tenant=org_own", #"{"kind": "webhook", "url": "http://127.0.0.1:9/hook"}"#)
            #expect(created.status == .created)
            let stream = JSONValue.parse(Array(created.body.readableBytesView))?.objectValue?["id"]?.stringValue ?? ""
            #expect(try await send(client, .patch, "/v1/streams/\(stream)?tenant=org_own", #"{"paused": true}"#).status == .ok)
            #expect(try await send(client, .get, "/v1/events/export?tenant=org_own&format=ndjson").status == .ok)
            let support = TestApp.token("org_own", .support, actor: "sam")
            #expect(try await send(client, .get, "/v1/events?limit=1", credential: support).status == .ok)

            let log = try await send(client, .get, "/v1/events?limit=200", credential: TestApp.token("org_own", .owner))
            let events = JSONValue.parse(Array(log.body.readableBytesView))?.objectValue?["events"]?.arrayValue ?? []
            let messages = events.compactMap { $0.objectValue?["message"]?.stringValue }
            let expected = [
                "Eve Ng: user.login_failed",
                "Acme Cloud placed a legal hold: litigation 42",
                "Acme Cloud requested lifting the legal hold, taking effect on ",
                "Acme Cloud requested a retention of 30 days instead of 90, taking effect on ",
                "Acme Cloud cancelled the pending ",
                "Acme Cloud created a webhook log stream to http://127.0.0.1:9/hook",
                "Acme Cloud paused the log stream \(stream)",
                "Acme Cloud exported the audit log as ndjson",
                "Reader sam, support staff of Acme Cloud, viewed the audit log",
            ]
            for sentence in expected {
                #expect(messages.contains { $0.hasPrefix(sentence) }, "\(sentence) in \(messages)")
            }
            let body = String(buffer: log.body)
            #expect(!body.contains("billing backend"))
            #expect(!messages.contains { $0.contains("key_") })
            for event in events where event.objectValue?["actor"]?.objectValue?["type"]?.stringValue == "service" {
                #expect(event.objectValue?["actor"]?.objectValue?["name"]?.stringValue == "Acme Cloud")
                #expect(event.objectValue?["metadata"]?.objectValue?["publisher_key"]?.stringValue?.hasPrefix("key_") == true)
            }
        }
    }

    @Test("an object value is written by its name, label or id; a message without a template reads actor: action")
    func values() async throws {
        let renderer = try await MessageRenderer.bundled()
        let validator = EventValidator(now: Date(), retentionDays: 90, redactor: Redactor())
        func message(_ json: String) throws -> String {
            let draft = try validator.validate(JSONValue.parse(Array(json.utf8))!, index: 0).get()
            return renderer.render(draft)
        }
        #expect(try message(#"{"tenant": "t", "action": "subscription.changed", "actor": {"id": "u", "name": "Eve"}, "before": {"plan": {"name": "Starter"}}, "after": {"plan": {"name": "Pro"}}}"#)
                == "Eve changed the subscription from Starter to Pro")
        #expect(try message(#"{"tenant": "t", "action": "user.login_failed", "actor": {"id": "u", "name": "Eve"}}"#) == "Eve: user.login_failed")
    }
}
