import AuditCore
import Foundation
internal import PostgresLibPQ

/// Whose events a stream carries: one tenant's, or every tenant's (a vendor-wide stream, for
/// the vendor's own SIEM). A vendor-wide stream is stored, and read and moved, under the context
/// key `*`, which no tenant can have (sql/0019_vendor_streams.sql).
public enum StreamScope: Sendable, Hashable {
    case tenant(TenantID)
    case vendor

    static let vendorKey = "*"

    /// The key of the stream's rows and of the context they are handled in.
    var key: String {
        switch self {
        case .tenant(let tenant): tenant.rawValue
        case .vendor: Self.vendorKey
        }
    }

    init?(key: String) {
        if key == Self.vendorKey { self = .vendor } else if let tenant = TenantID(key) { self = .tenant(tenant) } else { return nil }
    }

    /// The tenant of a tenant's stream.
    public var tenant: TenantID? {
        if case .tenant(let tenant) = self { return tenant }
        return nil
    }

    /// What `GET /v1/streams` shows: `tenant` or `vendor`.
    public var name: String { self == .vendor ? "vendor" : "tenant" }
}

/// A log stream as stored (sql/0018_streams.sql).
public struct StreamRecord: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case webhook
        case splunkHEC = "splunk_hec"
        case datadog
    }

    public var scope: StreamScope
    public var id: String
    public var kind: Kind
    public var url: String
    /// Splunk's HEC token or Datadog's API key (never shown).
    public var token: String?
    /// The webhook signing secret, `whsec_…` (shown once, at creation).
    public var secret: String?
    public var categories: [String]
    public var actions: [String]
    public var paused: Bool
    public var failing: Bool
    /// The feed token after the last acknowledged batch.
    public var position: String
    public var delivered: Int64
    public var lastDeliveredAt: Date?
    public var caughtUpAt: Date?
    public var lastError: String?
    public var lastErrorAt: Date?
    public var failingSince: Date?
    public var createdAt: Date

    /// `active`, `paused` or `failing`.
    public var status: String { paused ? "paused" : failing ? "failing" : "active" }

    /// True when the stream takes an event of this category and action (empty lists take all;
    /// an action ending in `*` is a prefix).
    public func accepts(category: String, action: String) -> Bool {
        (categories.isEmpty || categories.contains(category))
            && (actions.isEmpty || actions.contains { $0.hasSuffix("*") ? action.hasPrefix($0.dropLast()) : $0 == action })
    }

    static let columns = """
        tenant_id, stream_id, kind, url, token, secret, categories, actions, paused, failing, position, delivered,
        last_delivered_at, caught_up_at, last_error, last_error_at, failing_since, created_at
        """

    init(row: PostgresRow) throws {
        let key = try row.decode(String.self, at: 0)
        guard let scope = StreamScope(key: key) else { throw PostgresError(code: .decoding, message: "a stream's tenant key \(key.prefix(130)) is not valid") }
        self.scope = scope
        id = try row.decode(String.self, at: 1)
        kind = Kind(rawValue: try row.decode(String.self, at: 2)) ?? .webhook
        url = try row.decode(String.self, at: 3)
        token = try row.decode(String?.self, at: 4)
        secret = try row.decode(String?.self, at: 5)
        categories = try row.decode([String].self, at: 6)
        actions = try row.decode([String].self, at: 7)
        paused = try row.decode(Bool.self, at: 8)
        failing = try row.decode(Bool.self, at: 9)
        position = try row.decode(String.self, at: 10)
        delivered = try row.decode(Int64.self, at: 11)
        lastDeliveredAt = try row.decode(Date?.self, at: 12)
        caughtUpAt = try row.decode(Date?.self, at: 13)
        lastError = try row.decode(String?.self, at: 14)
        lastErrorAt = try row.decode(Date?.self, at: 15)
        failingSince = try row.decode(Date?.self, at: 16)
        createdAt = try row.decode(Date.self, at: 17)
    }
}

