import AuditCore
import Foundation
import Logging
internal import PostgresLibPQ

/// Where the commands find PostgreSQL: `DATABASE_URL`/`DATABASE_ADMIN_URL`, or the
/// embedded database under `AUDITLOG_DATA_DIR`, held for as long as the endpoint is open.
public final class DatabaseEndpoint: Sendable {
    /// Owner of the schema, for `migrate` and administrative commands.
    public let adminConninfo: String
    /// The service role (`auditlog_app`), for everything that serves tenants.
    public let appConninfo: String
    /// True when `DATABASE_URL` is set and `DATABASE_ADMIN_URL` is not: administrative work
    /// then goes over the service's own connection, which normally may not do it.
    public let adminIsServiceRole: Bool
    private let lease: EmbeddedDatabaseLease?

    private init(adminConninfo: String, appConninfo: String, adminIsServiceRole: Bool = false, lease: EmbeddedDatabaseLease?) {
        self.adminConninfo = adminConninfo
        self.appConninfo = appConninfo
        self.adminIsServiceRole = adminIsServiceRole
        self.lease = lease
    }

    /// What to tell an operator whose command needed the schema owner's rights.
    public static let adminNeeded = """
        Set DATABASE_ADMIN_URL to a role that owns the schema (the one `auditlog migrate` uses); \
        DATABASE_URL is the service role, which on purpose may not change the schema or create keys.
        """

    /// The database of `DATABASE_URL` (and `DATABASE_ADMIN_URL`), or without them the embedded
    /// one in `dataDirectory`.
    public static func open(
        databaseURL: String?, adminURL: String?, dataDirectory: URL, for purpose: EmbeddedDatabaseLease.Purpose, logger: Logger
    ) async throws -> DatabaseEndpoint {
        if databaseURL == nil, let admin = adminURL {
            // Only the owner's URL: the commands that need only the owner use it; the rest say
            // what is missing rather than starting an embedded database nobody asked for.
            guard case .command(let name) = purpose, ["migrate", "keys create"].contains(name) else {
                throw ConfigurationError(message: """
                    DATABASE_ADMIN_URL is set but DATABASE_URL is not: set DATABASE_URL to the service role \
                    (auditlog_app) on the same database.
                    """)
            }
            return DatabaseEndpoint(adminConninfo: admin, appConninfo: admin, lease: nil)
        }
        if let url = databaseURL {
            return DatabaseEndpoint(adminConninfo: adminURL ?? url, appConninfo: url, adminIsServiceRole: adminURL == nil, lease: nil)
        }
        let directory = dataDirectory
        return try await runBlocking {
            let database = try EmbeddedPostgres(dataDirectory: directory)
            let lease = try EmbeddedDatabaseLease.acquire(database, for: purpose, logger: logger)
            return DatabaseEndpoint(adminConninfo: database.adminConninfo(), appConninfo: database.appConninfo(), lease: lease)
        }
    }

    /// True when this process runs its own embedded PostgreSQL.
    public var isEmbedded: Bool { lease != nil }

    /// The embedded data directory, when there is one.
    public var dataDirectory: URL? { lease?.database.dataDirectory }

    /// Applies `runner`'s migrations over the admin connection; returns the names applied now.
    ///
    /// With only `DATABASE_URL` (the service role), a schema that is already current is left
    /// alone, so replicas of `serve` start without the owner's credentials; one that is not
    /// gets a message naming `DATABASE_ADMIN_URL` rather than PostgreSQL's "permission denied".
    @discardableResult
    public func migrate(with runner: MigrationRunner) async throws -> [String] {
        let (admin, app, adminIsServiceRole) = (adminConninfo, appConninfo, adminIsServiceRole)
        return try await runBlocking {
            if adminIsServiceRole, try runner.isCurrent(conninfo: app) {
                if runner.retentionDays != nil {
                    runner.logger.warning("AUDITLOG_RETENTION_DAYS is applied by `auditlog migrate` with DATABASE_ADMIN_URL; the database's value stays in force")
                }
                return []
            }
            do {
                return try runner.run(adminConninfo: admin, appConninfo: app)
            } catch let error as PostgresError where adminIsServiceRole && error.sqlState == "42501" {
                throw MigrationError(message: """
                    The database needs migrations this binary carries (up to \(runner.latestVersion)), and DATABASE_URL's \
                    role may not apply them: \(error.message). \(DatabaseEndpoint.adminNeeded)
                    """)
            } catch let error as PostgresError {
                throw MigrationError(message: "cannot migrate the database: \(error.debugDescription)")
            }
        }
    }

