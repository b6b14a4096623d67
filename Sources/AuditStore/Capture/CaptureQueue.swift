import AuditCore
import Foundation
internal import PostgresLibPQ

/// A captured change not yet turned into an event (`audit.pending_captures`), with how its
/// table is attached (nil when it was detached meanwhile).
public struct PendingCapture: Sendable {
    public var id: Int64
    public var tenant: String
    /// The writer's transaction: the captures of one transaction share it.
    public var transaction: String
    public var capturedAt: Date
    public var table: String
    /// `INSERT`, `UPDATE`, `DELETE` or `TRUNCATE`.
    public var operation: String
    public var rowKey: String?
    /// The row before and after, as JSON text, without its excluded columns.
    public var old: String?
    public var new: String?
    /// `auditlog.actor` and `auditlog.context` as the application set them (not yet validated).
    public var actor: String?
    public var context: String?
    public var databaseRole: String
    public var applicationName: String?
    public var entity: String?
    public var category: String?
    public var displayColumn: String?
    public var ignoreColumns: [String]
}

extension AuditDatabase {
    /// The oldest captures still to become events, at most `limit`.
    public func pendingCaptures(limit: Int) async throws -> [PendingCapture] {
        try await withContext(key: StreamScope.vendorKey, roleName: Self.maintenanceRole, on: readPool) { connection in
            try connection.query("SELECT * FROM audit.pending_captures(\(limit)::integer)").rows.map { row in
                PendingCapture(
                    id: try row.decode(Int64.self, at: 0), tenant: try row.decode(String.self, at: 1), transaction: try row.decode(String.self, at: 2),
                    capturedAt: try row.decode(Date.self, at: 3), table: try row.decode(String.self, at: 4), operation: try row.decode(String.self, at: 5),
                    rowKey: try row.decode(String?.self, at: 6), old: try row.decode(String?.self, at: 7), new: try row.decode(String?.self, at: 8),
                    actor: try row.decode(String?.self, at: 9), context: try row.decode(String?.self, at: 10),
                    databaseRole: try row.decode(String.self, at: 11), applicationName: try row.decode(String?.self, at: 12),
                    entity: try row.decode(String?.self, at: 13), category: try row.decode(String?.self, at: 14),
                    displayColumn: try row.decode(String?.self, at: 15), ignoreColumns: try row.decode([String]?.self, at: 16) ?? [])
            }
        }
    }

    /// Removes captures that became events.
    public func forgetCaptures(_ ids: [Int64]) async throws {
        guard !ids.isEmpty else { return }
        _ = try await withContext(key: StreamScope.vendorKey, roleName: Self.maintenanceRole, on: readPool) { connection in
            try connection.query("SELECT audit.forget_captures(\("{" + ids.map(String.init).joined(separator: ",") + "}")::bigint[])")
        }
    }
}
