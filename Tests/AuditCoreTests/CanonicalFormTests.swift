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
}
