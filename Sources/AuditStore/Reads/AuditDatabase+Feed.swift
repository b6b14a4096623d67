import AuditCore
import Foundation
import Synchronization
internal import PostgresLibPQ

/// One page of the feed: events in the order their transactions became visible, and the token
/// to continue from (returned even when the page is empty).
public struct FeedPage: Sendable {
    var rows: [PostgresRow]
    public var next: FeedToken
    public var count: Int { rows.count }

    public func writeJSONEvents(to output: inout [UInt8]) {
        EventPage(rows: rows, nextCursor: nil).writeJSONEvents(to: &output)
    }
}

extension AuditDatabase {
    /// False on Citus: a distributed transaction becomes visible on the coordinator before its
    /// rows are committed on the workers (two-phase commit), so one snapshot cannot order them.
    public var hasFeed: Bool { engine == .postgres }

    /// The feed's page after `token` (see `FeedToken`). Always on the primary: a snapshot there
    /// is what commits are ordered by.
    public func feedPage(after token: FeedToken, limit: Int, tenant: TenantID, role: AccessRole, filter: EventFilter? = nil) async throws -> FeedPage {
        try await withTenant(tenant, roleName: role.rawValue, on: readPool) { connection in
            try EventReader.feed(tenant: tenant, after: token, limit: limit, filter: filter, on: connection)
        }
    }

    /// A token at this moment: the feed after it holds only what commits from now on.
    public func feedTokenNow(tenant: TenantID, role: AccessRole) async throws -> FeedToken {
        try await withTenant(tenant, roleName: role.rawValue, on: readPool) { connection in
            FeedToken(previous: try connection.query("SELECT pg_current_snapshot()::text").rows[0].decode(String.self, at: 0), current: nil, last: nil)
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

    static func feed(tenant: TenantID, after token: FeedToken, limit: Int, filter: EventFilter? = nil, on connection: PostgresConnection) throws -> FeedPage {
        // The step's upper snapshot: taken now when the step is new (a statement of its own:
        // the next statement's snapshot sees all it does, and the query keeps to what it sees).
        let current = try token.current ?? connection.query("SELECT pg_current_snapshot()::text").rows[0].decode(String.self, at: 0)
        var query: PostgresQuery = """
            SELECT \(unsafeSQL: columns), e.xid::text FROM audit.event AS e
            WHERE e.tenant_id = \(tenant.rawValue)
              AND e.xid >= pg_snapshot_xmin(\(token.previous)::pg_snapshot) AND e.xid < pg_snapshot_xmax(\(current)::pg_snapshot)
              AND pg_visible_in_snapshot(e.xid, \(current)::pg_snapshot) AND NOT pg_visible_in_snapshot(e.xid, \(token.previous)::pg_snapshot)
            """
        if let filter { query.append(liveConditions(filter, tenant: tenant)) }
        if let last = token.last {
            query.append("""
                 AND (e.xid, e.occurred_at, e.id COLLATE "C") > (\(String(last.xid))::xid8, \(Date(timeIntervalSince1970: Double(last.micros) / 1_000_000)), \(last.id))
                """)
        }
        query.append(#" ORDER BY e.xid, e.occurred_at, e.id COLLATE "C" LIMIT \#(limit + 1)"#)
        return try page(query, after: token, current: current, limit: limit, on: connection)
    }

    /// The same page across every tenant (`audit.vendor_feed`), for a vendor-wide stream; run
    /// in the context `StreamScope.vendorKey` as the maintenance role.
    static func vendorFeed(after token: FeedToken, limit: Int, on connection: PostgresConnection) throws -> FeedPage {
        let current = try token.current ?? connection.query("SELECT pg_current_snapshot()::text").rows[0].decode(String.self, at: 0)
        let last = token.last
        let query: PostgresQuery = """
            SELECT \(unsafeSQL: columns), e.xid::text
            FROM audit.vendor_feed(\(token.previous)::pg_snapshot, \(current)::pg_snapshot, \(last.map { String($0.xid) })::xid8,
                                   \(last.map { Date(timeIntervalSince1970: Double($0.micros) / 1_000_000) }), \(last?.id), \(limit + 1)::integer) AS e
            """
        return try page(query, after: token, current: current, limit: limit, on: connection)
    }

    /// Runs a feed query (at most `limit + 1` rows in feed order) and says where the next page starts.
    private static func page(_ query: PostgresQuery, after token: FeedToken, current: String, limit: Int, on connection: PostgresConnection) throws -> FeedPage {
        let rows = try connection.query(query).rows
        guard rows.count > limit, let last = rows.prefix(limit).last else {
            // The step is done: the next one starts where this one ended.
            return FeedPage(rows: rows, next: FeedToken(previous: current, current: nil, last: nil))
        }
        let xidColumn = EventEncoding.Column.occurredMicros + 2
        let position = FeedToken.Position(xid: UInt64(try last.decode(String.self, at: xidColumn)) ?? 1,
                                          micros: try last.decode(Int64.self, at: EventEncoding.Column.occurredMicros),
                                          id: try last.decode(String.self, at: 0))
        return FeedPage(rows: Array(rows.prefix(limit)), next: FeedToken(previous: token.previous, current: current, last: position))
    }
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