/// What a publisher sets on a stream (validated by the HTTP layer first).
public struct StreamSettings: Sendable {
    public var kind: StreamRecord.Kind
    public var url: String
    public var token: String?
    public var categories: [String]
    public var actions: [String]
    /// Start at the oldest retained event instead of now.
    public var backfill: Bool

    public init(kind: StreamRecord.Kind, url: String, token: String?, categories: [String], actions: [String], backfill: Bool) {
        self.kind = kind
        self.url = url
        self.token = token
        self.categories = categories
        self.actions = actions
        self.backfill = backfill
    }
}

/// A change to a stream (nil: unchanged).
public struct StreamChange: Sendable {
    public var url: String?
    public var token: String?
    public var categories: [String]?
    public var actions: [String]?
    public var paused: Bool?

    public init(url: String? = nil, token: String? = nil, categories: [String]? = nil, actions: [String]? = nil, paused: Bool? = nil) {
        self.url = url
        self.token = token
        self.categories = categories
        self.actions = actions
        self.paused = paused
    }
}

extension AuditDatabase {
    // MARK: Configuration (publisher; owners and admins read)

    public func createStream(_ settings: StreamSettings, id: String, secret: String?, scope: StreamScope) async throws -> StreamRecord {
        let engine = self.engine
        return try await withContext(key: scope.key, roleName: AccessRole.publisher.rawValue, on: readPool) { connection in
            // A new stream starts now, or at the feed's start for a backfill.
            let position: FeedToken
            switch (scope, engine) {
            case (_, _) where settings.backfill && !(scope == .vendor && engine == .citus):
                position = .start
            case (.tenant(let tenant), _):
                position = try EventReader.feedTokenNow(engine: engine, tenant: tenant, on: connection)
            case (.vendor, .postgres):
                position = .snapshots(previous: try EventReader.currentSnapshot(on: connection), current: nil, last: nil)
            case (.vendor, .citus):
                // A position in each tenant's commits (audit.stream_cursor); none means from the first.
                if !settings.backfill {
                    try connection.query("""
                        INSERT INTO audit.stream_cursor (tenant_id, stream_id, seq)
                        SELECT tenant_id, \(id), feed_seq FROM audit.tenant WHERE feed_seq > 0
                        ON CONFLICT (tenant_id, stream_id) DO NOTHING
                        """)
                }
                position = .cursors(generation: 0)
            }
            return try StreamRecord(row: connection.query("""
                INSERT INTO audit.stream (tenant_id, stream_id, kind, url, token, secret, categories, actions, position)
                VALUES (\(scope.key), \(id), \(settings.kind.rawValue), \(settings.url), \(settings.token), \(secret),
                        \(settings.categories)::text[], \(settings.actions)::text[], \(position.encoded))
                RETURNING \(unsafeSQL: StreamRecord.columns)
                """).rows[0])
        }
    }

    public func streams(scope: StreamScope, role: AccessRole) async throws -> [StreamRecord] {
        try await withContext(key: scope.key, roleName: role.rawValue, on: readPool) { connection in
            try connection.query("""
                SELECT \(unsafeSQL: StreamRecord.columns) FROM audit.stream WHERE tenant_id = \(scope.key) ORDER BY created_at, stream_id
                """).rows.map(StreamRecord.init(row:))
        }
    }

    public func stream(id: String, scope: StreamScope, role: AccessRole) async throws -> StreamRecord? {
        try await withContext(key: scope.key, roleName: role.rawValue, on: readPool) { connection in
            try connection.query("""
                SELECT \(unsafeSQL: StreamRecord.columns) FROM audit.stream WHERE tenant_id = \(scope.key) AND stream_id = \(id)
                """).rows.first.map(StreamRecord.init(row:))
        }
    }

