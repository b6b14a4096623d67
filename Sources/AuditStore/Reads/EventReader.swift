import AuditCore
import Foundation
internal import PostgresLibPQ

/// One page of events, newest first, encoded straight from the database's rows.
public struct EventPage: Sendable {
    /// The page's rows (`EventReader.columns`), for `EventEncoding`.
    var rows: [PostgresRow]
    public var nextCursor: PageCursor?

    /// How many events the page holds.
    public var count: Int { rows.count }

    /// The events as the API's JSON objects, separated by commas (the inside of an array).
    public func writeJSONEvents(to output: inout [UInt8]) {
        for (index, row) in rows.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            EventEncoding.writeJSON(row, to: &output)
        }
    }

    /// The events as export bundle lines (`{"event":{…},"type":"event"}`, keys sorted like
    /// every bundle line).
    public func writeBundleLines(to output: inout [UInt8]) {
        for row in rows {
            output.append(contentsOf: #"{"event":"#.utf8)
            EventEncoding.writeJSON(row, to: &output)
            output.append(contentsOf: #","type":"event"}"#.utf8)
            output.append(10)
        }
    }

    /// The events as export lines.
    public func write(_ format: ExportFormat, to output: inout [UInt8]) {
        for row in rows { format.write(row, to: &output) }
    }
}

/// Reads events for the tenant and role of the surrounding transaction.
///
/// Every statement here runs inside `AuditDatabase.withTenant`, so the row-level security
/// policies decide what is visible; the `tenant_id = current_setting(…)` conditions only
/// let the planner use the tenant-leading indexes. Full-text and `changed:` matches come
/// from `audit.matching_event_keys` (see sql/0005), which can use GIN indexes under RLS.
enum EventReader {
    /// The event columns, in the order `record` and `EventEncoding.Column` read them. Times come
    /// as integer microseconds only: PostgreSQL's timestamptz text output cost 1 µs a row twice.
    static let columns = """
        e.id, e.tenant_id, e.action, e.category, e.actor_type, e.actor_id, e.actor_name, e.actor_email,
        e.targets::text, e.message, e.changes::text, e.context::text, e.metadata::text, e.outcome, e.hash,
        (extract(epoch FROM e.occurred_at) * 1000000)::bigint, (extract(epoch FROM e.received_at) * 1000000)::bigint
        """

    /// The time window of a filter: the tenant's retention unless narrowed.
    static func window(_ filter: EventFilter, tenant: TenantID, on connection: PostgresConnection, now: Date, defaultRetentionDays: Int) throws -> (Date, Date) {
        let from = try filter.from ?? connection.query("SELECT \(windowStart(filter, tenant: tenant, now: now, defaultRetentionDays: defaultRetentionDays))")
            .rows[0].decode(Date.self, at: 0)
        return (from, windowEnd(filter, now: now))
    }

    /// The start of a filter's window as SQL: its `from`, or `now` less the tenant's retention
    /// (the service's default when the tenant has no row of its own).
    static func windowStart(_ filter: EventFilter, tenant: TenantID, now: Date, defaultRetentionDays: Int) -> PostgresQuery {
        filter.from.map { "\($0)::timestamptz" } ?? """
            (\(now)::timestamptz - coalesce((\(retentionQuery(tenant))), \(defaultRetentionDays)) * interval '1 day')
            """
    }

    /// The end of a filter's window: its `to`, or a day past `now` (clocks a little ahead).
    static func windowEnd(_ filter: EventFilter, now: Date) -> Date {
        filter.to ?? now.addingTimeInterval(86_400)
    }

    /// The tenant's own retention (no row: the service's default).
    static func retentionQuery(_ tenant: TenantID) -> PostgresQuery {
        "SELECT retention_days FROM audit.tenant WHERE tenant_id = \(tenant.rawValue)"
    }

    /// The conditions of the filter's clauses on one event row (` AND …`); a negated clause
    /// holds when its condition does not (NULL counting as not). Targets come from `target`:
    /// the `event_target` index for paged reads, the row's own `targets` for the live view.
    static func clauseConditions(_ filter: EventFilter, tenant: TenantID, target: ([EventFilter.TargetMatch]) -> PostgresQuery) -> PostgresQuery {
        var query: PostgresQuery = ""
        for clause in filter.clauses {
            let condition: PostgresQuery
            switch clause.values {
            case .actor(let ids):
                if ids.count == 1, !ids[0].contains("@") {
                    condition = "e.actor_id = \(ids[0])"
                } else if ids.contains(where: { $0.contains("@") }) {
                    // An email matches whatever its case (it is compared lowercased).
                    let emails = ids.filter { $0.contains("@") }.map { $0.lowercased() }
                    condition = "(e.actor_id = ANY(\(ids)::text[]) OR lower(e.actor_email) = ANY(\(emails)::text[]))"
                } else {
                    condition = "e.actor_id = ANY(\(ids)::text[])"
                }
            case .action(let matches):
                condition = anyOf(matches.map { match -> PostgresQuery in
                    switch match {
                    case .exact(let action): return "e.action = \(action)"
                    case .prefix(let start): return "e.action LIKE \(likePrefix(start))"
                    }
                })
            case .category(let names):
                condition = names.count == 1 ? "e.category = \(names[0])" : "e.category = ANY(\(names)::text[])"
            case .target(let targets):
                condition = target(targets)
            case .changed(let paths):
                condition = anyOf(paths.map { path -> PostgresQuery in
                    switch path {
                    case .exact(let field): return "e.changed_fields @> ARRAY[\(field)::text]"
                    case .prefix(let start): return "EXISTS (SELECT 1 FROM unnest(e.changed_fields) AS f WHERE starts_with(f, \(start)::text))"
                    }
                })
            case .outcome(let outcomes):
                condition = "e.outcome = ANY(\(outcomes.map(\.rawValue))::text[])"
            case .late:
                condition = lateCondition(tenant)
            }
            if clause.negated {
                query.append(" AND NOT coalesce((\(condition)), false)")
            } else {
                query.append(" AND (\(condition))")
            }
        }
        return query
    }

    /// Conditions joined by OR.
    static func anyOf(_ conditions: [PostgresQuery]) -> PostgresQuery {
        var query: PostgresQuery = ""
        for (index, condition) in conditions.enumerated() {
            if index > 0 { query.append(" OR ") }
            query.append("(\(condition))")
        }
        return query
    }

    /// A LIKE pattern for a prefix, its wildcards escaped.
    static func likePrefix(_ prefix: String) -> String {
        prefix.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_") + "%"
    }

    /// Targets through the `event_target` index, in the window `[from, to)`.
    static func targetRows(_ targets: [EventFilter.TargetMatch], tenant: TenantID, from: Date, to: Date) -> PostgresQuery {
        let matches = anyOf(targets.map { target -> PostgresQuery in
            switch target.id {
            case .exact(let id): return "t.target_type = \(target.type) AND t.target_id = \(id)"
            case .prefix(let start): return "t.target_type = \(target.type) AND starts_with(t.target_id, \(start)::text)"
            }
        })
        return """
            (e.occurred_at, e.id) IN (SELECT t.occurred_at, t.event_id FROM audit.event_target AS t
                WHERE t.tenant_id = \(tenant.rawValue) AND (\(matches))
                AND t.occurred_at >= \(from) AND t.occurred_at < \(to))
            """
    }

    /// The WHERE conditions for a filter (after `WHERE`), as binds.
    static func conditions(_ filter: EventFilter, tenant: TenantID, from: Date, to: Date) -> PostgresQuery {
        var query: PostgresQuery = """
            e.tenant_id = \(tenant.rawValue) AND e.occurred_at >= \(from) AND e.occurred_at < \(to)
            """
        query.append(clauseConditions(filter, tenant: tenant) { targetRows($0, tenant: tenant, from: from, to: to) })
        if let textQuery = textQuery(filter) {
            query.append("""
                 AND (e.occurred_at, e.id) IN (SELECT k.occurred_at, k.id FROM audit.matching_event_keys(
                    \(textQuery), NULL::text[], \(from), \(to)) AS k)
                """)
        }
        return query
    }

    /// The full-text groups as one `tsquery` expression (all groups; in each, any term), or nil
    /// when there are none. Words and phrases go through `phraseto_tsquery`, which splits them as
    /// the documents were split and reads no operators; a word the parser would split (`c_1402`,
    /// `req_3x`) may also be a whole identifier (sql/0026), which only a `tsquery` literal names
    /// unsplit.
    static func textQuery(_ filter: EventFilter) -> PostgresQuery? {
        guard !filter.text.isEmpty else { return nil }
        var query: PostgresQuery = "("
        for (index, group) in filter.text.enumerated() {
            if index > 0 { query.append(" && ") }
            query.append("(")
            for (position, term) in group.enumerated() {
                if position > 0 { query.append(" || ") }
                query.append(termQuery(term))
            }
            query.append(")")
        }
        query.append(")")
        return query
    }

    static func termQuery(_ term: EventFilter.TextTerm) -> PostgresQuery {
        let lexemes = EventFilter.lexemes(term.text)
        var query: PostgresQuery
        switch term.kind {
        case .word, .phrase:
            query = "phraseto_tsquery('simple', \(term.text))"
        case .prefix:
            var quoted = lexemes.map(EventFilter.quote)
            quoted[quoted.count - 1] += ":*"
            query = "to_tsquery('simple', \(quoted.joined(separator: " <-> ")))"
        }
        if term.kind != .phrase, let whole = EventFilter.wholeToken(term.text), lexemes != [whole] {
            let literal = EventFilter.quote(whole) + (term.kind == .prefix ? ":*" : "")
            query = "(\(query) || \(literal)::tsquery)"
        }
        return term.negated ? "(!! \(query))" : query
    }

    /// A page of events matching `filter`, after `cursor`, newest first.
    ///
    /// The window is read in slices, newest first (see `slices`), and the reading stops as soon
    /// as the page is full: a busy tenant's first page touches the last day's partitions only,
    /// where one statement over the whole window would open every daily partition of it.
    /// Full-text and `changed:` searches go through `audit.search_events` (sql/0008), which
    /// slices the same way with every filter, the position and the limit applied inside.
    /// A page of one target with no other condition goes through `audit.target_events`
    /// (sql/functions/target_events.sql) on PostgreSQL.
    static func page(
        _ filter: EventFilter, tenant: TenantID, after cursor: PageCursor?, limit: Int, on connection: PostgresConnection,
        now: Date, defaultRetentionDays: Int, engine: DatabaseEngine
    ) throws -> EventPage {
        var rows: [PostgresRow] = []
        let (from, to): (Date, Date)
        var pending: [(Date, Date)] = []
        let simple = filter.simple
        // Text or `changed:` in a shape the search function takes: its GIN-driven slices.
        // Anything else (negations, several values of a key, emails, prefixes) is read in
        // slices here, text through `audit.matching_event_keys`.
        let searched = simple.map { !$0.changed.isEmpty || !filter.text.isEmpty } ?? false
        let sliced = !searched
        if engine == .postgres, limit <= targetCallLimit, filter.isTargetAndDatesOnly,
           let type = simple?.targetType, let id = simple?.targetID {
            // One round trip: the window's start is worked out in the call.
            to = windowEnd(filter, now: now)
            let since = windowStart(filter, tenant: tenant, now: now, defaultRetentionDays: defaultRetentionDays)
            let anchor = Self.anchor(to: to, now: now, after: cursor)
            let after: PostgresQuery = cursor.map(cursorTime) ?? "NULL::timestamptz"
            rows = try connection.query("""
                SELECT \(unsafeSQL: columns) FROM audit.target_events(\(type)::text, \(id)::text, \(since),
                    \(to)::timestamptz, \(anchor)::timestamptz, \(after), \(cursor?.id)::text, \(limit + 1)::integer) AS e
                ORDER BY e.occurred_at DESC, e.id DESC
                """).rows
        } else if sliced, cursor == nil, filter.from == nil, filter.to == nil {
            // A first page with no dates starts with the last day, which every retention (at
            // least a day) keeps: that slice goes out with the retention lookup (and, in a read
            // transaction, its opening) in one round trip, and a busy tenant's page is full after it.
            let first = (now.addingTimeInterval(-86_400), now.addingTimeInterval(86_400))
            let results = try connection.queries([
                sliceQuery(filter, tenant: tenant, lower: first.0, upper: first.1, after: nil, limit: limit + 1),
                retentionQuery(tenant),
            ])
            rows = results[0].rows
            let days = try results[1].rows.first?.decode(Int.self, at: 0) ?? defaultRetentionDays
            (from, to) = (now.addingTimeInterval(-Double(days) * 86_400), first.1)
            pending = slices(from: from, to: to, anchor: now)
            // The window's first slice is the one read (retention ≥ 1 day); were it not, read them all.
            if pending.first.map({ $0 == first }) == true { pending.removeFirst() } else { rows = [] }
        } else {
            (from, to) = try window(filter, tenant: tenant, on: connection, now: now, defaultRetentionDays: defaultRetentionDays)
            if sliced {
                let anchor = Self.anchor(to: to, now: now, after: cursor)
                pending = slices(from: from, to: to, anchor: anchor)
            } else if let simple {
                let call = searchCall(simple, text: textQuery(filter), from: from, to: to, after: cursor, limit: limit + 1)
                rows = try connection.query("SELECT \(unsafeSQL: columns) FROM \(call) AS e ORDER BY e.occurred_at DESC, e.id DESC").rows
            }
        }
        for (lower, upper) in pending where rows.count <= limit {
            rows += try connection.query(sliceQuery(filter, tenant: tenant, lower: lower, upper: upper, after: cursor,
                                                    limit: limit + 1 - rows.count)).rows
        }
        var next: PageCursor?
        if rows.count > limit, let last = rows.prefix(limit).last {
            next = PageCursor(micros: try last.decode(Int64.self, at: EventEncoding.Column.occurredMicros), id: try last.decode(String.self, at: 0))
        }
        return EventPage(rows: Array(rows.prefix(limit)), nextCursor: next)
    }

    /// Where a page's slices are counted back from: now, or the cursor's position, but not past
    /// the window's end.
    static func anchor(to: Date, now: Date, after cursor: PageCursor?) -> Date {
        min(to, now, cursor.map { Date(timeIntervalSince1970: Double($0.micros) / 1_000_000) } ?? to)
    }

    /// The largest page read through `audit.target_events`, which looks up each event found
    /// before the last day with a statement of its own: a dashboard's page (at most 200), not an
    /// export's 5,000, whose pages stay joined slice by slice.
    static let targetCallLimit = 200

    /// One slice `[lower, upper)` of a page without text or `changed:` terms, newest first.
    static func sliceQuery(_ filter: EventFilter, tenant: TenantID, lower: Date, upper: Date, after cursor: PageCursor?, limit: Int) -> PostgresQuery {
        var query: PostgresQuery
        if let simple = filter.simple, let type = simple.targetType, let id = simple.targetID {
            // Driven by the target's own index, already in page order; each target row
            // then looks up its one event (OFFSET 0 keeps that a per-row lookup, where a
            // generic plan would hash every event of the window).
            query = """
                SELECT \(unsafeSQL: columns) FROM audit.event_target AS t
                CROSS JOIN LATERAL (SELECT * FROM audit.event AS e
                    WHERE e.tenant_id = t.tenant_id AND e.id = t.event_id AND e.occurred_at = t.occurred_at
                      AND \(conditions(filter.without("target"), tenant: tenant, from: lower, to: upper)) OFFSET 0) AS e
                WHERE t.tenant_id = \(tenant.rawValue) AND t.target_type = \(type) AND t.target_id = \(id)
                  AND t.occurred_at >= \(lower) AND t.occurred_at < \(upper)
                """
            if let cursor { query.append(" AND (t.occurred_at, t.event_id) < (\(cursorTime(cursor)), \(cursor.id))") }
            query.append(" ORDER BY t.occurred_at DESC, t.event_id DESC LIMIT \(limit)")
        } else {
            query = "SELECT \(unsafeSQL: columns) FROM audit.event AS e WHERE \(conditions(filter, tenant: tenant, from: lower, to: upper))"
            if let cursor { query.append(" AND (e.occurred_at, e.id) < (\(cursorTime(cursor)), \(cursor.id))") }
            query.append(" ORDER BY e.occurred_at DESC, e.id DESC LIMIT \(limit)")
        }
        return query
    }

    /// The window `[from, to)` cut into at most four slices, newest first: the day before
    /// `anchor` (now, or the cursor's position), the week, the month, and the rest. Each
    /// slice is one statement whose generic plan prunes to that slice's daily partitions at
    /// executor start; sql/0008 `audit.search_events` uses the same cuts.
    static func slices(from: Date, to: Date, anchor: Date) -> [(Date, Date)] {
        var result: [(Date, Date)] = []
        var upper = to
        for days in [1.0, 7, 30] {
            let lower = max(from, anchor.addingTimeInterval(-days * 86_400))
            if lower < upper {
                result.append((lower, upper))
                upper = lower
            }
        }
        if from < upper { result.append((from, upper)) }
        return result
    }

    static func cursorTime(_ cursor: PageCursor) -> PostgresQuery {
        "(timestamptz 'epoch' + \(cursor.micros)::bigint * interval '1 microsecond')"
    }

    /// An event that arrived after its hour was first sealed: received at or after the
    /// `covered_until` of the sequence-0 digest covering its hour (an hour is sealed only once
    /// it ended, so the cheap comparison goes first). Same as in `audit.search_events`.
    static func lateCondition(_ tenant: TenantID) -> PostgresQuery {
        """
        e.received_at >= date_trunc('hour', e.occurred_at, 'UTC') + interval '1 hour'
          AND e.received_at >= (SELECT CASE WHEN d.hour <= e.occurred_at THEN d.covered_until END FROM audit.digest AS d
                                 WHERE d.tenant_id = \(tenant.rawValue) AND d.sequence = 0 AND d.hour_end > e.occurred_at
                                 ORDER BY d.hour_end LIMIT 1)
        """
    }

    /// `audit.search_events(…)` with the filter's values as binds.
    static func searchCall(_ filter: EventFilter.Simple, text: PostgresQuery?, from: Date, to: Date, after cursor: PageCursor?, limit: Int) -> PostgresQuery {
        var exact: String?, prefix: String?
        switch filter.action {
        case .exact(let action)?: exact = action
        case .prefix(let start)?: prefix = start
        case nil: break
        }
        let changed: [String]? = filter.changed.isEmpty ? nil : filter.changed
        let categories: [String]? = filter.categories.isEmpty ? nil : filter.categories
        let after: PostgresQuery = cursor.map(cursorTime) ?? "NULL::timestamptz"
        return """
            audit.search_events(\(text ?? "NULL::tsquery"), \(changed)::text[], \(from)::timestamptz, \(to)::timestamptz,
                \(categories)::text[], \(filter.actor)::text, \(exact)::text, \(prefix)::text, \(filter.outcome?.rawValue)::text,
                \(filter.targetType)::text, \(filter.targetID)::text, \(after), \(cursor?.id)::text, \(limit)::integer, \(filter.lateOnly))
            """
    }

    /// One event by id, or nil (another tenant's id is as absent as an unknown one).
    /// The event an id names: `audit.event_id` gives its time, so one partition is read.
    static func find(id: String, tenant: TenantID, on connection: PostgresConnection) throws -> JSONValue? {
        try connection.query("""
            SELECT \(unsafeSQL: columns) FROM audit.event_id AS i
            JOIN audit.event AS e ON e.tenant_id = i.tenant_id AND e.id = i.id AND e.occurred_at = i.occurred_at
            WHERE i.tenant_id = \(tenant.rawValue) AND i.id = \(id) AND e.tenant_id = \(tenant.rawValue)
            """).rows.first.map(record)
    }

    /// Each category with its number of events in the filter's window.
    static func categories(
        _ filter: EventFilter, tenant: TenantID, on connection: PostgresConnection, now: Date, defaultRetentionDays: Int
    ) throws -> [CategoryCount] {
        let unfiltered = filter.without("category")
        let (from, to) = try window(unfiltered, tenant: tenant, on: connection, now: now, defaultRetentionDays: defaultRetentionDays)
        return try connection.query("""
            SELECT e.category, count(*) FROM audit.event AS e WHERE \(conditions(unfiltered, tenant: tenant, from: from, to: to))
            GROUP BY e.category ORDER BY count(*) DESC, e.category
            """).rows.map { CategoryCount(category: try $0.decode(String.self, at: 0), count: try $0.decode(Int.self, at: 1)) }
    }

    static func record(_ row: PostgresRow) throws -> JSONValue {
        typealias Column = EventEncoding.Column
        func json(_ column: Int) throws -> JSONValue {
            JSONValue.parse(Array(try row.decode(String.self, at: column).utf8)) ?? .null
        }
        func time(_ column: Int) throws -> JSONValue {
            var bytes: [UInt8] = []
            Timestamp.write(micros: try row.decode(Int64.self, at: column), to: &bytes)
            return .string(String(decoding: bytes, as: UTF8.self))
        }
        var actor: [String: JSONValue] = ["type": .string(try row.decode(String.self, at: Column.actorType)),
                                          "id": .string(try row.decode(String.self, at: Column.actorID))]
        if let name = try row.decode(String?.self, at: Column.actorName) { actor["name"] = .string(name) }
        if let email = try row.decode(String?.self, at: Column.actorEmail) { actor["email"] = .string(email) }
        return .object([
            "id": .string(try row.decode(String.self, at: Column.id)),
            "tenant": .string(try row.decode(String.self, at: Column.tenant)),
            "occurred_at": try time(Column.occurredMicros),
            "received_at": try time(Column.receivedMicros),
            "action": .string(try row.decode(String.self, at: Column.action)),
            "category": .string(try row.decode(String.self, at: Column.category)),
            "actor": .object(actor),
            "targets": try json(Column.targets),
            "message": .string(try row.decode(String.self, at: Column.message)),
            "changes": try json(Column.changes),
            "context": try json(Column.context),
            "metadata": try json(Column.metadata),
            "outcome": .string(try row.decode(String.self, at: Column.outcome)),
            "hash": .string(try row.decode(String.self, at: Column.hash)),
        ])
    }

}
