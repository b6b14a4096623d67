import ArgumentParser
import AuditCore
import AuditStore
import Foundation

/// `auditlog attach`, `detach` and `attached` (SPEC §3, §10): capture a SaaS table's changes.
struct Attach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Capture a table's changes into its tenants' audit logs (as the schema owner: DATABASE_ADMIN_URL).",
        discussion: """
            Installs a trigger on TABLE, in the database auditlog uses: each insert, update, delete and truncate \
            is written, in the writer's own transaction (rolled back with it), to auditlog's capture table, \
            and becomes an event of the row's tenant: <entity>.created, .updated, .deleted or .truncated. \
            The application names the actor per transaction with \
            set_config('auditlog.actor', '{"type":"user","id":"u_7","name":"Alice"}', true); without it the \
            actor is the database role. A row without a tenant is refused. Attaching again replaces the settings. \
            The SQL it installs is sql/functions/capture.sql.
            """
    )

    @Argument(help: "The table, as PostgreSQL names it (clients, or billing.invoices).")
    var table: String

    @Option(name: .customLong("tenant-column"), help: "The column holding the row's tenant.")
    var tenantColumn: String

    @Option(help: "What a row is, naming the actions (<entity>.created…); default: the table's name.")
    var entity: String?

    @Option(help: "The events' category; default: the entity.")
    var category: String?

    @Option(help: "A column naming the row for people (the target's name), e.g. name or email.")
    var display: String?

    @Option(parsing: .upToNextOption, help: "Columns whose change alone is not recorded (e.g. updated_at).")
    var ignore: [String] = []

    @Option(parsing: .upToNextOption, help: "Columns never stored anywhere: not in the capture, not in the event (e.g. password_hash).")
    var exclude: [String] = []

    func validate() throws {
        for (name, value) in [("TABLE", table), ("--tenant-column", tenantColumn)] + [display].compactMap { $0.map { ("--display", $0) } }
            where value.isEmpty || value.utf8.count > 200 || value.utf8.contains(0) {
            throw ValidationError("\(name) must be 1 to 200 characters.")
        }
        for column in ignore + exclude where column.isEmpty || column.utf8.count > 63 || column.utf8.contains(0) {
            throw ValidationError("--ignore and --exclude take column names of 1 to 63 characters.")
        }
    }

    func run() async throws {
        let request = AttachRequest(table: table, tenantColumn: tenantColumn, entity: entity, category: category,
                                    displayColumn: display, ignoreColumns: ignore, excludeColumns: exclude)
        let attached = try await Migrations.withMigratedDatabase("attach", logger: CommandLogging.bootstrap(defaultLevel: .warning)) { session in
            try await session.endpoint.attach(request)
        }
        print("Attached \(attached.table): its changes become \(attached.entity).created, .updated, .deleted and .truncated "
              + "in category \(attached.category), of the tenant in column \(attached.tenantColumn), "
              + "named by \(attached.keyColumns.joined(separator: ", "))"
              + (attached.displayColumn.map { " (shown as its \($0))" } ?? "")
              + (attached.excludeColumns.isEmpty ? "" : "; never stored: \(attached.excludeColumns.joined(separator: ", "))")
              + (attached.ignoreColumns.isEmpty ? "" : "; a change of only \(attached.ignoreColumns.joined(separator: ", ")) is not recorded")
              + ".")
    }
}

struct Detach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop capturing a table's changes (exit 1 when it was not attached); changes already captured still become events.")

    @Argument(help: "The table, as given to attach.")
    var table: String

    func run() async throws {
        let table = table
        let removed = try await Migrations.withMigratedDatabase("detach", logger: CommandLogging.bootstrap(defaultLevel: .warning)) { session in
            try await session.endpoint.detach(table: table)
        }
        guard removed else {
            printError("\(table) is not attached; `auditlog attached` lists what is.")
            throw ExitCode(1)
        }
        print("Detached \(table): its changes are no longer captured.")
    }
}

struct Attached: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the tables whose changes are captured, and how.")

    func run() async throws {
        let list = try await Migrations.withMigratedDatabase("attached", logger: CommandLogging.bootstrap(defaultLevel: .warning)) { session in
            try await session.endpoint.attachments()
        }
        guard !list.isEmpty else {
            printError("No table is attached; `auditlog attach TABLE --tenant-column COL` captures one.")
            return
        }
        let rows = [["TABLE", "ENTITY", "CATEGORY", "TENANT", "KEY", "DISPLAY", "IGNORED", "EXCLUDED"]] + list.map {
            [$0.table, $0.entity, $0.category, $0.tenantColumn, $0.keyColumns.joined(separator: ","), $0.displayColumn ?? "-",
             $0.ignoreColumns.isEmpty ? "-" : $0.ignoreColumns.joined(separator: ","), $0.excludeColumns.isEmpty ? "-" : $0.excludeColumns.joined(separator: ",")]
        }
        printColumns(rows)
    }
}
