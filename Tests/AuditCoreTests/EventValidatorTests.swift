import AuditCore
import Foundation
import Testing

@Suite("validating a publisher's event")
struct EventValidatorTests {
    let now = Date(timeIntervalSince1970: 1_795_255_200)  // 2026-11-21T10:00:00Z
    var validator: EventValidator { EventValidator(now: now, retentionDays: 90, redactor: Redactor(extraKeys: ["ssn"])) }

    func event(_ overrides: [String: JSONValue] = [:], removing: [String] = []) -> JSONValue {
        var members: [String: JSONValue] = [
            "tenant": .string("org_42"),
            "action": .string("client.renamed"),
            "actor": .object(["id": .string("u_7"), "name": .string("Alice Smith")]),
        ]
        for (key, value) in overrides { members[key] = value }
        for key in removing { members.removeValue(forKey: key) }
        return .object(members)
    }

    func problems(_ value: JSONValue) -> [String] {
        switch validator.validate(value, index: 3) {
        case .success: return []
        case .failure(let found):
            #expect(found.list.allSatisfy { $0.index == 3 })
            return found.list.map(\.field)
        }
    }

    func draft(_ value: JSONValue) throws -> EventDraft {
        try validator.validate(value, index: 0).get()
    }

    @Test("a minimal event is valid; category defaults to the action's first word, outcome to success")
    func minimal() throws {
        let draft = try draft(event())
        #expect(draft.category == "client")
        #expect(draft.outcome == .success)
        #expect(draft.actor.type == "user")
        #expect(draft.targets == [])
    }

    @Test("each broken field is named", arguments: [
        ("tenant", JSONValue.string("org 42")), ("tenant", .number(42)), ("action", .string("Client.Renamed")),
        ("action", .string("client..renamed")), ("category", .string("Billing")), ("outcome", .string("maybe")),
        ("occurred_at", .string("2026-11-21")), ("occurred_at", .string("2026-11-21T10:06:00Z")),
        ("occurred_at", .string("2026-08-01T00:00:00Z")), ("message", .string("")), ("metadata", .array([])),
        ("context", .string("x")), ("targets", .object([:])), ("unexpected", .bool(true)),
    ])
    func brokenField(_ field: String, _ value: JSONValue) {
        #expect(problems(event([field: value])).contains(field))
    }

    @Test("required fields", arguments: ["tenant", "action", "actor"])
    func required(_ field: String) {
        #expect(problems(event(removing: [field])) == [field])
    }

    @Test("actor needs an id; targets need type and id, at most 20")
    func actorAndTargets() {
        #expect(problems(event(["actor": .object(["name": .string("x")])])) == ["actor.id"])
        let target = JSONValue.object(["type": .string("client"), "id": .string("c_1")])
        #expect(problems(event(["targets": .array(Array(repeating: target, count: 20))])) == [])
        #expect(problems(event(["targets": .array(Array(repeating: target, count: 21))])) == ["targets"])
        #expect(problems(event(["targets": .array([.object(["id": .string("c")])])])) == ["targets[0].type"])
    }

    @Test("an id needs occurred_at, to make retries idempotent")
    func idNeedsTime() {
        #expect(problems(event(["id": .string("9f1c")])) == ["occurred_at"])
        #expect(problems(event(["id": .string("9f1c"), "occurred_at": .string("2026-11-21T09:00:00Z")])) == [])
        #expect(problems(event(["id": .string("bad id"), "occurred_at": .string("2026-11-21T09:00:00Z")])) == ["id"])
    }

    @Test("limits: NUL characters, long strings, deep nesting, metadata keys, 64 KiB")
    func limits() {
        #expect(problems(event(["message": .string("a\u{0}b")])) == ["message"])
        #expect(problems(event(["context": .object(["k\u{0}": .string("v")])])) == ["context"])
        #expect(problems(event(["message": .string(String(repeating: "é", count: 4096))])) == [])
        #expect(problems(event(["message": .string(String(repeating: "é", count: 4097))])) == ["message"])
        var deep = JSONValue.string("bottom")
        for _ in 0..<8 { deep = .object(["n": deep]) }
        #expect(problems(event(["context": deep])) == [])
        #expect(problems(event(["context": .object(["n": deep])])) == ["context"])
        let many = Dictionary(uniqueKeysWithValues: (0..<51).map { ("k\($0)", JSONValue.number(1)) })
        #expect(problems(event(["metadata": .object(many)])) == ["metadata"])
        let bulky = Dictionary(uniqueKeysWithValues: (0..<20).map { ("k\($0)", JSONValue.string(String(repeating: "x", count: 4000))) })
        #expect(problems(event(["context": .object(bulky)])) == ["(event)"])
    }

