import AuditCore
import Foundation
import Testing

@Suite("messages written from templates")
struct MessageRendererTests {
    func draft(_ fields: [String: JSONValue]) throws -> EventDraft {
        var members: [String: JSONValue] = ["tenant": .string("org_42"), "actor": .object(["id": .string("u_7"), "name": .string("Alice Smith")])]
        for (key, value) in fields { members[key] = value }
        return try EventValidator(now: Date(), retentionDays: 90, redactor: Redactor()).validate(.object(members), index: 0).get()
    }

    @Test("a known action uses its template, with old and new values")
    func template() async throws {
        let renderer = try await MessageRenderer.bundled()
        let renamed = try draft([
            "action": .string("client.renamed"),
            "targets": .array([.object(["type": .string("client"), "id": .string("c_1"), "name": .string("Acme Ltd")])]),
            "before": .object(["name": .string("Acme")]), "after": .object(["name": .string("Acme Ltd")]),
        ])
        #expect(renderer.render(renamed) == "Alice Smith renamed client Acme to Acme Ltd")
        let role = try draft([
            "action": .string("user.role_changed"),
            "targets": .array([.object(["type": .string("user"), "id": .string("u_9"), "name": .string("Carol")])]),
            "before": .object(["role": .string("member")]), "after": .object(["role": .string("admin")]),
        ])
        #expect(renderer.render(role) == "Alice Smith changed the role of Carol from member to admin")
    }

    @Test("an unknown action gets a plain sentence; a given message is kept as is")
    func fallback() async throws {
        let renderer = try await MessageRenderer.bundled()
        let archived = try draft([
            "action": .string("report.archived"),
            "targets": .array([.object(["type": .string("report"), "id": .string("r_1"), "name": .string("Q3")])]),
        ])
        #expect(renderer.render(archived) == "Alice Smith archived report Q3")
        let given = try draft(["action": .string("client.renamed"), "message": .string("Custom <b>text</b>")])
        #expect(renderer.render(given) == "Custom <b>text</b>")
    }
}
