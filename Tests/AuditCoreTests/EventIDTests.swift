import Foundation
import Testing

@testable import AuditCore

@Suite("server-made event ids")
struct EventIDTests {
    @Test("a version 7 UUID in lower-case text, its first 48 bits the millisecond it was made")
    func shape() throws {
        let time = Date(timeIntervalSince1970: 1_795_000_000.123)
        let id = EventID.generate(at: time)
        #expect(id.wholeMatch(of: /[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}/) != nil, "\(id)")
        let millisecondsHex = String(id.prefix(8) + id.dropFirst(9).prefix(4))
        #expect(UInt64(millisecondsHex, radix: 16) == 1_795_000_000_123)
        #expect(UUID(uuidString: id) != nil)
    }

    @Test("ids made later sort after earlier ones; ids of the same millisecond differ")
    func ordered() {
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        let ids = (0..<200).map { EventID.generate(at: start.addingTimeInterval(Double($0) * 0.002)) }
        #expect(ids == ids.sorted())
        let same = (0..<1000).map { _ in EventID.generate(at: start) }
        #expect(Set(same).count == 1000)
    }
}
