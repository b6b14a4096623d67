import AuditCore
import AuditStore
import Foundation
import Logging
import PostgresLibPQ

/// The PostgreSQL every test suite of one `swift test` run shares: the product's own
/// embedded launcher in a throwaway folder (or `AUDITLOG_TEST_DATABASE_URL`), with a
/// migrated template database that each suite copies into a database of its own.
public actor TestCluster {
    public static let shared = TestCluster()

    private var setup: Task<Server, any Error>?

    struct Server: Sendable {
        /// Builds an admin conninfo for a database name.
        let admin: @Sendable (String) -> String
        /// Builds an app-role conninfo for a database name.
        let app: @Sendable (String) -> String
    }

    static let templateName = "auditlog_test_template"

    /// A fresh database, migrated, for one suite.
    public func database(_ label: String) async throws -> TestDatabase {
        let server = try await server()
        let name = try await create("t_", label, template: Self.templateName, on: server)
        return TestDatabase(name: name, adminConninfo: server.admin(name), appConninfo: server.app(name))
    }

    /// A fresh database with nothing in it (no migrations); returns its admin conninfo.
    public func emptyDatabase(_ label: String) async throws -> String {
        let server = try await server()
        return server.admin(try await create("e_", label, template: nil, on: server))
    }

    /// Creates a database named from `prefix`, `label` and a random suffix; returns the name.
    private func create(_ prefix: String, _ label: String, template: String?, on server: Server) async throws -> String {
        let name = prefix + label.lowercased().filter { $0.isLetter || $0.isNumber } + "_" + String(UInt32.random(in: 0...UInt32.max), radix: 36)
        try await runBlocking {
            let connection = try PostgresConnection(conninfo: server.admin("postgres"))
            try connection.executeScript(unsafeSQL: "CREATE DATABASE \"\(name)\"" + (template.map { " TEMPLATE \"\($0)\"" } ?? ""))
        }
        return name
    }

    /// Conninfo for the cluster's administrator, for a database that may not exist yet.
    public func adminConninfo(database: String) async throws -> String {
        try await server().admin(database)
    }

    private func server() async throws -> Server {
        if let setup { return try await setup.value }
        let task = Task { try await Self.start() }
        setup = task
        return try await task.value
    }

    private static func start() async throws -> Server {
        try await runBlocking {
            let server: Server
            if let url = ProcessInfo.processInfo.environment["AUDITLOG_TEST_DATABASE_URL"], !url.isEmpty {
                server = try external(url)
            } else {
                server = try embedded()
            }
            try createTemplate(server)
            return server
        }
    }

    private static func embedded() throws -> Server {
        TestClusterCleanup.removeStaleClusters()
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("auditlog-test-\(getpid())")
        let cluster = try EmbeddedPostgres(dataDirectory: directory, durability: .throwaway)
        try cluster.start(logger: Logger(label: "auditlog.test"))
        TestClusterCleanup.register(directory: directory.path)
        return Server(
            admin: { cluster.adminConninfo(database: $0) },
            app: { cluster.appConninfo(database: $0) })
    }

    private static func external(_ url: String) throws -> Server {
        guard var settings = ConnInfo.parse(url) else {
            throw EmbeddedPostgresError(message: "AUDITLOG_TEST_DATABASE_URL does not parse as a libpq conninfo")
        }
        settings.removeValue(forKey: "dbname")
        let password = "auditlog_test_" + UUID().uuidString
        @Sendable func conninfo(_ values: [String: String], database: String) -> String {
            (values.map { "\($0.key)=\(ConnInfo.quote($0.value))" } + ["dbname=\(ConnInfo.quote(database))"]).joined(separator: " ")
        }
        var app = settings
        app["user"] = "auditlog_app"
        app["password"] = password
        let frozenSettings = settings, frozenApp = app
        return Server(admin: { conninfo(frozenSettings, database: $0) }, app: { conninfo(frozenApp, database: $0) })
    }

    private static func createTemplate(_ server: Server) throws {
        let connection = try PostgresConnection(conninfo: server.admin("postgres"))
        let exists = try connection.query("SELECT 1 FROM pg_database WHERE datname = \(templateName)").rowCount > 0
        if exists {
            try connection.executeScript(unsafeSQL: "DROP DATABASE \"\(templateName)\" WITH (FORCE)")
        }
        try connection.executeScript(unsafeSQL: "CREATE DATABASE \"\(templateName)\"")
        var logger = Logger(label: "auditlog.test")
        logger.logLevel = .warning
        let runner = try MigrationRunner.bundled(retentionDays: 90, logger: logger)
        try runner.run(adminConninfo: server.admin(templateName), appConninfo: server.app(templateName))
    }
}

