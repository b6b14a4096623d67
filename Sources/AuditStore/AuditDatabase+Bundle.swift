import AuditCore
import Foundation
internal import PostgresLibPQ

/// What an export bundle (`ExportBundle`) is read from: its chain and keys in one transaction,
/// then its events page by page, oldest first.
extension AuditDatabase {
    public struct BundlePlan: Sendable {
        /// Whole hours, all sealed.
        public var from: Date
        public var to: Date
        /// The digest before the first one the bundle holds (nil from position 1).
        public var link: ChainCheck.Link?
        /// From the first digest covering `[from, to)` to the chain's head.
        public var chain: [ChainCheck.Link]
        public var keys: [PublishedDigestKey]
    }

    /// The bundle of `[from, to)` widened to whole hours and cut at the last sealed one; nil
    /// when no hour of it is sealed yet.
    public func bundlePlan(tenant: TenantID, role: AccessRole, from: Date, to: Date, now: Date) async throws -> BundlePlan? {
        try await withReadTransaction(tenant, role: role, timeout: configuration.exportPageTimeout) { connection in
            let stored = try StoredDigest.all(of: tenant, on: connection).map(\.link)
            let sealedEnd = stored.map(\.digest.hourEnd).filter { $0 <= now }.max() ?? from
            let lower = Timestamp.hourStart(from)
            let ceiling = Timestamp.hourStart(to) == to ? to : Timestamp.hourStart(to).addingTimeInterval(3600)
            let upper = min(ceiling, sealedEnd)
            guard lower < upper,
                  let first = stored.first(where: { $0.digest.hour < upper && $0.digest.hourEnd > lower })?.digest.position else { return nil }
            return BundlePlan(from: lower, to: upper, link: stored.first { $0.digest.position == first - 1 },
                              chain: stored.filter { $0.digest.position >= first },
                              keys: try PublishedDigestKey.all(on: connection))
        }
    }

    /// Events of `[from, to)` in (occurred_at, id by bytes) order, after `cursor`.
    public func bundlePage(tenant: TenantID, role: AccessRole, from: Date, to: Date, after cursor: PageCursor?, limit: Int) async throws -> EventPage {
        try await withReadTransaction(tenant, role: role, timeout: configuration.exportPageTimeout) { connection in
            var query: PostgresQuery = """
                SELECT \(unsafeSQL: EventReader.columns) FROM audit.event AS e
                WHERE e.tenant_id = \(tenant.rawValue) AND e.occurred_at >= \(from) AND e.occurred_at < \(to)
                """
            if let cursor { query.append(#" AND (e.occurred_at, e.id COLLATE "C") > (\#(EventReader.cursorTime(cursor)), \#(cursor.id))"#) }
            query.append(#" ORDER BY e.occurred_at, e.id COLLATE "C" LIMIT \#(limit + 1)"#)
            let rows = try connection.query(query).rows
            var next: PageCursor?
            if rows.count > limit, let last = rows.prefix(limit).last {
                next = PageCursor(micros: try last.decode(Int64.self, at: EventEncoding.Column.occurredMicros), id: try last.decode(String.self, at: 0))
            }
            return EventPage(rows: Array(rows.prefix(limit)), nextCursor: next)
        }
    }
}