    /// Stores a new publisher key (as the schema owner) and returns its text, shown once.
    public func createPublisherKey(name: String, tenant: TenantID?) async throws -> (key: String, record: PublisherKey) {
        let admin = adminConninfo
        return try await runBlocking {
            do {
                return try PublisherKeys.create(name: name, tenant: tenant, adminConninfo: admin)
            } catch let error as PostgresError where error.sqlState == "42501" {
                throw MigrationError(message: "Creating a publisher key needs the schema owner: \(error.message). \(DatabaseEndpoint.adminNeeded)")
            } catch let error as PostgresError {
                throw MigrationError(message: "cannot create the key: \(error.debugDescription)")
            }
        }
    }

    /// The publisher keys (as the schema owner); never their secrets.
    public func publisherKeys() async throws -> [PublisherKeyRecord] {
        try await asOwner("listing publisher keys") { try PublisherKeys.list(adminConninfo: $0) }
    }

    /// Revokes publisher key `id`; nil when there is none.
    public func revokePublisherKey(id: Int64) async throws -> PublisherKeyRecord? {
        try await asOwner("revoking a publisher key") { try PublisherKeys.revoke(id: id, adminConninfo: $0) }
    }

    /// Makes a new key in place of `id`, which works `grace` seconds more; nil when `id` is not an active key.
    public func rotatePublisherKey(id: Int64, grace: Int) async throws -> (key: String, record: PublisherKey, old: PublisherKeyRecord)? {
        try await asOwner("rotating a publisher key") { try PublisherKeys.rotate(id: id, grace: grace, adminConninfo: $0) }
    }

    /// Runs `body` with the owner's conninfo, wording a refusal for the operator.
    func asOwner<T: Sendable>(_ what: String, _ body: @escaping @Sendable (String) throws -> T) async throws -> T {
        let admin = adminConninfo
        return try await runBlocking {
            do {
                return try body(admin)
            } catch let error as PostgresError where error.sqlState == "42501" {
                throw MigrationError(message: "\(what.prefix(1).uppercased() + what.dropFirst()) needs the schema owner: \(error.message). \(DatabaseEndpoint.adminNeeded)")
            } catch let error as PostgresError {
                throw MigrationError(message: "\(what) failed: \(error.debugDescription)")
            }
        }
    }

    /// Lists `key` as the current digest key and retires every other one (as the schema owner).
    public func rotateDigestKey(to key: DigestSigningKey) async throws -> [PublishedDigestKey] {
        let admin = adminConninfo
        return try await runBlocking {
            do {
                let connection = try PostgresConnection(conninfo: admin)
                try connection.withTransaction { try MigrationRunner.listDigestKey(key, retiringOthers: true, on: $0) }
                return try PublishedDigestKey.all(on: connection)
            } catch let error as PostgresError where error.sqlState == "42501" {
                throw MigrationError(message: "Rotating the digest key needs the schema owner: \(error.message). \(DatabaseEndpoint.adminNeeded)")
            } catch let error as PostgresError {
                throw MigrationError(message: "cannot rotate the digest key: \(error.debugDescription)")
            }
        }
    }

    /// The listed digest keys, current and retired.
    public func digestKeys() async throws -> [PublishedDigestKey] {
        let app = appConninfo
        return try await runBlocking { try PublishedDigestKey.all(on: try PostgresConnection(conninfo: app)) }
    }

    /// Gives the embedded database back (stopping it if this process holds it).
    public func close() async {
        guard let lease else { return }
        _ = try? await runBlocking { lease.release() }
    }
}
