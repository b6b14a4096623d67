import AuditCore
import Foundation
import Logging
import Metrics
import ServiceLifecycle
internal import PostgresLibPQ

/// The store: the only owner of database connections. Everything above it (HTTP, CLI) calls
/// its async, tenant-scoped operations and sees `StoreError`, never a connection or a row.
///
/// Work is split into bulkheads, a pool each: ingest, reads (on the replica when there is a
/// healthy one), key lookups, and maintenance; fifty slow searches fill the read pool and no
/// other. Every statement runs under a time limit and is cancelled on the server when its
/// caller's task is cancelled. As a `Service` it drains ingest and closes its pools on shutdown.
///
/// Tenant data is reached only through transactions that begin with
/// `SET LOCAL auditlog.tenant = …; SET LOCAL auditlog.role = …`, so the row-level security
/// policies decide what is visible; nothing here filters by tenant on its own.
public final class AuditDatabase: Service, Sendable {
    public let configuration: StoreConfiguration
    /// The migration version this binary expects (for readiness).
    public let expectedSchemaVersion: Int
    /// The longest any tenant keeps events: the database's `audit.retention_policy`, read at start.
    public let globalRetentionDays: Int
    /// Group commit of published events (the ingest bulkhead).
    public let ingestor: EventIngestor
    /// Rings after each commit of events by this process (the feed's long polls wait on it).
    public let commits = CommitSignal()
    /// Publisher key lookups (the authentication bulkhead).
    public let keys: PublisherKeyAuthenticator
    /// PostgreSQL, or a Citus coordinator (found at `open`).
    let engine: DatabaseEngine

    let ingestPool: ConnectionPool
    let readPool: ConnectionPool
    let authPool: ConnectionPool
    let maintenancePool: ConnectionPool
    let replica: ReplicaRouter?
    let logger: Logger
    private let primaryReads = Counter(label: "auditlog_reads_total", dimensions: [("database", "primary")])
    private let replicaReads = Counter(label: "auditlog_reads_total", dimensions: [("database", "replica")])

    init(primary conninfo: String, configuration: StoreConfiguration, expectedSchemaVersion: Int, globalRetentionDays: Int,
         engine: DatabaseEngine = .postgres, logger: Logger) {
        self.configuration = configuration
        self.engine = engine
        self.expectedSchemaVersion = expectedSchemaVersion
        self.globalRetentionDays = globalRetentionDays
        self.logger = logger
        func pool(_ name: String, _ size: Int, timeout: Duration, conninfo: String = conninfo) -> ConnectionPool {
            ConnectionPool(configuration: .init(
                conninfo: conninfo, size: size, acquireTimeout: configuration.acquireTimeout,
                sessionSettings: [
                    "statement_timeout": "\(StoreConfiguration.milliseconds(timeout))",
                    "idle_in_transaction_session_timeout": "\(StoreConfiguration.milliseconds(max(timeout, .seconds(60))))",
                    "application_name": "auditlog-\(name)",
                ],
                name: name), logger: logger)
        }
        ingestPool = pool("ingest", configuration.ingestConnections, timeout: configuration.writeTimeout)
        readPool = pool("read", configuration.readConnections, timeout: configuration.readTimeout)
        authPool = pool("auth", configuration.authConnections, timeout: configuration.readTimeout)
        maintenancePool = pool("maintenance", configuration.maintenanceConnections, timeout: configuration.maintenanceTimeout)
        replica = configuration.replicaConninfo.map { replicaConninfo in
            ReplicaRouter(pool: pool("replica", configuration.readConnections, timeout: configuration.readTimeout, conninfo: replicaConninfo),
                          maxLag: configuration.replicaMaxLag, logger: logger)
        }
        let commits = self.commits
        ingestor = EventIngestor(pool: ingestPool, writers: configuration.ingestConnections, engine: engine, onCommit: { commits.notify() })
        keys = PublisherKeyAuthenticator(pool: authPool)
    }

    /// Connects to the primary at `conninfo` (the service role) and reads the global retention.
    public static func open(
        conninfo: String, configuration: StoreConfiguration, expectedSchemaVersion: Int,
        logger: Logger = Logger(label: "auditlog.store")
    ) async throws -> AuditDatabase {
        let (days, engine) = try await mappingErrors {
            try await runBlocking {
                let connection = try PostgresConnection(conninfo: conninfo)
                let days = try connection.query("SELECT audit.global_retention_days()").rows[0].decode(Int.self, at: 0)
                return (days, try DatabaseEngine.detect(connection))
            }
        }
        return AuditDatabase(primary: conninfo, configuration: configuration, expectedSchemaVersion: expectedSchemaVersion,
                             globalRetentionDays: days, engine: engine, logger: logger)
    }

    // MARK: Lifecycle

    /// Runs until graceful shutdown, then lets every acknowledged write finish and closes the pools.
    public func run() async throws {
        try? await gracefulShutdown()
        await ingestor.drain()
        await close()
    }

    public func close() async {
        await ingestPool.close()
        await readPool.close()
        await authPool.close()
        await maintenancePool.close()
        await replica?.pool.close()
    }

    // MARK: Transactions

    /// The role value of the maintenance pass (digests), which no token or key can carry.
    static let maintenanceRole = "maintenance"

    /// Runs `body` in one transaction on `pool` for `tenant` and `role`; the context is sent in
    /// the same round trip as BEGIN.
    func withTenant<T: Sendable>(
        _ tenant: TenantID, roleName: String, on pool: ConnectionPool, timeout: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        try await withContext(key: tenant.rawValue, roleName: roleName, on: pool, timeout: timeout, body)
    }

    /// `withTenant` for any context key (a tenant's, or `StreamScope.vendorKey`).
    func withContext<T: Sendable>(
        key: String, roleName: String, on pool: ConnectionPool, timeout: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let engine = self.engine
        return try await mappingErrors {
            try await pool.withConnection { connection in
                try engine.withContextTransaction(
                    key: key, roleName: roleName, timeout: timeout,
                    on: connection, body)
            }
        }
    }

    /// A read transaction: on the replica while it is usable, else (or when it fails to answer)
    /// on the primary's read pool.
    func withReadTransaction<T: Sendable>(
        _ tenant: TenantID, role: AccessRole, timeout: Duration? = nil,
        _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        let engine = self.engine
        func read(on pool: ConnectionPool) async throws -> T {
            try await mappingErrors {
                try await pool.withConnection { connection in
                    try engine.withReadTransaction(key: tenant.rawValue, roleName: role.rawValue, timeout: timeout, on: connection, body)
                }
            }
        }
        if let replica, let pool = await replica.usablePool() {
            do {
                let value = try await read(on: pool)
                replicaReads.increment()
                return value
            } catch let error as StoreError where error.code == .unavailable {
                await replica.markUnreachable(error)
            }
        }
        let value = try await read(on: readPool)
        primaryReads.increment()
        return value
    }
}