    /// Applies `change`; resuming a failing stream clears its failure. Nil when there is no such stream.
    public func updateStream(id: String, change: StreamChange, scope: StreamScope) async throws -> StreamRecord? {
        try await withContext(key: scope.key, roleName: AccessRole.publisher.rawValue, on: readPool) { connection in
            try connection.query("""
                UPDATE audit.stream SET url = coalesce(\(change.url), url), token = coalesce(\(change.token), token),
                    categories = coalesce(\(change.categories)::text[], categories), actions = coalesce(\(change.actions)::text[], actions),
                    paused = coalesce(\(change.paused), paused),
                    failing = CASE WHEN \(change.paused) = false THEN false ELSE failing END,
                    failing_since = CASE WHEN \(change.paused) = false THEN NULL ELSE failing_since END,
                    lease_owner = CASE WHEN \(change.paused) = true THEN NULL ELSE lease_owner END,
                    lease_until = CASE WHEN \(change.paused) = true THEN NULL ELSE lease_until END,
                    updated_at = now()
                WHERE tenant_id = \(scope.key) AND stream_id = \(id)
                RETURNING \(unsafeSQL: StreamRecord.columns)
                """).rows.first.map(StreamRecord.init(row:))
        }
    }

    public func deleteStream(id: String, scope: StreamScope) async throws -> Bool {
        try await withContext(key: scope.key, roleName: AccessRole.publisher.rawValue, on: readPool) { connection in
            let deleted = try connection.query("DELETE FROM audit.stream WHERE tenant_id = \(scope.key) AND stream_id = \(id) RETURNING 1").rows.count == 1
            if deleted, scope == .vendor { try connection.query("DELETE FROM audit.stream_cursor WHERE stream_id = \(id)") }
            return deleted
        }
    }

    // MARK: Delivery (the maintenance role, in the stream's tenant)

    /// Takes or renews the lease of every deliverable stream for `owner` (a replica).
    public func claimStreams(owner: String, leaseSeconds: Int) async throws -> [(scope: StreamScope, id: String)] {
        try await mappingErrors {
            try await readPool.withConnection { connection in
                try connection.query("SELECT tenant_id, stream_id FROM audit.claim_streams(\(owner), \(leaseSeconds)::integer)").rows.compactMap { row in
                    let id = try row.decode(String.self, at: 1)
                    return StreamScope(key: try row.decode(String.self, at: 0)).map { ($0, id) }
                }
            }
        }
    }

    /// The stream, if `owner` still holds its lease and it is not paused.
    public func leasedStream(id: String, scope: StreamScope, owner: String) async throws -> StreamRecord? {
        try await withContext(key: scope.key, roleName: Self.maintenanceRole, on: readPool) { connection in
            try connection.query("""
                SELECT \(unsafeSQL: StreamRecord.columns) FROM audit.stream
                WHERE tenant_id = \(scope.key) AND stream_id = \(id) AND lease_owner = \(owner) AND NOT paused
                """).rows.first.map(StreamRecord.init(row:))
        }
    }

    /// The feed after a stream's position, read as the delivery loop.
    public func streamFeed(after token: FeedToken, limit: Int, scope: StreamScope, id: String) async throws -> FeedPage {
        let engine = self.engine
        return try await withContext(key: scope.key, roleName: Self.maintenanceRole, on: readPool) { connection in
            switch (scope, engine) {
            case (.tenant(let tenant), _):
                return try EventReader.feed(engine: engine, tenant: tenant, after: token, limit: limit, on: connection)
            case (.vendor, .postgres):
                return try EventReader.vendorFeed(after: token, limit: limit, on: connection)
            case (.vendor, .citus):
                guard case .cursors(let generation) = token else { throw StoreError(.invalidInput, "a vendor-wide stream's position is not a set of cursors") }
                return try EventReader.vendorCommitFeed(stream: id, generation: generation, limit: limit, engine: engine, on: connection)
            }
        }
    }

