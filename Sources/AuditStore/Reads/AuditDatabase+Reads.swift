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
