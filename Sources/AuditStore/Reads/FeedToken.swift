import AuditCore
import Foundation

/// Where a consumer of the feed stands (`GET /v1/events/feed?after=`), opaque to it. Each
/// engine orders commits its own way, and a token holds the position in that order.
///
/// - `snapshots` (one PostgreSQL node): the feed hands out, page by page, the events of the
///   transactions that committed between two database snapshots: `previous` (everything the
///   consumer has had up to it) and `current` (taken when the page after `previous` was first
///   asked for). A transaction still running when `current` was taken is in neither: it falls
///   into a later step, whatever its id, so no event is skipped and none is given twice (PgQ's
///   tick technique). Within one step, pages follow `(xid, occurred_at, id)`.
/// - `commits` (Citus): on a cluster a distributed transaction is visible on the coordinator
///   before its rows are committed on the workers, so no snapshot orders it. Instead each ingest
///   transaction numbers its commit per tenant (`audit.tenant.feed_seq`, incremented under the
///   tenant row's lock as the transaction's last write, so numbers follow commit order) and
///   records it in `audit.feed_commit` with its transaction id; pages follow
///   `(seq, occurred_at, id)` (sql/0027_commit_ordered_feed.sql).
/// - `cursors` (a vendor-wide stream on Citus): one `commits` position per tenant, kept in
///   `audit.stream_cursor`; the token is the generation of that set, which each delivered page
///   moves by one (so a replica that lost its lease cannot move it).
public enum FeedToken: Sendable, Equatable {
    /// The start of the feed: every retained event is still to come.
    case start
    case snapshots(previous: String, current: String?, last: SnapshotPosition?)
    /// All of commit `seq` given when `last` is nil; otherwise up to `last` within commit `seq`.
    case commits(seq: Int64, last: EventKey?)
    case cursors(generation: Int64)

    /// The last event given within a snapshot step.
    public struct SnapshotPosition: Sendable, Equatable {
        public var xid: UInt64
        public var micros: Int64
        public var id: String
    }

    /// An event's place among the events of one transaction: `(occurred_at, id)`.
    public struct EventKey: Sendable, Equatable {
        public var micros: Int64
        public var id: String
    }

    /// The single-node token that `start` has always been written as (`f1|1:1:|||||`).
    static let startSnapshot = "1:1:"

    /// URL-safe base64 of `f1|previous|current|xid|micros|id`, `c1|seq|micros|id` or `v1|generation`
    /// (empty fields when absent).
    public var encoded: String {
        let fields: [String]
        switch self {
        case .start:
            fields = ["f1", Self.startSnapshot, "", "", "", ""]
        case .snapshots(let previous, let current, let last):
            fields = ["f1", previous, current ?? "", last.map { String($0.xid) } ?? "", last.map { String($0.micros) } ?? "", last?.id ?? ""]
        case .commits(let seq, let last):
            fields = ["c1", String(seq), last.map { String($0.micros) } ?? "", last?.id ?? ""]
        case .cursors(let generation):
            fields = ["v1", String(generation)]
        }
        return Crypto.base64URL(Array(fields.joined(separator: "|").utf8))
    }

    /// Nil for anything that is not a token this service made (checked before the database sees it).
    public init?(encoded text: String) {
        guard text.utf8.count <= 8192, let bytes = Crypto.base64URLDecode(text),
              let decoded = String(validating: bytes, as: UTF8.self) else { return nil }
        let fields = decoded.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        switch fields.first {
        case "f1":
            guard let token = Self.snapshots(fields) else { return nil }
            self = token
        case "c1":
            guard fields.count == 4, Self.digits(fields[1]), let seq = Int64(fields[1]) else { return nil }
            if fields[2].isEmpty, fields[3].isEmpty {
                self = .commits(seq: seq, last: nil)
            } else {
                guard seq >= 1, let key = Self.eventKey(micros: fields[2], id: fields[3]) else { return nil }
                self = .commits(seq: seq, last: key)
            }
        case "v1":
            guard fields.count == 2, Self.digits(fields[1]), let generation = Int64(fields[1]) else { return nil }
            self = .cursors(generation: generation)
        default:
            return nil
        }
    }

    private static func snapshots(_ fields: [String]) -> FeedToken? {
        guard fields.count == 6, isSnapshot(fields[1]) else { return nil }
        if fields[2].isEmpty {
            guard fields[3].isEmpty, fields[4].isEmpty, fields[5].isEmpty else { return nil }
            return fields[1] == startSnapshot ? .start : .snapshots(previous: fields[1], current: nil, last: nil)
        }
        guard isSnapshot(fields[2]) else { return nil }
        if fields[3].isEmpty, fields[4].isEmpty, fields[5].isEmpty {
            return .snapshots(previous: fields[1], current: fields[2], last: nil)
        }
        guard digits(fields[3]), let xid = UInt64(fields[3]), xid >= 1, xid < UInt64(Int64.max),
              let key = eventKey(micros: fields[4], id: fields[5]) else { return nil }
        return .snapshots(previous: fields[1], current: fields[2], last: SnapshotPosition(xid: xid, micros: key.micros, id: key.id))
    }

    private static func eventKey(micros: String, id: String) -> EventKey? {
        guard let value = Int64(micros), value > -62_135_596_800_000_000, value < 253_402_300_800_000_000,
              TenantID.isValid(id) else { return nil }
        return EventKey(micros: value, id: id)
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
