import AuditCore
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresLibPQ
import Testing
import TestSupport

@Suite("exports: streamed, exact, safe in a spreadsheet, recorded")
struct ExportTests {
    let database: TestDatabase

    init() async throws {
        database = try await TestCluster.shared.database("export")
        try await database.asAdmin { connection in
            try connection.query("INSERT INTO audit.tenant (tenant_id) VALUES ('org_x'), ('org_y')")
            try connection.query("""
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, actor_name, message, hash)
                SELECT t, 'x' || g, now() - g * interval '1 second', 'a.b', 'a', 'user', 'u', CASE WHEN g = 7 THEN '=cmd|calc' ELSE 'Al, "x"' END,
                       'line one' || chr(10) || 'line two ' || g, repeat('a', 64)
                FROM generate_series(1, 2500) AS g, (VALUES ('org_x'), ('org_y')) AS tenants(t)
                """)
        }
    }

    func export(_ client: any TestClientProtocol, _ query: String, _ token: String) async throws -> TestResponse {
        try await client.execute(uri: "/v1/events/export?\(query)", method: .get, headers: [.authorization: "Bearer \(token)"])
    }

    @Test("CSV: a header, every event exactly once across pages, RFC 4180 quoting, formulas neutralised")
    func csv() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await export(client, "format=csv", TestApp.token("org_x", .admin))
            #expect(response.status == .ok)
            #expect(response.headers[.contentDisposition]?.hasPrefix("attachment; filename=\"auditlog-org_x-") == true)
            let text = String(buffer: response.body)
            #expect(text.hasPrefix("id,occurred_at,received_at,tenant,"))
            // Records end in CRLF; embedded newlines are LF inside quotes.
            let records = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(records.count == 1 + 2500)
            #expect(Set(records.dropFirst().map { $0.prefix { $0 != "," } }).count == 2500)
            #expect(text.contains(",'=cmd|calc,"))
            #expect(!text.contains(",=cmd"))
            #expect(text.contains("\"Al, \"\"x\"\"\""))
            #expect(!text.contains("org_y"))
        }
    }

    @Test("NDJSON: one parseable object per event, filters applied")
    func ndjson() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await export(client, "format=ndjson&q=two", TestApp.token("org_y", .owner))
            let lines = String(buffer: response.body).split(separator: "\n")
            #expect(lines.count == 2500)
            #expect(lines.allSatisfy { JSONValue.parse(Array($0.utf8))?.objectValue?["tenant"] == .string("org_y") })
        }
    }

    @Test("support and member may not export; every export is recorded")
    func rolesAndRecord() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let support = try await export(client, "format=csv", TestApp.token("org_x", .support))
            #expect(support.status == .forbidden)
            let member = try await export(client, "format=csv", TestApp.token("org_x", .member))
            #expect(member.status == .forbidden)
            let owner = try await export(client, "format=ndjson&category=a", TestApp.token("org_x", .owner, actor: "exporter_1"))
            #expect(owner.status == .ok)
        }
        let recorded = try await database.asAdmin { connection in
            try connection.query("""
                SELECT count(*) FROM audit.event WHERE tenant_id = 'org_x' AND action = 'audit_log.exported'
                AND actor_id = 'exporter_1' AND metadata -> 'filters' ->> 'category' = 'a'
                """).rows[0].decode(Int.self, at: 0)
        }
        #expect(recorded == 1)
    }
}
