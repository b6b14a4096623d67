import AuditCore
@testable import AuditStore
import Foundation
import Testing

@Suite("the insert's row JSON")
struct RowEncodingTests {
    @Test("each row is written from the event's canonical parts, the same text as the row object serialised canonically")
    func rowsFromParts() throws {
        let validator = EventValidator(now: Date(), retentionDays: 90, redactor: Redactor())
        let texts = [
            #"{"tenant":"org_1","action":"client.renamed","actor":{"id":"u_7"}}"#,
            #"{"tenant":"org_1","action":"user.invited","actor":{"id":"u_7","name":"Zoë \"Z\"","email":"z@example.com"},"targets":[{"type":"user","id":"u_9","name":"Bob"},{"type":"team","id":"t1"}],"before":{"plan":{"name":"Starter","seats":5}},"after":{"plan":{"name":"Growth","seats":7.5},"role":"admin"},"context":{"é":[1,true,null,{"b":1,"a":2}]},"metadata":{"k":"v"},"outcome":"failure"}"#,
        ]
        let events = try texts.map { text in
            StoredEvent(draft: try validator.validate(try #require(JSONValue.parse(Array(text.utf8))), index: 0).get(),
                        receivedAt: Date(), message: "line one\nline \"two\"")
        }
        let items = events.enumerated().map { EventWriter.Item(submission: $0.offset, index: $0.offset, event: $0.element) }
        #expect(EventWriter.rowsJSON(items) == JSONValue.array(events.map(EventWriter.rowObject)).canonicalText)
    }
}
