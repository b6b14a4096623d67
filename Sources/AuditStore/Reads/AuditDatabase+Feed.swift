import AuditCore
import Foundation
import Synchronization
internal import PostgresLibPQ

/// One page of the feed: events in the order their transactions became visible, and the token
/// to continue from (returned even when the page is empty).
public struct FeedPage: Sendable {
    var rows: [PostgresRow]
    public var next: FeedToken
    /// A vendor-wide stream's new position in each tenant it read (Citus), moved with `next`.
    public var cursors: [StreamCursor] = []
    public var count: Int { rows.count }

    public func writeJSONEvents(to output: inout [UInt8]) {
        EventPage(rows: rows, nextCursor: nil).writeJSONEvents(to: &output)
    }
}

/// Where a vendor-wide stream stands in one tenant's commits (Citus): after commit `seq`, or
/// after `last` within it.
public struct StreamCursor: Sendable, Equatable {
    public var tenant: TenantID
    public var seq: Int64
    public var last: FeedToken.EventKey?
}

extension AuditDatabase {
    /// True when `token` is a position of this database's feed (a single node's token means
    /// nothing on Citus and the reverse).
    public func isFeedPosition(_ token: FeedToken) -> Bool {
        switch (token, engine) {
        case (.start, _), (.snapshots, .postgres), (.commits, .citus): true
        default: false
        }
    }

    /// The feed's page after `token` (see `FeedToken`). Always on the primary: its commits are
    /// what the feed orders.
    public func feedPage(after token: FeedToken, limit: Int, tenant: TenantID, role: AccessRole, filter: EventFilter? = nil) async throws -> FeedPage {
        let engine = self.engine
        return try await withTenant(tenant, roleName: role.rawValue, on: readPool) { connection in
            try EventReader.feed(engine: engine, tenant: tenant, after: token, limit: limit, filter: filter, on: connection)
        }
    }

    /// A token at this moment: the feed after it holds only what commits from now on.
    public func feedTokenNow(tenant: TenantID, role: AccessRole) async throws -> FeedToken {
        let engine = self.engine
        return try await withTenant(tenant, roleName: role.rawValue, on: readPool) { connection in
            try EventReader.feedTokenNow(engine: engine, tenant: tenant, on: connection)
        }
    }
}

extension EventReader {
    /// The list's filters as conditions on one event row (` AND …`), for the live view: the
    /// same meaning as `conditions`, evaluated on the row itself (no time window; `late` aside).
    static func liveConditions(_ filter: EventFilter, tenant: TenantID) -> PostgresQuery {
        var query = clauseConditions(filter, tenant: tenant) { targets in
            anyOf(targets.map { target -> PostgresQuery in
                switch target.id {
                case .exact(let id):
                    return "e.targets @> jsonb_build_array(jsonb_build_object('type', \(target.type)::text, 'id', \(id)::text))"
                case .prefix(let start):
                    return """
                        EXISTS (SELECT 1 FROM jsonb_array_elements(e.targets) AS x
                                WHERE x->>'type' = \(target.type)::text AND starts_with(x->>'id', \(start)::text))
                        """
                }
            })
        }
        if let from = filter.from { query.append(" AND e.occurred_at >= \(from)") }
        if let to = filter.to { query.append(" AND e.occurred_at < \(to)") }
        if let text = textQuery(filter) { query.append(" AND e.search @@ \(text)") }
        return query
    }

    /// A position at this moment, in the engine's order.
    static func feedTokenNow(engine: DatabaseEngine, tenant: TenantID, on connection: PostgresConnection) throws -> FeedToken {
        switch engine {
        case .postgres:
            return .snapshots(previous: try currentSnapshot(on: connection), current: nil, last: nil)
        case .citus:
            // Every commit numbered up to the tenant's counter is visible; the next one is to come.
            let seq = try connection.query("SELECT feed_seq FROM audit.tenant WHERE tenant_id = \(tenant.rawValue)").rows.first?.decode(Int64.self, at: 0)
            return .commits(seq: seq ?? 0, last: nil)
        }
    }

    static func currentSnapshot(on connection: PostgresConnection) throws -> String {
        try connection.query("SELECT pg_current_snapshot()::text").rows[0].decode(String.self, at: 0)
    }

    /// A tenant's page in the engine's order; a token of the other engine's order reads as the start.
    static func feed(engine: DatabaseEngine, tenant: TenantID, after token: FeedToken, limit: Int, filter: EventFilter? = nil,
                     on connection: PostgresConnection) throws -> FeedPage {
        switch (engine, token) {
        case (.postgres, .snapshots(let previous, let current, let last)):
            return try snapshotFeed(tenant: tenant, previous: previous, current: current, last: last, limit: limit, filter: filter, on: connection)
        case (.postgres, _):
            return try snapshotFeed(tenant: tenant, previous: FeedToken.startSnapshot, current: nil, last: nil, limit: limit, filter: filter, on: connection)
        case (.citus, .commits(let seq, let last)):
            return try commitFeed(tenant: tenant, seq: seq, last: last, limit: limit, filter: filter, on: connection)
        case (.citus, _):
            return try commitFeed(tenant: tenant, seq: 0, last: nil, limit: limit, filter: filter, on: connection)
        }
    }

