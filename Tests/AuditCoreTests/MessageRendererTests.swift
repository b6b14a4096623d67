@testable import AuditCore
import Foundation
import Mustache
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

    @Test("an action without a template reads \"actor: action\"; a given message is kept as is")
    func fallback() async throws {
        let renderer = try await MessageRenderer.bundled()
        let archived = try draft([
            "action": .string("report.archived"),
            "targets": .array([.object(["type": .string("report"), "id": .string("r_1"), "name": .string("Q3")])]),
        ])
        #expect(renderer.render(archived) == "Alice Smith: report.archived")
        let given = try draft(["action": .string("client.renamed"), "message": .string("Custom <b>text</b>")])
        #expect(renderer.render(given) == "Custom <b>text</b>")
    }

    @Test("an object in a message is written by its name, label or id, else as its canonical JSON (the same text in every process)")
    func objectValues() async throws {
        let renderer = try await MessageRenderer.bundled()
        let event = try draft([
            "action": .string("subscription.changed"),
            "before": .object(["plan": .object(["tier": .string("b"), "seats": .number(5), "name": .string("Starter"), "annual": .bool(false)])]),
            "after": .object(["plan": .object(["tier": .string("c"), "seats": .number(12), "name": .string("Growth"), "annual": .bool(true)])]),
        ])
        let expected = "Alice Smith changed the subscription from Starter to Growth"
        #expect(renderer.render(event) == expected)
        #expect(renderer.renderWithMustache(event) == expected)
        #expect(renderer.compiled["subscription.changed"]?.render(event) == expected, "the compiled template writes objects itself")
        let labelled = try draft([
            "action": .string("subscription.changed"),
            "before": .object(["plan": .object(["label": .string("Basic"), "seats": .number(5)])]),
            "after": .object(["plan": .object(["id": .number(7), "seats": .number(12)])]),
        ])
        #expect(renderer.render(labelled) == "Alice Smith changed the subscription from Basic to 7")
        let anonymous = try draft([
            "action": .string("subscription.changed"),
            "before": .object(["plan": .object(["tier": .string("b"), "seats": .number(5), "annual": .bool(false)])]),
            "after": .object(["plan": .object(["tier": .string("c"), "seats": .number(12), "annual": .bool(true)])]),
        ])
        let json = #"Alice Smith changed the subscription from {"annual":false,"seats":5,"tier":"b"} to {"annual":true,"seats":12,"tier":"c"}"#
        #expect(renderer.render(anonymous) == json)
        #expect(renderer.renderWithMustache(anonymous) == json)
    }

    @Test("a deeper lookup through, above and below changed paths writes what Mustache writes, mostly without it")
    func deeperPaths() throws {
        let source = "[{{{before.plan.name}}}][{{#after.plan}}{{{after.plan.name}}}/{{{after.plan}}}{{/after.plan}}][{{^before.plan.name}}none{{/before.plan.name}}]"
        let template = try #require(MessageTemplate(source))
        let renderer = MessageRenderer(library: MustacheLibrary(templates: ["x.changed": try MustacheTemplate(string: source)]),
                                       compiled: ["x.changed": template])
        let changeSets: [[String: JSONValue]] = [
            ["before": .object(["plan": .string("Starter")]), "after": .object(["plan": .object(["name": .string("Growth"), "seats": 5])])],
            ["changes": .object(["plan": .object(["old": .object(["name": .string("Starter")]), "new": .null]),
                                 "plan.name": .object(["new": .string("Team")])])],
            ["changes": .object(["plan.name": .object(["old": .string("A"), "new": .string("B")]), "plan.seats": .object(["new": 3])])],
            ["before": .object(["plan": .array([.string("a")])]), "after": .object(["plan": .object(["name": .array([1])])])],
            // Only the object above the looked-up path changed: its member is found through it.
            ["changes": .object(["plan": .object(["old": .object(["name": .string("Starter")]), "new": .object(["name": .string("Growth")])])])],
        ]
        var compiledRenders = 0
        for fields in changeSets {
            var event = fields
            event["action"] = .string("x.changed")
            let draft = try draft(event)
            #expect(renderer.render(draft) == renderer.renderWithMustache(draft), "\(fields)")
            if template.render(draft) != nil { compiledRenders += 1 }
        }
        #expect(compiledRenders == 4, "only the lists are left to Mustache")
    }

    @Test("every shipped template compiles, and its compiled form writes exactly what Mustache writes")
    func compiledEqualsMustache() async throws {
        let renderer = try await MessageRenderer.bundled()
        let folder = try #require(Bundle.module.resourceURL).appendingPathComponent("Templates")
        let shipped = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".mustache") }
        #expect(renderer.compiled.count == shipped.count, "a shipped template did not compile")
        let values: [JSONValue] = [.null, .string(""), .string("Growth"), .string("  two\n words\u{00A0}here "), .number(5), .number(2.5),
                                   .bool(true), .bool(false), .object(["name": .string("Starter")]), .array([.string("a")]),
                                   .object(["name": .string("Growth"), "seats": .number(7), "tier": .null, "addons": .array([.string("sso")])]),
                                   .object(["plan": .object(["name": .string("Team"), "before": .bool(true)]), "after": .string("x")])]
        let targetSets: [[JSONValue]] = [
            [], [.object(["type": .string("client"), "id": .string("c_1")])],
            [.object(["type": .string("client"), "id": .string("c_1"), "name": .string("Acme Ltd")]),
             .object(["type": .string("client"), "id": .string("c_2"), "name": .string("Globex")])],
        ]
        var compared = 0, compiledRenders = 0
        for action in renderer.compiled.keys.sorted() {
            for (index, value) in values.enumerated() {
                for targets in targetSets {
                    let fields = ["name", "role", "plan", "brand", "last4"]
                    var before: [String: JSONValue] = [:], after: [String: JSONValue] = [:]
                    for (n, field) in fields.enumerated() {
                        before[field] = values[(index + n) % values.count]
                        after[field] = n % 2 == 0 ? value : values[(index + n + 3) % values.count]
                    }
                    for changes in [["before": JSONValue.object(before), "after": .object(after)],
                                    ["changes": .object(["plan.name": .object(["old": value, "new": .string("Growth")]),
                                                         "role": .object(["new": value])])]] {
                        var fields: [String: JSONValue] = ["action": .string(action), "targets": .array(targets),
                                                           "metadata": .object(["integration": value])]
                        fields.merge(changes) { $1 }
                        let event = try draft(fields)
                        #expect(renderer.render(event) == renderer.renderWithMustache(event), "\(action) with \(value)")
                        compared += 1
                        if renderer.compiled[action]?.render(event) != nil { compiledRenders += 1 }
                    }
                }
            }
        }
        #expect(compared == renderer.compiled.count * values.count * targetSets.count * 2)
        #expect(compiledRenders * 10 > compared * 7, "most messages should not need Mustache: \(compiledRenders) of \(compared)")
    }
}
