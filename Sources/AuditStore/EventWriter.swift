import AuditCore
import Foundation
internal import PostgresLibPQ

/// Writes groups of events in one transaction, as the publisher, tenant by tenant.
///
/// Each tenant's rows go in with that tenant's `SET LOCAL` context, so the row-level
/// security policies check every row even when one transaction carries many tenants.
/// Rows travel as one JSON array per tenant (`jsonb_to_recordset`): one bind, one parse.
enum EventWriter {
    static let insertSQL = """
        WITH input AS (
            SELECT * FROM jsonb_to_recordset($1::jsonb) AS r(
                tenant_id text, id text, occurred_at timestamptz, received_at timestamptz, action text,
                category text, actor_type text, actor_id text, actor_name text, actor_email text,
                targets jsonb, message text, changes jsonb, changed_fields text[], context jsonb,
                metadata jsonb, outcome text, hash text)
        ), inserted AS (
            INSERT INTO audit.event (tenant_id, id, occurred_at, received_at, action, category, actor_type,
                actor_id, actor_name, actor_email, targets, message, changes, changed_fields, context,
                metadata, outcome, hash)
            SELECT tenant_id, id, occurred_at, received_at, action, category, actor_type, actor_id,
                actor_name, actor_email, targets, message, changes, changed_fields, context, metadata,
                outcome, hash
            FROM input
            ON CONFLICT DO NOTHING
            RETURNING tenant_id, id, occurred_at, targets
        ), linked AS (
            INSERT INTO audit.event_target (tenant_id, target_type, target_id, occurred_at, event_id)
            SELECT DISTINCT i.tenant_id, t ->> 'type', t ->> 'id', i.occurred_at, i.id
            FROM inserted AS i, jsonb_array_elements(i.targets) AS t
            ON CONFLICT DO NOTHING
        )
        SELECT id, (extract(epoch FROM occurred_at) * 1000000)::bigint FROM inserted
        """

    /// One submission: a request's events with their positions in that request.
    struct Item {
        var submission: Int
        var index: Int
        var event: StoredEvent
    }

    /// Writes every submission in one transaction. Returns, per submission, how many of its
    /// events were duplicates; throws `IngestRejection` (tagged by submission) or a database error.
    static func write(_ submissions: [[StoredEvent]], on connection: PostgresConnection, engine: DatabaseEngine = .postgres) throws -> [Int] {
        var byTenant: [TenantID: [Item]] = [:]
        for (submission, events) in submissions.enumerated() {
            for (index, event) in events.enumerated() {
                byTenant[event.tenant, default: []].append(Item(submission: submission, index: index, event: event))
            }
        }
        var duplicates = [Int](repeating: 0, count: submissions.count)
        try connection.withTransaction(beginSeparately: engine == .citus) { connection in
            for tenant in byTenant.keys.sorted(by: { $0.rawValue < $1.rawValue }) {
                let items = byTenant[tenant]!
                try connection.executeScript(unsafeSQL: try engine.contextPreamble(tenant: tenant, roleName: AccessRole.publisher.rawValue, on: connection))
                let retention = try retentionDays(of: tenant, on: connection)
                try checkRetention(items, days: retention)
                let inserted = try connection.query(PostgresQuery(unsafeSQL: insertSQL, binds: [rowsJSON(items)])).rows
                var written = Set<String>()
                for row in inserted {
                    written.insert("\(try row.decode(String.self, at: 0))|\(try row.decode(Int64.self, at: 1))")
                }
                // A row counts once: the same (id, occurred_at) twice in one request (or in two
                // requests sharing this transaction) is stored once, and every later copy is a duplicate.
                for item in items {
                    if written.remove(key(item.event)) == nil { duplicates[item.submission] += 1 }
                }
            }
        }
        return duplicates
    }

    /// The tenant's retention, creating the tenant (default settings) on its first event.
    /// A tenant created meanwhile by a concurrent transaction is only visible to a statement
    /// started after that commit, hence the second look.
    static func retentionDays(of tenant: TenantID, on connection: PostgresConnection) throws -> Int {
        let select: PostgresQuery = "SELECT retention_days FROM audit.tenant WHERE tenant_id = \(tenant.rawValue)"
        if let row = try connection.query(select).rows.first { return try row.decode(Int.self, at: 0) }
        let insert: PostgresQuery =
            "INSERT INTO audit.tenant (tenant_id) VALUES (\(tenant.rawValue)) ON CONFLICT DO NOTHING RETURNING retention_days"
        if let created = try connection.query(insert).rows.first { return try created.decode(Int.self, at: 0) }
        guard let row = try connection.query(select).rows.first else {
            throw PostgresError(code: .server, message: "tenant \(tenant) could not be created or read")
        }
        return try row.decode(Int.self, at: 0)
    }

    static func key(_ event: StoredEvent) -> String {
        "\(event.id)|\(Int64((event.occurredAt.timeIntervalSince1970 * 1_000_000).rounded()))"
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

    static func rowsJSON(_ items: [Item]) -> String {
        JSONValue.array(items.map { item in
            let event = item.event
            return .object([
                "tenant_id": .string(event.tenant.rawValue),
                "id": .string(event.id),
                "occurred_at": .string(Timestamp.format(event.occurredAt)),
                "received_at": .string(Timestamp.format(event.receivedAt)),
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
        }).canonicalText
    }
}

/// A rejection together with the submissions it concerns (for group commit).
struct TaggedRejection: Error {
    var submissions: Set<Int>
    var rejection: IngestRejection
}