/// One suite's own database.
public struct TestDatabase: Sendable {
    public let name: String
    public let adminConninfo: String
    public let appConninfo: String

    /// A pool connected as the service role.
    public func appPool(size: Int = 4, acquireTimeout: Duration = .seconds(5)) -> ConnectionPool {
        ConnectionPool(configuration: .init(conninfo: appConninfo, size: size, acquireTimeout: acquireTimeout))
    }

    /// The store over this database as the service role, with small bulkheads unless configured.
    public func store(
        expectedSchemaVersion: Int = 0, configure: (inout StoreConfiguration) -> Void = { _ in }
    ) async throws -> AuditDatabase {
        var configuration = StoreConfiguration.forTests()
        configure(&configuration)
        return try await AuditDatabase.open(conninfo: appConninfo, configuration: configuration, expectedSchemaVersion: expectedSchemaVersion)
    }

    /// Runs blocking work on an administrator (superuser) connection.
    public func asAdmin<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let conninfo = adminConninfo
        return try await runBlocking { try body(try PostgresConnection(conninfo: conninfo)) }
    }

    /// Lists `key` as a digest signing key, as `auditlog migrate` does (the service role cannot).
    public func listDigestKey(_ key: DigestSigningKey) async throws {
        try await asAdmin { connection in
            try connection.query("SELECT audit.register_digest_key(\(key.keyID), \(Crypto.hex(key.publicKey)))")
        }
    }

    /// Runs `statements` in one transaction as `role` (a SaaS application's own role writing an
    /// attached table), with `auditlog.actor` set when given; committed unless `rollback`.
    public func asRole(_ role: String, _ statements: [String], actor: String? = nil, rollback: Bool = false) async throws {
        try await asAdmin { connection in
            try connection.executeScript(unsafeSQL: "BEGIN; SET LOCAL ROLE \(role)")
            do {
                if let actor { try connection.query("SELECT set_config('auditlog.actor', \(actor), true)") }
                for statement in statements { try connection.executeScript(unsafeSQL: statement) }
                try connection.executeScript(unsafeSQL: rollback ? "ROLLBACK" : "COMMIT")
            } catch {
                _ = try? connection.executeScript(unsafeSQL: "ROLLBACK")
                throw error
            }
        }
    }

    /// Runs blocking work on a fresh connection as the service role.
    public func asApp<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let conninfo = appConninfo
        return try await runBlocking { try body(try PostgresConnection(conninfo: conninfo)) }
    }
}

extension StoreConfiguration {
    /// The product's budgets with time limits no test run can reach by load alone: on a loaded
    /// 2-core CI machine a search can wait seconds for the CPU, and a test asserts behaviour, not
    /// speed. Tests of the limits themselves set them short explicitly.
    public static func forTests(poolSize: Int = 4) -> StoreConfiguration {
        var configuration = StoreConfiguration(poolSize: poolSize, readTimeout: .seconds(120), writeTimeout: .seconds(120))
        configuration.exportPageTimeout = .seconds(120)
        configuration.acquireTimeout = .seconds(120)
        return configuration
    }
}
