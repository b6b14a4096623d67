import AuditCore
import Foundation
internal import PostgresLibPQ

/// Writes groups of events in one transaction, as the publisher, tenant by tenant.
///
/// Each tenant's rows go in with that tenant's `SET LOCAL` context, so the row-level
/// security policies check every row even when one transaction carries many tenants.
/// Rows travel as one JSON array per tenant (`jsonb_to_recordset`): one bind, one parse.
enum EventWriter {
    /// The rows of the single bind, typed.
    static let inputSQL = """
        WITH input AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
                tenant_id text, id text, occurred_at timestamptz, action text,
                category text, actor_type text, actor_id text, actor_name text, actor_email text,
                targets jsonb, message text, changes jsonb, changed_fields text[], context jsonb,
                metadata jsonb, outcome text, hash text)
        )
        """

    /// The event's columns, for both inserts. `received_at` is not among them: the database sets it.
    static let eventColumns = """
        tenant_id, id, occurred_at, action, category, actor_type, actor_id, actor_name, actor_email,
            targets, message, changes, changed_fields, context, metadata, outcome, hash
        """

    /// Claims each id in `audit.event_id` first; only an event whose claim is new is written
    /// (with its target rows). The input holds each id once (`write` keeps the first of a
    /// request's repeats).
    static let insertSQL = insertStatement(allNew: false)


    /// The common case on PostgreSQL, tried first: every id is new. Then the claims and rows are
    /// plain inserts, without `ON CONFLICT`'s second index probe per row (speculative insertion)
    /// and without the semi-join on the claims: on 500 rows a claim costs 9 µs a row instead of
    /// 17. An id already taken (a retry, a conflict, a concurrent writer's claim) fails the
    /// statement with 23505; `write` then rolls back and writes the group again with `insertSQL`.
    static let insertNewSQL = insertStatement(allNew: true)

    static func insertStatement(allNew: Bool) -> String {
        """
        \(inputSQL), claimed AS (
            INSERT INTO audit.event_id (tenant_id, id, occurred_at, hash)
            SELECT tenant_id, id, occurred_at, hash FROM input\(allNew ? "" : "\n    ON CONFLICT DO NOTHING\n    RETURNING id")
        ), inserted AS (
            INSERT INTO audit.event (\(eventColumns))
            SELECT \(eventColumns) FROM input\(allNew ? "" : " WHERE id IN (SELECT id FROM claimed)")
            RETURNING tenant_id, id, occurred_at, targets
        ), linked AS (
            INSERT INTO audit.event_target (tenant_id, target_type, target_id, occurred_at, event_id)
            SELECT DISTINCT i.tenant_id, t ->> 'type', t ->> 'id', i.occurred_at, i.id
            FROM inserted AS i, jsonb_array_elements(i.targets) AS t\(allNew ? "" : "\n    ON CONFLICT DO NOTHING")
        )
        SELECT id FROM inserted
        """
    }

    /// One submission: a request's events with their positions in that request.
    struct Item {
        var submission: Int
        var index: Int
        var event: StoredEvent
    }

    /// Writes every submission in one transaction. Returns, per submission, how many of its
    /// events were duplicates; throws `IngestRejection` (tagged by submission) or a database error.
    static func write(_ submissions: [[StoredEvent]], on connection: PostgresConnection, engine: DatabaseEngine = .postgres) throws -> [Int] {
        do {
            return try write(submissions, on: connection, engine: engine, allNew: true)
        } catch let error as PostgresError where error.sqlState == "23505" {
            return try write(submissions, on: connection, engine: engine, allNew: false)
        }
    }