    static func snapshotFeed(tenant: TenantID, previous: String, current: String?, last: FeedToken.SnapshotPosition?, limit: Int,
                             filter: EventFilter?, on connection: PostgresConnection) throws -> FeedPage {
        // The step's upper snapshot: taken now when the step is new (a statement of its own:
        // the next statement's snapshot sees all it does, and the query keeps to what it sees).
        let current = try current ?? currentSnapshot(on: connection)
        var query: PostgresQuery = """
            SELECT \(unsafeSQL: columns), e.xid::text FROM audit.event AS e
            WHERE e.tenant_id = \(tenant.rawValue)
              AND e.xid >= pg_snapshot_xmin(\(previous)::pg_snapshot) AND e.xid < pg_snapshot_xmax(\(current)::pg_snapshot)
              AND pg_visible_in_snapshot(e.xid, \(current)::pg_snapshot) AND NOT pg_visible_in_snapshot(e.xid, \(previous)::pg_snapshot)
            """
        if let filter { query.append(liveConditions(filter, tenant: tenant)) }
        if let last {
            query.append("""
                 AND (e.xid, e.occurred_at, e.id COLLATE "C") > (\(String(last.xid))::xid8, \(Date(micros: last.micros)), \(last.id))
                """)
        }
        query.append(#" ORDER BY e.xid, e.occurred_at, e.id COLLATE "C" LIMIT \#(limit + 1)"#)
        return try snapshotPage(query, previous: previous, current: current, limit: limit, on: connection)
    }

    /// The same page across every tenant (`audit.vendor_feed`), for a vendor-wide stream on one
    /// node; run in the context `StreamScope.vendorKey` as the maintenance role.
    static func vendorFeed(after token: FeedToken, limit: Int, on connection: PostgresConnection) throws -> FeedPage {
        var previous = FeedToken.startSnapshot, current: String?, last: FeedToken.SnapshotPosition?
        if case .snapshots(let from, let upto, let position) = token { (previous, current, last) = (from, upto, position) }
        let upto = try current ?? currentSnapshot(on: connection)
        let query: PostgresQuery = """
            SELECT \(unsafeSQL: columns), e.xid::text
            FROM audit.vendor_feed(\(previous)::pg_snapshot, \(upto)::pg_snapshot, \(last.map { String($0.xid) })::xid8,
                                   \(last.map { Date(micros: $0.micros) }), \(last?.id), \(limit + 1)::integer) AS e
            """
        return try snapshotPage(query, previous: previous, current: upto, limit: limit, on: connection)
    }

    /// Runs a snapshot feed query (at most `limit + 1` rows in feed order) and says where the next page starts.
    private static func snapshotPage(_ query: PostgresQuery, previous: String, current: String, limit: Int, on connection: PostgresConnection) throws -> FeedPage {
        let rows = try connection.query(query).rows
        guard rows.count > limit, let last = rows.prefix(limit).last else {
            // The step is done: the next one starts where this one ended.
            return FeedPage(rows: rows, next: .snapshots(previous: current, current: nil, last: nil))
        }
        let position = FeedToken.SnapshotPosition(xid: UInt64(try last.decode(String.self, at: extraColumn)) ?? 1,
                                                  micros: try last.decode(Int64.self, at: EventEncoding.Column.occurredMicros),
                                                  id: try last.decode(String.self, at: 0))
        return FeedPage(rows: Array(rows.prefix(limit)), next: .snapshots(previous: previous, current: current, last: position))
    }

    /// The first column after the event's own: the transaction id or the commit number.
    static let extraColumn = EventEncoding.Column.receivedMicros + 1

    /// A tenant's events after commit `seq` (after `last` within it), in (seq, occurred_at, id)
    /// order, on Citus: the tenant's numbered commits joined to the events of their transactions,
    /// one router query on the tenant's shard. The tenant's counter is read in the same statement,
    /// so a page that ends the feed can say it has had every commit up to it (commits whose events
    /// were all filtered out or pruned are then passed, not read again).
    static func commitFeed(tenant: TenantID, seq: Int64, last: FeedToken.EventKey?, limit: Int, filter: EventFilter?,
                           on connection: PostgresConnection) throws -> FeedPage {
        var inner: PostgresQuery = """
            SELECT e.*, c.seq AS commit_seq FROM audit.feed_commit AS c
            JOIN audit.event AS e ON e.tenant_id = c.tenant_id AND e.xid = c.xid
            WHERE c.tenant_id = \(tenant.rawValue) AND e.tenant_id = \(tenant.rawValue)
            """
        if let last {
            inner.append(#" AND (c.seq, e.occurred_at, e.id COLLATE "C") > (\#(seq)::bigint, \#(Date(micros: last.micros)), \#(last.id))"#)
        } else {
            inner.append(" AND c.seq > \(seq)::bigint")
        }
        if let filter { inner.append(liveConditions(filter, tenant: tenant)) }
        inner.append(#" ORDER BY c.seq, e.occurred_at, e.id COLLATE "C" LIMIT \#(limit + 1)"#)
        var query: PostgresQuery = "SELECT \(unsafeSQL: columns), e.commit_seq, t.feed_seq FROM audit.tenant AS t LEFT JOIN LATERAL ("
        query.append(inner)
        query.append(#") AS e ON true WHERE t.tenant_id = \#(tenant.rawValue) ORDER BY e.commit_seq, e.occurred_at, e.id COLLATE "C""#)
        let result = try connection.query(query).rows
        let rows = result.filter { !$0.isNull(at: 0) }
        guard let counter = try result.first?.decode(Int64.self, at: extraColumn + 1) else {
            return FeedPage(rows: [], next: .commits(seq: seq, last: last))  // no event yet: no tenant row
        }
        guard rows.count > limit, let end = rows.prefix(limit).last else {
            return FeedPage(rows: rows, next: .commits(seq: max(counter, seq), last: nil))
        }
        let key = FeedToken.EventKey(micros: try end.decode(Int64.self, at: EventEncoding.Column.occurredMicros), id: try end.decode(String.self, at: 0))
        return FeedPage(rows: Array(rows.prefix(limit)), next: .commits(seq: try end.decode(Int64.self, at: extraColumn), last: key))
    }

    /// A vendor-wide stream's page on Citus: the tenants with commits it has not had (least
    /// recently served first), each read from its own position in its own context, until the
    /// page is full. Run in the context `StreamScope.vendorKey` as the maintenance role; the
    /// context is that again when it returns.
    static func vendorCommitFeed(stream: String, generation: Int64, limit: Int, engine: DatabaseEngine,
                                 on connection: PostgresConnection) throws -> FeedPage {
        // The tenants with commits the stream has not had (or a commit it has had in part).
        let pending = try connection.query("""
            SELECT t.tenant_id, coalesce(c.seq, 0), (extract(epoch FROM c.occurred_at) * 1000000)::bigint, c.event_id
            FROM audit.tenant AS t
            LEFT JOIN audit.stream_cursor AS c ON c.tenant_id = t.tenant_id AND c.stream_id = \(stream)
            WHERE t.feed_seq > coalesce(c.seq, 0) OR c.event_id IS NOT NULL
            ORDER BY c.updated_at NULLS FIRST, t.tenant_id
            LIMIT 100
            """).rows.compactMap { row -> StreamCursor? in
            guard let tenant = TenantID(try row.decode(String.self, at: 0)) else { return nil }
            let last: FeedToken.EventKey? = try row.isNull(at: 3) ? nil
                : FeedToken.EventKey(micros: row.decode(Int64.self, at: 2), id: row.decode(String.self, at: 3))
            return StreamCursor(tenant: tenant, seq: try row.decode(Int64.self, at: 1), last: last)
        }
        var rows: [PostgresRow] = []
        var cursors: [StreamCursor] = []
        for position in pending where rows.count < limit {
            try connection.executeScript(unsafeSQL: engine.contextPreamble(tenant: position.tenant, roleName: AuditDatabase.maintenanceRole, on: connection))
            let page = try commitFeed(tenant: position.tenant, seq: position.seq, last: position.last, limit: limit - rows.count,
                                      filter: nil, on: connection)
            rows += page.rows
            if case .commits(let seq, let last) = page.next { cursors.append(StreamCursor(tenant: position.tenant, seq: seq, last: last)) }
        }
        try connection.executeScript(unsafeSQL: engine.contextPreamble(key: StreamScope.vendorKey, roleName: AuditDatabase.maintenanceRole, on: connection))
        return FeedPage(rows: rows, next: .cursors(generation: cursors.isEmpty ? generation : generation + 1), cursors: cursors)
    }
}

extension Date {
    init(micros: Int64) { self.init(timeIntervalSince1970: Double(micros) / 1_000_000) }
}

/// Wakes the feed's long polls when this process commits events (other replicas' commits are
/// found by the poll's periodic look). Waiting holds no database connection.
public final class CommitSignal: Sendable {
    struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    let state = Mutex(State())

    public init() {}

    /// Counts commits; pass it to `wait(after:timeout:)`.
    public var generation: UInt64 { state.withLock { $0.generation } }

    func notify() {
        let waiters = state.withLock { state in
            state.generation += 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once a commit happened after `generation` was read, after `timeout`, or on cancellation.
    public func wait(after generation: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.waitForCommit(after: generation) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForCommit(after generation: UInt64) async {
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.generation != generation || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}

extension FeedPage {
    /// Each event as its API JSON object, in feed order.
    public func events() -> [JSONValue] {
        rows.compactMap { row in
            var bytes: [UInt8] = []
            EventEncoding.writeJSON(row, to: &bytes)
            return JSONValue.parse(bytes)
        }
    }
}
