import AuditCore
import Foundation
internal import PostgresLibPQ

/// The dashboard's reads (SPEC §6.2), each one transaction under the reader's tenant and role.
extension AuditDatabase {
    /// A page of events matching `filter`, after `cursor`, newest first.
    public func page(_ filter: EventFilter, after cursor: PageCursor?, limit: Int, tenant: TenantID, role: AccessRole) async throws -> EventPage {
        let (retention, engine) = (globalRetentionDays, engine)
        return try await withReadTransaction(tenant, role: role) { connection in
            try EventReader.page(filter, tenant: tenant, after: cursor, limit: limit, on: connection, now: Date(), defaultRetentionDays: retention,
                                 engine: engine)
        }
    }

    /// How many events match `filter`, counted up to `cap + 1` within `budget`: the number (more
    /// than `cap` when the count stopped there), or nil when the database could not count them in
    /// time. The viewer's "1,234 entries"; a page never waits on it.
    public func count(_ filter: EventFilter, tenant: TenantID, role: AccessRole, cap: Int = 10_000,
                      budget: Duration = .milliseconds(500)) async throws -> Int? {
        let retention = globalRetentionDays
        do {
            return try await withReadTransaction(tenant, role: role, timeout: budget) { connection in
                let (from, to) = try EventReader.window(filter, tenant: tenant, on: connection, now: Date(), defaultRetentionDays: retention)
                return try connection.query("""
                    SELECT count(*) FROM (SELECT 1 FROM audit.event AS e
                        WHERE \(EventReader.conditions(filter, tenant: tenant, from: from, to: to)) LIMIT \(cap + 1)) AS counted
                    """).rows[0].decode(Int.self, at: 0)
            }
        } catch let error as StoreError where error.code == .timeout {
            return nil
        }
    }

    /// The events of `page` that arrived after their hour was first sealed (`late:true`), by id:
    /// only those received after their hour ended are looked up, in one statement.
    public func lateEvents(in page: EventPage, tenant: TenantID, role: AccessRole) async throws -> Set<String> {
        typealias Column = EventEncoding.Column
        var ids: [String] = [], occurred: [Int64] = [], received: [Int64] = []
        for row in page.rows {
            let (at, arrived) = (try row.decode(Int64.self, at: Column.occurredMicros), try row.decode(Int64.self, at: Column.receivedMicros))
            let hourEnd = (at / 3_600_000_000 + (at >= 0 ? 1 : 0)) * 3_600_000_000
            guard arrived >= hourEnd else { continue }
            ids.append(try row.decode(String.self, at: Column.id))
            (occurred, received) = (occurred + [at], received + [arrived])
        }
        guard !ids.isEmpty else { return [] }
        let found = ids
        let (times, arrivals) = (occurred.map(String.init), received.map(String.init))
        return try await withReadTransaction(tenant, role: role) { connection -> Set<String> in
            // The rows as `e`, so the test is `late:true`'s own (`EventReader.lateCondition`).
            let query: PostgresQuery = """
                SELECT e.id FROM (SELECT c.id, timestamptz 'epoch' + c.occurred * interval '1 microsecond' AS occurred_at,
                                         timestamptz 'epoch' + c.received * interval '1 microsecond' AS received_at
                                  FROM unnest(\(found)::text[], \(times)::bigint[], \(arrivals)::bigint[]) AS c(id, occurred, received)) AS e
                WHERE \(EventReader.lateCondition(tenant))
                """
            return Set(try connection.query(query).rows.map { try $0.decode(String.self, at: 0) })
        }
    }

    /// One event by id with everything, or nil (another tenant's id is as absent as an unknown one).
    public func event(id: String, tenant: TenantID, role: AccessRole) async throws -> JSONValue? {
        try await withReadTransaction(tenant, role: role) { connection in try EventReader.find(id: id, tenant: tenant, on: connection) }
    }

    /// Each category with its number of events in the filter's window (the category filter itself ignored).
    public func categories(_ filter: EventFilter, tenant: TenantID, role: AccessRole) async throws -> [CategoryCount] {
        let retention = globalRetentionDays
        return try await withReadTransaction(tenant, role: role) { connection in
            try EventReader.categories(filter, tenant: tenant, on: connection, now: Date(), defaultRetentionDays: retention)
        }
    }

    /// The window `[from, to)` an export of `filter` covers: the tenant's retention unless narrowed.
    public func window(of filter: EventFilter, tenant: TenantID, role: AccessRole, now: Date) async throws -> (from: Date, to: Date) {
        let retention = globalRetentionDays
        return try await withReadTransaction(tenant, role: role) { connection in
            try EventReader.window(filter, tenant: tenant, on: connection, now: now, defaultRetentionDays: retention)
        }
    }

    /// One page of an export: bounded in time per page (`exportPageTimeout`), not per stream.
    public func exportPage(_ filter: EventFilter, after cursor: PageCursor?, limit: Int, tenant: TenantID, role: AccessRole, now: Date) async throws -> EventPage {
        let (retention, engine) = (globalRetentionDays, engine)
        return try await withReadTransaction(tenant, role: role, timeout: configuration.exportPageTimeout) { connection in
            try EventReader.page(filter, tenant: tenant, after: cursor, limit: limit, on: connection, now: now, defaultRetentionDays: retention,
                                 engine: engine)
        }
    }

    /// The tenant's signed, chained digests, oldest first.
    public func digests(tenant: TenantID, role: AccessRole) async throws -> [StoredDigest] {
        try await withReadTransaction(tenant, role: role) { connection in try StoredDigest.all(of: tenant, on: connection) }
    }

    /// A page of `GET /v1/digests`: up to `limit` digests after position `after` that cover an hour
    /// of `[from, to)`, in position order, with the first seal of each hour a follow-up on the page
    /// reports late arrivals for; `more` when another page follows.
    public struct DigestPage: Sendable {
        public var digests: [StoredDigest]
        public var firstSeals: [Date: Date]
        public var more: Bool
    }

    public func digestPage(tenant: TenantID, role: AccessRole, from: Date?, to: Date?, after: Int64?, limit: Int) async throws -> DigestPage {
        try await withReadTransaction(tenant, role: role) { connection in
            let rows = try StoredDigest.page(of: tenant, from: from, to: to, after: after, limit: limit + 1, on: connection)
            let digests = Array(rows.prefix(limit))
            let lateHours = digests.filter { $0.digest.sequence > 0 || $0.digest.lateCount > 0 }.map(\.digest.hour)
            return DigestPage(digests: digests, firstSeals: try StoredDigest.firstSeals(of: tenant, hours: Array(Set(lateHours)), on: connection),
                              more: rows.count > limit)
        }
    }

    /// Every public key that ever signed a digest, oldest first (public: no tenant, no role).
    public func digestKeys() async throws -> [PublishedDigestKey] {
        try await mappingErrors { try await readPool.withConnection { try PublishedDigestKey.all(on: $0) } }
    }

    /// `SELECT pg_is_in_recovery()` through the read routing: true when reads for this tenant are
    /// served by a standby now (for tests and diagnostics).
    func readsServedByStandby(tenant: TenantID) async throws -> Bool {
        try await withReadTransaction(tenant, role: .publisher) { connection in
            try connection.query("SELECT pg_is_in_recovery()").rows[0].decode(Bool.self, at: 0)
        }
    }

    /// Probes the replica now (rather than at most once a second in the background) and says what it found.
    public func refreshReplicaState() async -> ReplicaState? {
        await replica?.refresh()
    }
}

/// A category and how many events it has in the window.
public struct CategoryCount: Sendable, Equatable {
    public var category: String
    public var count: Int
}
