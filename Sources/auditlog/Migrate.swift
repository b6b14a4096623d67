import ArgumentParser
import AuditStore
import Logging
import PostgresLibPQ

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending sql/ migrations (safe to run again).",
        discussion: "Connects with DATABASE_ADMIN_URL (default DATABASE_URL), or to the embedded database."
    )

    func run() async throws {
        let logger = CommandLogging.bootstrap()
        let configuration = try ServiceConfiguration()
        let endpoint = try await DatabaseEndpoint.open(configuration, for: .command("migrate"), logger: logger)
        do {
            let applied = try await Migrations.apply(try Migrations.runner(configuration: configuration, logger: logger), endpoint: endpoint)
            print(applied.isEmpty ? "Database is up to date." : "Applied \(applied.count) migration(s): \(applied.joined(separator: ", ")).")
            await endpoint.close()
        } catch {
            await endpoint.close()
            throw CommandFailure(error)
        }
    }
}

enum Migrations {
    /// The runner for this binary's `sql/` folder.
    static func runner(configuration: ServiceConfiguration, logger: Logger) throws -> MigrationRunner {
        MigrationRunner(
            migrations: try Migration.load(from: try Migration.defaultDirectory()),
            retentionDays: configuration.retentionDays,
            logger: logger)
    }

    /// Runs `sql/` against the endpoint's admin connection; returns the names applied now.
    @discardableResult
    static func apply(_ runner: MigrationRunner, endpoint: DatabaseEndpoint) async throws -> [String] {
        try await runBlocking {
            try runner.run(adminConninfo: endpoint.adminConninfo, appConninfo: endpoint.appConninfo)
        }
    }
}
