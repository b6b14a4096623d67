import AuditCore
import Foundation
import Logging
internal import PostgresLibPQ

/// Applies pending `sql/` migrations in order, each in its own transaction, and records
/// them in `public.auditlog_migration` (version, name, checksum, time).
///
/// Safe to run twice and from several processes at once: a session advisory lock
/// serialises runners, and applied versions are skipped. A migration whose file changed
/// after it was applied is refused, since the database no longer matches the file.
public struct MigrationRunner: Sendable {
    public var migrations: [Migration]
    /// Functions and policies, re-applied when their text changes (see `RepeatableScript`).
    public var repeatables: [RepeatableScript]
    /// `AUDITLOG_RETENTION_DAYS` when set: written to `audit.retention_policy`, the one source
    /// every instance reads at start. Nil leaves the database's value (90 days when new).
    public var retentionDays: Int?
    /// `AUDITLOG_RETENTION_GRACE` (seconds) when set: how long lifting a hold or shortening a
    /// retention waits before it takes effect, written to `audit.retention_policy` likewise.
    public var retentionGraceSeconds: Int?
    /// The service's digest signing key: listed (as the schema owner) after the migrations, so
    /// the service may sign with it. The service role itself cannot list a key.
    public var digestKey: DigestSigningKey?
    public var logger: Logger

    public init(migrations: [Migration], repeatables: [RepeatableScript] = [], retentionDays: Int?, logger: Logger) {
        self.migrations = migrations
        self.repeatables = repeatables
        self.retentionDays = retentionDays
        self.logger = logger
    }

    /// The migrations and repeatable scripts of this binary's `sql/` folder.
    public static func bundled(retentionDays: Int?, retentionGraceSeconds: Int? = nil, logger: Logger) throws -> MigrationRunner {
        let directory = try Migration.defaultDirectory()
        var runner = MigrationRunner(migrations: try Migration.load(from: directory), repeatables: try RepeatableScript.load(from: directory),
                                     retentionDays: retentionDays, logger: logger)
        runner.retentionGraceSeconds = retentionGraceSeconds
        return runner
    }

    static let lockKey = 0x6175_6469_746c_6f67 as Int64  // "auditlog"

    /// Runs the migrations over `adminConninfo`; returns the names applied now.
    /// When `appConninfo` carries a password for `auditlog_app`, the role is given it.
    @discardableResult
    public func run(adminConninfo: String, appConninfo: String? = nil) throws -> [String] {
        let connection: PostgresConnection
        do {
            connection = try PostgresConnection(conninfo: adminConninfo)
        } catch let error as PostgresError {
            throw MigrationError(message: "cannot connect to the database to migrate: \(error.message)")
        }
        let citus = try CitusLayout.isCoordinator(connection)
        if citus {
            // SET LOCAL ROLE at the head of each migration must not be replayed on the workers
            // (with 'local', Citus re-sends the whole string there); DDL still propagates.
            try connection.executeScript(unsafeSQL: "SET citus.propagate_set_commands = none")
        }
        try connection.query("SELECT pg_advisory_lock(\(Self.lockKey))")
        defer { _ = try? connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))") }

