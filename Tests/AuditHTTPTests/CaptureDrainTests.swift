import AuditCore
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresLibPQ
import Testing
import TestSupport

/// SPEC §10: captured changes of an attached table become ordinary events of their tenant's log,
/// read back through the API as a reader would.
@Suite("capture drain: a SaaS table's committed changes become events, once each, with the app's actor and without excluded columns")
struct CaptureDrainTests {
    let database: TestDatabase
    let key: String
    let role: String

    init() async throws {
        database = try await TestCluster.shared.database("capture_drain")
        let admin = database.adminConninfo
        key = try await runBlocking { try PublisherKeys.create(name: "capture test", tenant: nil, adminConninfo: admin).key }
        role = "saas_" + database.name.suffix(12).filter { $0.isLetter || $0.isNumber }.lowercased()
        let role = role
        try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: """
                CREATE ROLE \(role) NOLOGIN;
                CREATE TABLE public.client (id text PRIMARY KEY, org_id text, name text, password_hash text, updated_at timestamptz);
                GRANT SELECT, INSERT, UPDATE, DELETE ON public.client TO \(role);
                """)
            _ = try Attachments.attach(AttachRequest(table: "client", tenantColumn: "org_id", category: "client_mapping", displayColumn: "name",
                                                     ignoreColumns: ["updated_at"], excludeColumns: ["password_hash"]), on: connection)
        }
    }

    func asSaaS(_ statements: [String], actor: String? = nil, rollback: Bool = false) async throws {
        try await database.asRole(role, statements, actor: actor, rollback: rollback)
    }

    func events(_ client: any TestClientProtocol, _ query: String) async throws -> [[String: JSONValue]] {
        let response = try await client.execute(uri: "/v1/events?\(query)", method: .get, headers: [.authorization: "Bearer \(key)"])
        #expect(response.status == .ok)
        return JSONValue.parse(Array(response.body.readableBytesView))?.objectValue?["events"]?.arrayValue?.compactMap(\.objectValue) ?? []
    }

    @Test("insert, update and delete become client.created/updated/deleted with actor, target and diff; two drains at once write each once; a rollback writes nothing")
    func drained() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        let drain = CaptureDrain(services: app.services, logger: Logger(label: "test"))
        try await asSaaS(["INSERT INTO client VALUES ('c_1', 'org_cap', 'Acme', 'hash-SECRET-1', now())"],
                         actor: #"{"type":"user","id":"u_7","name":"Alice"}"#)
        try await asSaaS(["UPDATE client SET name = 'Acme Ltd', password_hash = 'hash-SECRET-2' WHERE id = 'c_1'"], actor: #"{"type":"user","id":"u_8"}"#)
        try await asSaaS(["UPDATE client SET updated_at = now() + interval '1 hour' WHERE id = 'c_1'"])  // ignored: no event
        try await asSaaS(["INSERT INTO client VALUES ('c_2', 'org_cap', 'Beta', 'x', now())"], rollback: true)
        try await asSaaS(["DELETE FROM client WHERE id = 'c_1'"], actor: "not json")
        try await app.test { client in
            // Two replicas drain at once: each capture is one event all the same.
            async let first = drain.drainOnce()
            async let second = drain.drainOnce()
            _ = try await (first, second)
            _ = try await drain.drainOnce()
            let found = try await events(client, "tenant=org_cap&limit=50").reversed() as [[String: JSONValue]]
            #expect(found.map { $0["action"]?.stringValue ?? "" } == ["client.created", "client.updated", "client.deleted"])
            #expect(found.map { $0["id"]?.stringValue ?? "" }.allSatisfy { $0.hasPrefix("cap.") })
            #expect(found.first?["actor"]?.objectValue?["id"]?.stringValue == "u_7")
            #expect(found.first?["category"]?.stringValue == "client_mapping")
            let target = found.first?["targets"]?.arrayValue?.first?.objectValue
            #expect(target?["type"]?.stringValue == "client" && target?["id"]?.stringValue == "c_1" && target?["name"]?.stringValue == "Acme")
            let changes = found.dropFirst().first?["changes"]?.objectValue
            #expect(changes?["name"]?.objectValue?["old"]?.stringValue == "Acme" && changes?["name"]?.objectValue?["new"]?.stringValue == "Acme Ltd")
            #expect(found.dropFirst().first?["metadata"]?.objectValue?["source"]?.stringValue == "database")
            // A malformed actor falls back to the database role, and says so.
            #expect(found.last?["actor"]?.objectValue?["type"]?.stringValue == "database_role")
            #expect(found.last?["metadata"]?.objectValue?["actor_refused"]?.stringValue == "not json")
            // The excluded column is in no event and no export.
            let export = try await client.execute(uri: "/v1/events/export?tenant=org_cap&format=ndjson", method: .get, headers: [.authorization: "Bearer \(key)"])
            let text = String(buffer: export.body)
            #expect(!text.contains("SECRET") && !text.contains("password_hash"))
            let left = try await database.asAdmin { try $0.query("SELECT count(*) FROM audit.capture").rows[0].decode(Int.self, at: 0) }
            #expect(left == 0)
            _ = try await drain.drainOnce()  // nothing left: nothing written again
            let count = try await events(client, "tenant=org_cap&limit=50&q=action:client.*").count
            #expect(count == 3)
        }
    }
}