    /// One attempt: `allNew` writes with `insertNewSQL`, which fails on any id already taken.
    static func write(_ submissions: [[StoredEvent]], on connection: PostgresConnection, engine: DatabaseEngine, allNew: Bool) throws -> [Int] {
        var byTenant: [TenantID: [Item]] = [:]
        for (submission, events) in submissions.enumerated() {
            for (index, event) in events.enumerated() {
                byTenant[event.tenant, default: []].append(Item(submission: submission, index: index, event: event))
            }
        }
        var duplicates = [Int](repeating: 0, count: submissions.count)
        let tenants = byTenant.keys.sorted(by: { $0.rawValue < $1.rawValue })
        let body = { (connection: PostgresConnection) throws in
            let context = { (tenant: TenantID) throws -> [PostgresQuery] in
                try engine.contextQueries(key: tenant.rawValue, roleName: AccessRole.publisher.rawValue, on: connection)
            }
            // Every tenant's context, ingest lock and retention in one round trip with the BEGIN
            // (on Citus also the transaction id, see CitusRows); each later step names its
            // tenant's context again.
            var opening: [PostgresQuery] = []
            var retentionAt: [Int] = []
            for tenant in tenants {
                opening += try context(tenant) + [ingestLockQuery(tenant)]
                retentionAt.append(opening.count)
                opening.append(retentionSelect(tenant))
            }
            if engine == .citus { opening.append("SELECT pg_current_xact_id()::text") }
            let opened = try connection.queries(opening)
            let xid = engine == .citus ? try opened[opened.count - 1].rows[0].decode(String.self, at: 0) : nil
            var written: [(tenant: TenantID, items: [Item])] = []
            for (position, tenant) in tenants.enumerated() {
                let items = byTenant[tenant]!
                let found = opened[retentionAt[position]]
                if found.rows.isEmpty { _ = try connection.queries(try context(tenant)) }  // its first event: the row is made in its context
                try checkRetention(items, days: try retentionDays(of: tenant, found: found, on: connection))
                // One row per id: a repeat of the same event is a duplicate, any other event
                // with that id a conflict (tagged with its submission).
                var first: [String: (hash: String, submission: Int)] = [:]
                first.reserveCapacity(items.count)
                var unique: [Item] = []
                unique.reserveCapacity(items.count)
                var conflicts: [Item] = []
                var requestConflicts: [Item] = []
                for item in items {
                    if let earlier = first[item.event.id] {
                        if earlier.hash == item.event.hash {
                            duplicates[item.submission] += 1
                        } else if earlier.submission == item.submission {
                            requestConflicts.append(item)  // two different events under one id in one request
                        } else {
                            conflicts.append(item)  // another request in this write stores the id first
                        }
                    } else {
                        first[item.event.id] = (item.event.hash, item.submission)
                        unique.append(item)
                    }
                }
                try throwConflicts(requestConflicts, inRequest: true)
                try throwConflicts(conflicts)
                written.append((tenant, unique))
            }
            // Every id new: each tenant's rows go out in one round trip with the COMMIT (on Citus
            // with the commits' numbers); a taken id fails it (23505), the transaction rolls back,
            // and `write` starts again with `allNew` false.
            var last: [PostgresQuery] = []
            var numbered: [TenantID] = []
            for (tenant, unique) in written {
                if allNew {
                    last += try context(tenant)
                    if let xid { last += CitusRows.claims(unique, returning: false) + CitusRows.events(unique, xid: xid) } else {
                        last.append(PostgresQuery(unsafeSQL: insertNewSQL, binds: [rowsJSON(unique)]))
                    }
                    numbered.append(tenant)
                    continue
                }
                // Otherwise each id is claimed if free; an id taken is a duplicate or a conflict.
                var conflicts: [Item] = []
                let claimed: Set<String>
                if let xid {
                    let results = try connection.queries(try context(tenant) + CitusRows.claims(unique, returning: true))
                    claimed = Set(try results.dropFirst(results.count - CitusRows.statementCount(unique.count)).flatMap { result in
                        try result.rows.map { try $0.decode(String.self, at: 0) }
                    })
                    let stored = unique.filter { claimed.contains($0.event.id) }
                    if !stored.isEmpty { _ = try connection.queries(CitusRows.events(stored, xid: xid)) }
                } else {
                    let results = try connection.queries(try context(tenant) + [PostgresQuery(unsafeSQL: insertSQL, binds: [rowsJSON(unique)])])
                    claimed = Set(try results[results.count - 1].rows.map { try $0.decode(String.self, at: 0) })
                }
                if !claimed.isEmpty { numbered.append(tenant) }
                try sortRefused(unique.filter { !claimed.contains($0.event.id) }, of: tenant, duplicates: &duplicates, conflicts: &conflicts, on: connection)
            }
            // On Citus the commit's number, for each tenant written, is among the transaction's
            // last writes (each in its tenant's context), sent with the COMMIT: a tenant row's
            // lock is held only from there to the commit.
            if let xid {
                for tenant in numbered { last += try context(tenant) + [numberCommitQuery(tenant, xid: xid)] }
            }
            _ = try connection.queries(last + ["COMMIT"])
        }
        try connection.withDeferredTransaction(opening: [], body)
        return duplicates
    }

