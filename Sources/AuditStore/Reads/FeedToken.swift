import AuditCore
import Foundation

/// Where a consumer of the feed stands (`GET /v1/events/feed?after=`), opaque to it.
///
/// The feed hands out, page by page, the events of the transactions that committed between two
/// database snapshots: `previous` (everything the consumer has had up to it) and `current` (taken
/// when the page after `previous` was first asked for). A transaction still running when `current`
/// was taken is in neither: it falls into a later step, whatever its id, so no event is skipped
/// and none is given twice (PgQ's tick technique). Within one step, pages follow
/// `(xid, occurred_at, id)`, and `last` is the last event given.
public struct FeedToken: Sendable, Equatable {
    public struct Position: Sendable, Equatable {
        public var xid: UInt64
        public var micros: Int64
        public var id: String
    }

    /// `pg_snapshot` text, `xmin:xmax:xip,…`.
    public var previous: String
    public var current: String?
    public var last: Position?

    /// The start of the feed: every retained event is still to come.
    public static let start = FeedToken(previous: "1:1:", current: nil, last: nil)

    public init(previous: String, current: String?, last: Position?) {
        self.previous = previous
        self.current = current
        self.last = last
    }

    /// URL-safe base64 of `f1|previous|current|xid|micros|id` (empty fields when absent).
    public var encoded: String {
        let fields = ["f1", previous, current ?? "", last.map { String($0.xid) } ?? "", last.map { String($0.micros) } ?? "", last?.id ?? ""]
        return Crypto.base64URL(Array(fields.joined(separator: "|").utf8))
    }

    /// Nil for anything that is not a token this service made (checked before the database sees it).
    public init?(encoded text: String) {
        guard text.utf8.count <= 8192, let bytes = Crypto.base64URLDecode(text),
              let decoded = String(validating: bytes, as: UTF8.self) else { return nil }
        let fields = decoded.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 6, fields[0] == "f1", Self.isSnapshot(fields[1]) else { return nil }
        previous = fields[1]
        if fields[2].isEmpty {
            guard fields[3].isEmpty, fields[4].isEmpty, fields[5].isEmpty else { return nil }
            current = nil
            last = nil
            return
        }
        guard Self.isSnapshot(fields[2]) else { return nil }
        current = fields[2]
        if fields[3].isEmpty, fields[4].isEmpty, fields[5].isEmpty {
            last = nil
        } else {
            guard Self.digits(fields[3]), let xid = UInt64(fields[3]), xid >= 1, xid < UInt64(Int64.max), let micros = Int64(fields[4]),
                  micros > -62_135_596_800_000_000, micros < 253_402_300_800_000_000, TenantID.isValid(fields[5]) else { return nil }
            last = Position(xid: xid, micros: micros, id: fields[5])
        }
    }

    static func digits(_ text: some StringProtocol) -> Bool {
        !text.isEmpty && text.utf8.count <= 20 && text.utf8.allSatisfy { (48...57).contains($0) }
    }

    /// `xmin:xmax:xip,…` as PostgreSQL's pg_snapshot input takes it: 1 ≤ xmin ≤ each xip < xmax,
    /// the in-progress ids ascending.
    static func isSnapshot(_ text: String) -> Bool {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard text.utf8.count <= 4096, parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]),
              xmin >= 1, xmin <= xmax, xmax < UInt64(Int64.max),
              digits(parts[0]), digits(parts[1]) else { return false }
        if parts[2].isEmpty { return true }
        var previous: UInt64?
        for item in parts[2].split(separator: ",", omittingEmptySubsequences: false) {
            guard digits(item), let xid = UInt64(item), xid >= xmin, xid < xmax,
                  previous.map({ $0 < xid }) ?? true else { return false }
            previous = xid
        }
        return true
    }
}
