import Foundation
internal import PostgresLibPQ

/// A table whose changes are captured (`auditlog attach`, SPEC §10; sql/functions/capture.sql).
public struct Attachment: Sendable, Equatable {
    /// As PostgreSQL names it (`clients`, or `billing.invoices` outside the search path).
    public var table: String
    public var entity: String
    public var category: String
    public var tenantColumn: String
    public var keyColumns: [String]
    public var displayColumn: String?
    public var ignoreColumns: [String]
    public var excludeColumns: [String]
    public var attachedAt: Date
}

/// What `attach` is asked for; the names are checked by the database (`audit.attach_table`).
public struct AttachRequest: Sendable {
    public var table: String
    public var tenantColumn: String
    public var entity: String?
    public var category: String?
    public var displayColumn: String?
    public var ignoreColumns: [String]
    public var excludeColumns: [String]

    public init(table: String, tenantColumn: String, entity: String? = nil, category: String? = nil, displayColumn: String? = nil,
                ignoreColumns: [String] = [], excludeColumns: [String] = []) {
        self.table = table
        self.tenantColumn = tenantColumn
        self.entity = entity
        self.category = category
        self.displayColumn = displayColumn
        self.ignoreColumns = ignoreColumns
        self.excludeColumns = excludeColumns
    }
}

enum Attachments {
    static let columns = """
        table_name, entity, category, tenant_column, key_columns, display_column, ignore_columns, exclude_columns, attached_at
        """

    static func record(_ row: PostgresRow) throws -> Attachment {
        Attachment(table: try row.decode(String.self, at: 0), entity: try row.decode(String.self, at: 1),
                   category: try row.decode(String.self, at: 2), tenantColumn: try row.decode(String.self, at: 3),
                   keyColumns: try row.decode([String].self, at: 4), displayColumn: try row.decode(String?.self, at: 5),
                   ignoreColumns: try row.decode([String].self, at: 6), excludeColumns: try row.decode([String].self, at: 7),
                   attachedAt: try row.decode(Date.self, at: 8))
    }

    /// The entity when none is given: the table's own name, lowercased, without its schema.
    static func defaultEntity(of table: String, on connection: PostgresConnection) throws -> String {
        try connection.query("SELECT lower(relname::text) FROM pg_class WHERE oid = \(table)::regclass").rows[0].decode(String.self, at: 0)
    }

    static func attach(_ request: AttachRequest, on connection: PostgresConnection) throws -> Attachment {
        try connection.withTransaction { connection in
            let entity = try request.entity ?? defaultEntity(of: request.table, on: connection)
            let name = try connection.query("""
                SELECT audit.attach_table(\(request.table)::regclass, \(request.tenantColumn), \(entity), \(request.category ?? entity),
                                          \(request.displayColumn), \(request.ignoreColumns)::text[], \(request.excludeColumns)::text[])
                """).rows[0].decode(String.self, at: 0)
            return try record(connection.query("SELECT \(unsafeSQL: columns) FROM audit.attached_table WHERE table_name = \(name)").rows[0])
        }
    }

    static func detach(_ table: String, on connection: PostgresConnection) throws -> Bool {
        try connection.withTransaction { connection in
            try connection.query("SELECT audit.detach_table(\(table)::regclass)").rows[0].decode(Bool.self, at: 0)
        }
    }

    static func list(on connection: PostgresConnection) throws -> [Attachment] {
        try connection.query("SELECT \(unsafeSQL: columns) FROM audit.attached_table ORDER BY table_name").rows.map(record)
    }
}

extension DatabaseEndpoint {
    /// Installs capture on a table (as the schema owner or a superuser: `DATABASE_ADMIN_URL`).
    public func attach(_ request: AttachRequest) async throws -> Attachment {
        try await asOwner("attaching \(request.table.prefix(200))") { admin in
            try Attachments.attach(request, on: PostgresConnection(conninfo: admin))
        }
    }

    /// Removes capture from a table; false when it was not attached.
    public func detach(table: String) async throws -> Bool {
        try await asOwner("detaching \(table.prefix(200))") { admin in
            try Attachments.detach(table, on: PostgresConnection(conninfo: admin))
        }
    }

    /// The attached tables.
    public func attachments() async throws -> [Attachment] {
        try await asOwner("listing attached tables") { admin in
            try Attachments.list(on: PostgresConnection(conninfo: admin))
        }
    }
}
