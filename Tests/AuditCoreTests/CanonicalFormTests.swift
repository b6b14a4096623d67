import AuditCore
import Foundation
import Testing

@Suite("canonical JSON, times and hashes")
struct CanonicalFormTests {
    @Test("keys sorted, no whitespace, minimal escapes, integers without fractions")
    func canonicalText() throws {
        let value = try #require(JSONValue.parse(Data(#"{"b": [1.0, 2.5, -3], "a": "q\"u\\o\nte\u0001 é/", "c": null, "B": true}"#.utf8)))
        #expect(value.canonicalText == #"{"B":true,"a":"q\"u\\o\nte\u0001 é/","b":[1,2.5,-3],"c":null}"#)
    }

    @Test("RFC 3339 times parse with offsets and fractions, and format in UTC with microseconds")
    func timestamps() throws {
        let date = try #require(Timestamp.parse("2026-11-21T11:30:00.1234567+01:30"))
        #expect(Timestamp.format(date) == "2026-11-21T10:00:00.123456Z")
        #expect(Timestamp.parse("2026-11-21T10:00:00Z").map(Timestamp.format) == "2026-11-21T10:00:00.000000Z")
        for bad in ["2026-11-21", "2026-11-21T10:00:00", "2026-02-30T10:00:00Z", "2026-11-21T24:00:00Z", "x"] {
            #expect(Timestamp.parse(bad) == nil, "\(bad)")
        }
    }

    @Test("before/after diff: changed, added and removed fields, nested paths, nothing for what stayed or null beside absent")
    func diff() throws {
        let before = try #require(JSONValue.parse(Data(#"{"name": "Acme", "plan": {"tier": "pro", "seats": 5}, "gone": 1, "same": [1, 2], "nil": null}"#.utf8))?.objectValue)
        let after = try #require(JSONValue.parse(Data(#"{"name": "Acme Ltd", "plan": {"tier": "pro", "seats": 6}, "new": true, "same": [1, 2], "nil2": null}"#.utf8))?.objectValue)
        let changes = Changes.diff(before: before, after: after)
        #expect(changes == [
            "name": Change(old: "Acme", new: "Acme Ltd"), "plan.seats": Change(old: 5, new: 6),
            "gone": Change(old: 1, new: .null), "new": Change(old: .null, new: true),
        ])
        #expect(Changes.changedFields(changes) == ["gone", "name", "new", "plan", "plan.seats"])
        let flat = try #require(JSONValue.parse(Data(#"{"a": 1, "b": {}}"#.utf8))?.objectValue)
        #expect(Changes.diff(before: flat, after: [:]) == ["a": Change(old: 1, new: .null), "b": Change(old: .object([:]), new: .null)])
        #expect(Changes.diff(before: [:], after: [:]).isEmpty)
    }

    @Test("the hash is stable for the same event and changes with any stored field")
    func hash() throws {
        let validator = EventValidator(now: Date(timeIntervalSince1970: 1_795_255_200), retentionDays: 90, redactor: Redactor())
        let raw = JSONValue.object([
            "tenant": .string("org_42"), "id": .string("e1"), "occurred_at": .string("2026-11-21T09:00:00Z"),
            "action": .string("client.renamed"), "actor": .object(["id": .string("u_7")]),
        ])
        let draft = try validator.validate(raw, index: 0).get()
        let received = Date(timeIntervalSince1970: 1_795_255_200)
        let first = StoredEvent(draft: draft, receivedAt: received, message: "one")
        #expect(first.hash == StoredEvent(draft: draft, receivedAt: received, message: "one").hash)
        #expect(first.hash != StoredEvent(draft: draft, receivedAt: received, message: "two").hash)
        #expect(first.hash.count == 64)
        let expected = Crypto.hex(Crypto.sha256(Array(first.hashedDocument.canonicalText.utf8)))
        #expect(first.hash == expected)
    }

    /// Events with every kind of structured value: unicode and escaped keys, nesting, numbers, many targets.
    static func variedEvents() throws -> [StoredEvent] {
        let validator = EventValidator(now: Date(timeIntervalSince1970: 1_795_255_200), retentionDays: 90, redactor: Redactor())
        let texts = [
            #"{"tenant":"org_42","action":"client.renamed","actor":{"id":"u_7"}}"#,
            #"{"tenant":"org_42","id":"e2","occurred_at":"2026-11-21T09:00:00.5+02:00","action":"user.invited","actor":{"id":"u_7","name":"Zoë \"Z\"","email":"z@example.com","type":"user"},"targets":[{"type":"user","id":"u_9","name":"Bob"},{"type":"team","id":"t\n1"}],"before":{"role":null,"plan":{"name":"Starter","seats":5}},"after":{"role":"admin","plan":{"name":"Growth","seats":7.5}},"context":{"ip":"203.0.113.9","é":[1,true,null,{"b":1,"a":2}],"Z":"\u0001"},"metadata":{"k":"v","a b":{"c":[]}},"outcome":"failure"}"#,
            #"{"tenant":"org_42","action":"billing.changed","category":"billing","actor":{"id":"svc","type":"api_key"},"changes":{"card.last4":{"old":"4242","new":"1881"},"x":{"new":{"deep":{"deeper":1}}},"Äb":{"new":1},"a":{"old":[2]},"Z":{"old":"\""}},"message":"given\ttext"}"#,
        ]
        return try texts.map { text in
            let value = try #require(JSONValue.parse(Array(text.utf8)))
            let draft = try validator.validate(value, index: 0).get()
            return StoredEvent(draft: draft, receivedAt: Date(timeIntervalSince1970: 1_795_255_200.25), message: "Alice did it")
        }
    }

    @Test("the hash is computed over the parts written once, byte for byte the hashed document's canonical text")
    func hashFromParts() throws {
        for event in try Self.variedEvents() {
            #expect(String(decoding: event.hashedBytes, as: UTF8.self) == event.hashedDocument.canonicalText)
            #expect(event.hash == Crypto.hex(Crypto.sha256(Array(event.hashedDocument.canonicalText.utf8))))
        }
    }

    @Test("the canonical size is counted without writing, and equals the canonical text's size")
    func canonicalSize() throws {
        let texts = [#"{"b": [1.0, 2.5, -3, 1e300, 0.1], "a": "q\"u\\o\nte\u0001\u001f é/\t\b\f\r", "c": null, "B": true, "": false}"#,
                     #"[]"#, #"{}"#, #"[{"x":{}},[[]],"\u00e9"]"#, #""plain""#]
        for text in texts {
            let value = try #require(JSONValue.parse(Array(text.utf8)), "\(text)")
            #expect(value.canonicalByteCount == value.canonicalText.utf8.count, "\(text)")
        }
        for event in try Self.variedEvents() {
            #expect(event.hashedDocument.canonicalByteCount == event.hashedDocument.canonicalText.utf8.count)
        }
    }
}
