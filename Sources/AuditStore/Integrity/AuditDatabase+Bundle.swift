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
        /// Every event received before this moment is under a digest of the chain: the bundle
        /// holds only those (the newest digest's `covered_until`).
        public var signedUntil: Date
    }

    /// Seals everything `tenant` received so far, the open hour included, before a bundle is
    /// read (see `DigestWriter.checkpoint`); returns the moment up to which all is signed.
    public func checkpoint(_ tenant: TenantID, with writer: DigestWriter) async throws -> Date {
        var writer = writer
        writer.engine = engine
        let ready = writer
        return try await mappingErrors {
            try await maintenancePool.withConnection { try ready.checkpoint(tenant, on: $0) }
        }
    }

    /// The bundle of `[from, to)` widened to whole hours and cut at the last sealed one; nil
    /// when no hour of it is sealed yet.
    public func bundlePlan(tenant: TenantID, role: AccessRole, from: Date, to: Date, now: Date) async throws -> BundlePlan? {
        try await withReadTransaction(tenant, role: role, timeout: configuration.exportPageTimeout) { connection in
            let stored = try StoredDigest.all(of: tenant, on: connection).map(\.link)
            // Hours a checkpoint covered count as sealed up to its moment.
            let sealedEnd = stored.filter { $0.digest.coveredUntil <= now }.map(\.digest.hourEnd).max() ?? from
            let lower = Timestamp.hourStart(from)
            let ceiling = Timestamp.hourStart(to) == to ? to : Timestamp.hourStart(to).addingTimeInterval(3600)
            let upper = min(ceiling, sealedEnd)
            guard lower < upper,
                  let first = stored.first(where: { $0.digest.hour < upper && $0.digest.hourEnd > lower })?.digest.position else { return nil }
            return BundlePlan(from: lower, to: upper, link: stored.first { $0.digest.position == first - 1 },
                              chain: stored.filter { $0.digest.position >= first },
                              keys: try PublishedDigestKey.all(on: connection),
                              signedUntil: stored.map(\.digest.coveredUntil).filter { $0 <= now }.max() ?? lower)
        }
    }

    /// Events of `[from, to)` received before `receivedBefore`, in (occurred_at, id by bytes)
    /// order, after `cursor`.
    public func bundlePage(tenant: TenantID, role: AccessRole, from: Date, to: Date, receivedBefore: Date, after cursor: PageCursor?,
                           limit: Int) async throws -> EventPage {
        try await withReadTransaction(tenant, role: role, timeout: configuration.exportPageTimeout) { connection in
            var query: PostgresQuery = """
                SELECT \(unsafeSQL: EventReader.columns) FROM audit.event AS e
                WHERE e.tenant_id = \(tenant.rawValue) AND e.occurred_at >= \(from) AND e.occurred_at < \(to)
                  AND e.received_at < \(receivedBefore)
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