    /// The events whose id was taken already: the same event stored is a duplicate, another one a
    /// conflict that refuses its request.
    static func sortRefused(_ refused: [Item], of tenant: TenantID, duplicates: inout [Int], conflicts: inout [Item], on connection: PostgresConnection) throws {
        guard !refused.isEmpty else { return }
        let stored = Dictionary(uniqueKeysWithValues: try connection.query("""
            SELECT id, hash FROM audit.event_id WHERE tenant_id = \(tenant.rawValue) AND id = ANY(\(refused.map(\.event.id))::text[])
            """).rows.map { (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1)) })
        for item in refused {
            if stored[item.event.id] == item.event.hash { duplicates[item.submission] += 1 } else { conflicts.append(item) }
        }
        try throwConflicts(conflicts)
    }

    /// A different event under an id already taken refuses its whole request (409 id_conflict).
    /// `inRequest`: the other event with the id came earlier in the same request (two different
    /// events under one id in one batch), not from the stored log.
    static func throwConflicts(_ conflicts: [Item], inRequest: Bool = false) throws {
        guard !conflicts.isEmpty else { return }
        throw TaggedRejection(submissions: Set(conflicts.map(\.submission)), rejection: IngestRejection(kind: .idConflict, problems: conflicts.map {
            EventProblem(index: $0.index, field: "id", message: inRequest
                ? "'\($0.event.id)' is also the id of a different event sent with it"
                : "'\($0.event.id)' is already stored as a different event")
        }))
    }

    /// On Citus, the feed's order (sql/0027_commit_ordered_feed.sql): the tenant's next commit
    /// number, taken among the transaction's last writes, so the tenant row's lock is held only
    /// from there to the commit; the commit is recorded with the transaction's id on the
    /// coordinator, the `xid` its events were written with. One statement; `ON
    /// CONFLICT` (never met: the number is new) keeps Citus from sending the insert as a COPY,
    /// which row-level security refuses.
    static func numberCommitQuery(_ tenant: TenantID, xid: String) -> PostgresQuery {
        """
        WITH numbered AS (
            UPDATE audit.tenant SET feed_seq = feed_seq + 1 WHERE tenant_id = \(tenant.rawValue) RETURNING tenant_id, feed_seq
        )
        INSERT INTO audit.feed_commit (tenant_id, seq, xid) SELECT tenant_id, feed_seq, \(xid)::xid8 FROM numbered
        ON CONFLICT DO NOTHING
        """
    }

    /// Holds the tenant's ingest lock shared until the transaction ends, before any row is
    /// written: a checkpoint (`DigestWriter.checkpoint`) waits for this write to finish.
    static func ingestLockQuery(_ tenant: TenantID) -> PostgresQuery {
        let lock = DigestWriter.ingestLock(tenant)
        return "SELECT pg_advisory_xact_lock_shared(\(lock.0), \(lock.1))"
    }

    static func retentionSelect(_ tenant: TenantID) -> PostgresQuery {
        "SELECT retention_days FROM audit.tenant WHERE tenant_id = \(tenant.rawValue)"
    }

    /// The tenant's retention (`found`: the result of `retentionSelect`), creating the tenant
    /// (default settings) on its first event. A tenant created meanwhile by a concurrent
    /// transaction is only visible to a statement started after that commit, hence the second look.
    static func retentionDays(of tenant: TenantID, found: PostgresResult, on connection: PostgresConnection) throws -> Int {
        if let row = found.rows.first { return try row.decode(Int.self, at: 0) }
        let insert: PostgresQuery =
            "INSERT INTO audit.tenant (tenant_id) VALUES (\(tenant.rawValue)) ON CONFLICT DO NOTHING RETURNING retention_days"
        if let created = try connection.query(insert).rows.first { return try created.decode(Int.self, at: 0) }
        guard let row = try connection.query(retentionSelect(tenant)).rows.first else {
            throw PostgresError(code: .server, message: "tenant \(tenant) could not be created or read")
        }
        return try row.decode(Int.self, at: 0)
    }

    /// A tenant that chose a shorter retention refuses events it would delete at once.
    static func checkRetention(_ items: [Item], days: Int) throws {
        let oldest = Date().addingTimeInterval(-Double(days) * 86_400)
        let late = items.filter { $0.event.occurredAt < oldest }
        guard !late.isEmpty else { return }
        throw TaggedRejection(submissions: Set(late.map(\.submission)), rejection: IngestRejection(problems: late.map {
            EventProblem(index: $0.index, field: "occurred_at", message: "is older than this tenant's retention (\(days) days)")
        }))
    }

    /// The rows as one JSON array for the insert's single bind: each event's structured fields
    /// are the canonical bytes its hash was computed over, copied, not serialised again.
    static func rowsJSON(_ items: [Item]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(items.count * 1024)
        output.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            writeRow(item.event, to: &output)
        }
        output.append(UInt8(ascii: "]"))
        return String(decoding: output, as: UTF8.self)
    }

    /// One row, keys in canonical order (the same text as the row object's `canonicalText`).
    static func writeRow(_ event: StoredEvent, to output: inout [UInt8]) {
        func string(_ key: String, _ value: String?) {
            output.append(contentsOf: key.utf8)
            if let value { JSONValue.writeString(value, to: &output) } else { output.append(contentsOf: "null".utf8) }
        }
        func raw(_ key: String, _ bytes: [UInt8]) {
            output.append(contentsOf: key.utf8)
            output.append(contentsOf: bytes)
        }
        string(#"{"action":"#, event.action)
        string(#","actor_email":"#, event.actor.email)
        string(#","actor_id":"#, event.actor.id)
        string(#","actor_name":"#, event.actor.name)
        string(#","actor_type":"#, event.actor.type)
        string(#","category":"#, event.category)
        output.append(contentsOf: #","changed_fields":["#.utf8)
        for (index, field) in event.changedFields.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONValue.writeString(field, to: &output)
        }
        output.append(UInt8(ascii: "]"))
        raw(#","changes":"#, event.canonical.changes)
        raw(#","context":"#, event.canonical.context)
        string(#","hash":"#, event.hash)
        string(#","id":"#, event.id)
        string(#","message":"#, event.message)
        raw(#","metadata":"#, event.canonical.metadata)
        string(#","occurred_at":"#, event.canonical.occurredAt)
        string(#","outcome":"#, event.outcome.rawValue)
        raw(#","targets":"#, event.canonical.targets)
        string(#","tenant_id":"#, event.tenant.rawValue)
        output.append(UInt8(ascii: "}"))
    }

    /// The row as a JSON object (what `writeRow` writes, built the slow way: for tests).
    static func rowObject(_ event: StoredEvent) -> JSONValue {
        .object([
            "tenant_id": .string(event.tenant.rawValue),
            "id": .string(event.id),
            "occurred_at": .string(Timestamp.format(event.occurredAt)),
            "action": .string(event.action),
            "category": .string(event.category),
            "actor_type": .string(event.actor.type),
            "actor_id": .string(event.actor.id),
            "actor_name": event.actor.name.map(JSONValue.string) ?? .null,
            "actor_email": event.actor.email.map(JSONValue.string) ?? .null,
            "targets": event.targetsJSON,
            "message": .string(event.message),
            "changes": event.changesJSON,
            "changed_fields": .array(event.changedFields.map(JSONValue.string)),
            "context": .object(event.context),
            "metadata": .object(event.metadata),
            "outcome": .string(event.outcome.rawValue),
            "hash": .string(event.hash),
        ])
    }
}

/// A rejection together with the submissions it concerns (for group commit).
struct TaggedRejection: Error {
    var submissions: Set<Int>
    var rejection: IngestRejection
}