    @Test("the 64 KiB limit is the canonical size to the byte, with escapes and numbers counted as written")
    func sizeBoundary() {
        // Seventeen strings of escaped characters (2 bytes each when written), numbers, then a filler
        // string sized so that the whole event is exactly the limit, and one byte over it.
        func sized(_ filler: Int) -> JSONValue {
            var context = Dictionary(uniqueKeysWithValues: (0..<17).map { ("k\($0)", JSONValue.string(String(repeating: "\n", count: 1900))) })
            context["n"] = .array([.number(0.1), .number(-12345.678), .number(1e300), .number(42)])
            context["filler"] = .string(String(repeating: "x", count: filler))
            return event(["context": .object(context)])
        }
        let room = EventValidator.maxEventBytes - sized(0).canonicalByteCount
        #expect((1...4096).contains(room))
        #expect(sized(room).canonicalByteCount == EventValidator.maxEventBytes)
        #expect(problems(sized(room)) == [])
        #expect(problems(sized(room + 1)) == ["(event)"])
        // An over-size event whose strings also break a rule is told both.
        #expect(problems(event(["message": .string("a\u{0}b"), "context": sized(room + 1).objectValue!["context"]!])) == ["message", "(event)"])
    }

    @Test("before/after become a diff of dotted paths; arrays compare whole")
    func diff() throws {
        let draft = try draft(event([
            "before": .object(["name": .string("Acme"), "plan": .object(["tier": .string("basic"), "seats": .number(5)]),
                               "tags": .array([.string("a")]), "gone": .bool(true)]),
            "after": .object(["name": .string("Acme Ltd"), "plan": .object(["tier": .string("pro"), "seats": .number(5)]),
                              "tags": .array([.string("a"), .string("b")]), "added": .number(1)]),
        ]))
        #expect(draft.changes == [
            "name": Change(old: .string("Acme"), new: .string("Acme Ltd")),
            "plan.tier": Change(old: .string("basic"), new: .string("pro")),
            "tags": Change(old: .array([.string("a")]), new: .array([.string("a"), .string("b")])),
            "gone": Change(old: .bool(true), new: .null),
            "added": Change(old: .null, new: .number(1)),
        ])
        #expect(Changes.changedFields(draft.changes) == ["added", "gone", "name", "plan", "plan.tier", "tags"])
    }

    @Test("a dotted key beside the nested path it spells diffs the same whatever the dictionaries' order")
    func collidingPaths() throws {
        // "a.b" and {"a": {"b": …}} flatten to one path; the last in sorted key order ("a.b") wins.
        var outcomes = Set<JSONValue>()
        for capacity in [0, 8, 64, 512] {
            for dottedFirst in [true, false] {
                var before = [String: JSONValue](minimumCapacity: capacity)
                let entries: [(String, JSONValue)] = [("a.b", .number(1)), ("a", .object(["b": .number(2)])), ("z", .number(3))]
                for (key, value) in dottedFirst ? entries : entries.reversed() { before[key] = value }
                let draft = try draft(event(["before": .object(before), "after": .object([:])]))
                outcomes.insert(Changes.json(draft.changes))
            }
        }
        #expect(outcomes == [.object(["a.b": .object(["old": .number(1), "new": .null]), "z": .object(["old": .number(3), "new": .null])])])
    }

    @Test("changes may be sent directly, but not together with before/after")
    func directChanges() throws {
        let given = JSONValue.object(["plan": .object(["old": .string("a"), "new": .string("b")])])
        #expect(try draft(event(["changes": given])).changes == ["plan": Change(old: .string("a"), new: .string("b"))])
        #expect(problems(event(["changes": given, "after": .object([:])])) == ["changes"])
        #expect(problems(event(["changes": .object(["plan": .string("b")])])) == ["changes.plan"])
    }

    @Test("sensitive values are redacted in changes, context and metadata, at any depth, any case")
    func redaction() throws {
        let draft = try draft(event([
            "before": .object(["Password": .string("hunter2"), "card": .object(["number": .string("4111")])]),
            "after": .object(["Password": .string("hunter3"), "card": .object(["number": .string("4242")])]),
            "context": .object(["headers": .object(["X-API-Key": .string("k1"), "access_token": .string("t1")])]),
            "metadata": .object(["SSN": .string("123-45-6789"), "company": .string("Acme")]),
        ]))
        #expect(draft.changes["Password"] == Change(old: Redactor.marker, new: Redactor.marker))
        #expect(draft.changes["card.number"] == Change(old: Redactor.marker, new: Redactor.marker))
        #expect(draft.context == ["headers": .object(["X-API-Key": Redactor.marker, "access_token": Redactor.marker])])
        #expect(draft.metadata == ["SSN": Redactor.marker, "company": .string("Acme")])
        let stored = StoredEvent(draft: draft, receivedAt: now, message: "m")
        for secret in ["hunter2", "hunter3", "4111", "4242", "k1", "t1", "123-45-6789"] {
            #expect(!stored.hashedDocument.canonicalText.contains(secret))
        }
    }
}