    /// Moves the position from `from` to `to` after `count` events were acknowledged (or skipped
    /// by the filter), with a vendor-wide stream's `cursors` on Citus; false when the lease or the
    /// position changed meanwhile (nothing moves).
    public func advanceStream(id: String, scope: StreamScope, owner: String, from: String, to: String, cursors: [StreamCursor] = [],
                              delivered count: Int, caughtUp: Bool) async throws -> Bool {
        try await withContext(key: scope.key, roleName: Self.maintenanceRole, on: readPool) { connection in
            // Which times move is chosen here, not by CASE: Citus refuses now() inside CASE.
            var update: PostgresQuery = "UPDATE audit.stream SET position = \(to), delivered = delivered + \(Int64(count)), failing = false, failing_since = NULL"
            if count > 0 { update.append(", last_delivered_at = now()") }
            if caughtUp { update.append(", caught_up_at = now()") }
            update.append(" WHERE tenant_id = \(scope.key) AND stream_id = \(id) AND lease_owner = \(owner) AND position = \(from) RETURNING 1")
            let moved = try connection.query(update).rows.count == 1
            guard moved, !cursors.isEmpty else { return moved }
            // The cursors as one JSON bind (numbers as text: microseconds need all their digits).
            let rows = JSONValue.array(cursors.map { cursor in
                .object(["tenant_id": .string(cursor.tenant.rawValue), "seq": .string(String(cursor.seq)),
                         "micros": cursor.last.map { .string(String($0.micros)) } ?? .null, "event_id": cursor.last.map { .string($0.id) } ?? .null])
            })
            try connection.query("""
                INSERT INTO audit.stream_cursor (tenant_id, stream_id, seq, occurred_at, event_id, updated_at)
                SELECT c.tenant_id, \(id), c.seq::bigint, timestamptz 'epoch' + c.micros::bigint * interval '1 microsecond', c.event_id, now()
                FROM jsonb_to_recordset(\(rows.canonicalText)::jsonb) AS c(tenant_id text, seq text, micros text, event_id text)
                ON CONFLICT (tenant_id, stream_id) DO UPDATE
                SET seq = excluded.seq, occurred_at = excluded.occurred_at, event_id = excluded.event_id, updated_at = excluded.updated_at
                """)
            return true
        }
    }

    /// Records a failed delivery; the stream turns `failing` once it has failed for `failingAfter`.
    public func recordStreamFailure(id: String, scope: StreamScope, owner: String, error: String, failingAfter: Duration) async throws {
        _ = try await withContext(key: scope.key, roleName: Self.maintenanceRole, on: readPool) { connection in
            // Two statements, as Citus refuses now() inside coalesce: the first failure's time, then the rest.
            try connection.query("""
                UPDATE audit.stream SET failing_since = now()
                WHERE tenant_id = \(scope.key) AND stream_id = \(id) AND lease_owner = \(owner) AND failing_since IS NULL
                """)
            try connection.query("""
                UPDATE audit.stream SET last_error = \(String(error.prefix(1000))), last_error_at = now(),
                    failing = failing_since < now() - make_interval(secs => \(Double(failingAfter.components.seconds)))
                WHERE tenant_id = \(scope.key) AND stream_id = \(id) AND lease_owner = \(owner)
                """)
        }
    }
}

/// A stream's status as `/metrics` shows it (`audit.stream_statuses`).
public struct StreamStatus: Sendable, Equatable {
    public var scope: StreamScope
    public var id: String
    /// `active`, `paused` or `failing`.
    public var status: String
    public var delivered: Int64
    public var caughtUpAt: Date?
}

extension AuditDatabase {
    /// Every stream's status, across tenants (no destination or credential).
    public func streamStatuses() async throws -> [StreamStatus] {
        try await mappingErrors {
            try await readPool.withConnection { connection in
                try connection.query("SELECT tenant_id, stream_id, status, delivered, caught_up_at FROM audit.stream_statuses()").rows.compactMap { row in
                    guard let scope = StreamScope(key: try row.decode(String.self, at: 0)) else { return nil }
                    return StreamStatus(scope: scope, id: try row.decode(String.self, at: 1), status: try row.decode(String.self, at: 2),
                                        delivered: try row.decode(Int64.self, at: 3), caughtUpAt: try row.decode(Date?.self, at: 4))
                }
            }
        }
    }
}