        try connection.executeScript(unsafeSQL: """
            CREATE TABLE IF NOT EXISTS public.auditlog_migration (
                version    integer     PRIMARY KEY,
                name       text        NOT NULL,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """)
        var applied: [Int: (name: String, checksum: String)] = [:]
        for row in try connection.query("SELECT version, name, checksum FROM public.auditlog_migration").rows {
            applied[try row.decode(Int.self, at: 0)] = (try row.decode(String.self, at: 1), try row.decode(String.self, at: 2))
        }
        var appliedNow: [String] = []
        for migration in migrations {
            let checksum = try connection.query("SELECT md5(\(migration.sql))").rows[0].decode(String.self, at: 0)
            if let existing = applied[migration.version] {
                guard existing.checksum == checksum else {
                    throw MigrationError(message: """
                        migration \(migration.name) was changed after it was applied to this database; \
                        add a new migration instead of editing an applied one
                        """)
                }
                continue
            }
            logger.info("applying migration", metadata: ["migration": "\(migration.name)"])
            try apply([migration.sql], named: "migration \(migration.name)", on: connection, recordedBy: """
                INSERT INTO public.auditlog_migration (version, name, checksum)
                VALUES (\(migration.version), \(migration.name), \(checksum))
                """)
            appliedNow.append(migration.name)
        }
        if citus { appliedNow += try CitusLayout.distribute(connection, logger: logger) }
        appliedNow += try applyRepeatables(connection)
        if citus { try CitusLayout.grantCoordinatorEvaluatedColumns(connection) }
        if let retentionGraceSeconds {
            try connection.query("UPDATE audit.retention_policy SET grace_seconds = \(retentionGraceSeconds)::integer")
        }
        if let retentionDays {
            // A shorter global retention is governed: pending for the grace period, like a tenant's cut.
            let outcome = try connection.query("SELECT audit.request_global_retention(\(retentionDays)::integer)").rows[0].decode(String.self, at: 0)
            if outcome == "pending", let row = try connection.query("""
                SELECT current_days, effective_at FROM audit.pending_global_retention()
                """).rows.first {
                let (current, effective) = (try row.decode(Int.self, at: 0), try row.decode(Date.self, at: 1))
                logger.notice("""
                    AUDITLOG_RETENTION_DAYS \(retentionDays) is shorter than the \(current) days in force: \
                    pending, in force from \(Timestamp.format(effective)) (AUDITLOG_RETENTION_GRACE); \
                    the tenants it shortens see it as pending and in their logs
                    """)
            }
        }
        try ensurePartitions(connection)
        try setAppPassword(connection, appConninfo: appConninfo)
        if let digestKey { try Self.listDigestKey(digestKey, retiringOthers: false, on: connection) }
        return appliedNow
    }

    /// Applies each repeatable script whose text differs from the one last applied; returns their names.
    private func applyRepeatables(_ connection: PostgresConnection) throws -> [String] {
        guard !repeatables.isEmpty else { return [] }
        try connection.executeScript(unsafeSQL: """
            CREATE TABLE IF NOT EXISTS public.auditlog_repeatable (
                name       text        PRIMARY KEY,
                checksum   text        NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            );
            GRANT SELECT ON public.auditlog_repeatable TO auditlog_app
            """)
        var applied: [String: String] = [:]
        for row in try connection.query("SELECT name, checksum FROM public.auditlog_repeatable").rows {
            applied[try row.decode(String.self, at: 0)] = try row.decode(String.self, at: 1)
        }
        var appliedNow: [String] = []
        for script in repeatables {
            let checksum = try connection.query("SELECT md5(\(script.sql))").rows[0].decode(String.self, at: 0)
            guard applied[script.name] != checksum else { continue }
            logger.info("applying repeatable script", metadata: ["script": "\(script.name)"])
            try apply(script.statements, named: "repeatable script \(script.name)", on: connection, recordedBy: """
                INSERT INTO public.auditlog_repeatable (name, checksum) VALUES (\(script.name), \(checksum))
                ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()
                """)
            appliedNow.append(script.name)
        }
        return appliedNow
    }

    /// Runs one file in its own transaction together with the row that records it.
    private func apply(_ statements: [String], named name: String, on connection: PostgresConnection, recordedBy record: PostgresQuery) throws {
        do {
            try connection.withTransaction { connection in
                for statement in statements { try connection.executeScript(unsafeSQL: statement) }
                try connection.executeScript(unsafeSQL: "RESET ROLE")
                try connection.query(record)
            }
        } catch let error as PostgresError {
            var message = "\(name) failed: \(error.message)"
            if let detail = error.detail { message += " (\(detail))" }
            if let hint = error.hint { message += " Hint: \(hint)" }
            throw MigrationError(message: message)
        }
    }

    /// Lists `key` in `audit.digest_key` (a listed key keeps its row; a retired one is current
    /// again); `retiringOthers` retires every other key (a rotation). Needs the schema owner.
    static func listDigestKey(_ key: DigestSigningKey, retiringOthers: Bool, on connection: PostgresConnection) throws {
        let listed = try connection.query("""
            SELECT retired_at IS NULL FROM audit.digest_key WHERE key_id = \(key.keyID)
            """).rows.first?.decode(Bool.self, at: 0)
        // A listed key is left as it is (migrate runs on every start): a retired one stays
        // retired, so a replica still configured with it cannot bring it back.
        if listed != nil, !retiringOthers { return }
        try connection.query("SELECT audit.register_digest_key(\(key.keyID), \(Crypto.hex(key.publicKey)), \(retiringOthers))")
    }

    /// Daily partitions for the whole retention window and a week ahead.
    private func ensurePartitions(_ connection: PostgresConnection) throws {
        let made = try connection.query("""
            SELECT audit.ensure_partitions(current_date - audit.global_retention_days(), current_date + 7)
            """).rows[0].decode(Int.self, at: 0)
        if made > 0 { logger.info("created partitions", metadata: ["count": "\(made)"]) }
    }

    private func setAppPassword(_ connection: PostgresConnection, appConninfo: String?) throws {
        guard let appConninfo, let settings = ConnInfo.parse(appConninfo),
              settings["user"] == "auditlog_app", let password = settings["password"], !password.isEmpty else { return }
        try connection.executeScript(unsafeSQL: "ALTER ROLE auditlog_app PASSWORD \(try connection.escapeLiteral(password))")
    }

    /// Whether the database at `conninfo` already carries every migration of this binary
    /// (read with any role: the service role may read the migration table).
    public func isCurrent(conninfo: String) throws -> Bool {
        let connection = try PostgresConnection(conninfo: conninfo)
        guard try Self.appliedVersion(on: connection) >= latestVersion else { return false }
        guard !repeatables.isEmpty else { return true }
        let applied: [String: String]
        do {
            applied = Dictionary(uniqueKeysWithValues: try connection.query("SELECT name, checksum FROM public.auditlog_repeatable").rows.map {
                (try $0.decode(String.self, at: 0), try $0.decode(String.self, at: 1))
            })
        } catch let error as PostgresError where error.sqlState == "42P01" {
            return false
        }
        for script in repeatables {
            let checksum = try connection.query("SELECT md5(\(script.sql))").rows[0].decode(String.self, at: 0)
            if applied[script.name] != checksum { return false }
        }
        return true
    }

    /// The highest migration applied to the connection's database; 0 before the first.
    static func appliedVersion(on connection: PostgresConnection) throws -> Int {
        do {
            return try connection.query("SELECT coalesce(max(version), 0) FROM public.auditlog_migration").rows[0].decode(Int.self, at: 0)
        } catch let error as PostgresError where error.sqlState == "42P01" {
            return 0
        }
    }

    /// The highest version among the migrations this binary carries.
    public var latestVersion: Int { migrations.last?.version ?? 0 }
}
