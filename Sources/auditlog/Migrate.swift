import ArgumentParser
import AuditStore
import Logging

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending sql/ migrations (safe to run again).",
        discussion: "Connects with DATABASE_ADMIN_URL (default DATABASE_URL), or to the embedded database."
    )

    func run() async throws {
        let applied = try await Migrations.withMigratedDatabase("migrate", logger: CommandLogging.bootstrap()) { $0.applied }
        print(applied.isEmpty ? "Database is up to date." : "Applied \(applied.count) migration(s): \(applied.joined(separator: ", ")).")
    }
}

enum Migrations {
    /// What a command gets from `withMigratedDatabase`.
    struct Session {
        var endpoint: DatabaseEndpoint
        var configuration: ServiceConfiguration
        /// Migrations applied by this command.
        var applied: [String]
    }

    /// Opens the database for a command (embedded or `DATABASE_URL`), applies pending
    /// migrations, runs `body`, and gives the database back whatever happens; every failure
    /// reaches the operator as a `CommandFailure` (exit 1).
    static func withMigratedDatabase<T>(
        _ command: String, logger: Logger, _ body: (Session) async throws -> T
    ) async throws -> T {
        let configuration: ServiceConfiguration
        let endpoint: DatabaseEndpoint
        do {
            configuration = try ServiceConfiguration()
            endpoint = try await configuration.openEndpoint(for: .command(command), logger: logger)
        } catch {
            throw CommandFailure(error)
        }
        do {
            var runner = try runner(configuration: configuration, logger: logger)
            // The configured digest key is listed as the schema owner (when one is configured).
            runner.digestKey = try? configuration.digestKey(embeddedDataDirectory: endpoint.dataDirectory)
            let applied = try await apply(runner, endpoint: endpoint)
            let value = try await body(Session(endpoint: endpoint, configuration: configuration, applied: applied))
            await endpoint.close()
            return value
        } catch {
            await endpoint.close()
            throw CommandFailure(error)
        }
    }

    /// The runner for this binary's `sql/` folder.
    static func runner(configuration: ServiceConfiguration, logger: Logger) throws -> MigrationRunner {
        try MigrationRunner.bundled(retentionDays: configuration.retentionDays, retentionGraceSeconds: configuration.retentionGraceSeconds, logger: logger)
    }

    /// Runs `sql/` against the endpoint's admin connection; returns the names applied now.
    ///
    /// With only `DATABASE_URL` (the service role), a schema that is already current is left
    /// alone, so replicas of `serve` start without the owner's credentials; one that is not
    /// gets a message naming `DATABASE_ADMIN_URL` rather than PostgreSQL's "permission denied".
    @discardableResult
    static func apply(_ runner: MigrationRunner, endpoint: DatabaseEndpoint) async throws -> [String] {
        try await endpoint.migrate(with: runner)
    }

    /// The store over the endpoint's service role, for commands that do one piece of work.
    static func store(_ session: Session, logger: Logger) async throws -> AuditDatabase {
        var configuration = session.configuration.store
        configuration.replicaConninfo = nil
        return try await AuditDatabase.open(
            conninfo: session.endpoint.appConninfo, configuration: configuration,
            expectedSchemaVersion: try runner(configuration: session.configuration, logger: logger).latestVersion, logger: logger)
    }
}
