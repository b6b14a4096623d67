import AuditCore
import Foundation
import Logging
internal import PostgresLibPQ

/// A PostgreSQL cluster that auditlog runs itself, in a folder of its own.
///
/// The cluster lives in `<dataDirectory>/pg`, listens only on a Unix socket in
/// `<dataDirectory>` (no TCP port, socket mode 0700), and is reused on the next start.
/// When the process is root the server runs as an unprivileged user (`postgres` if it
/// exists, else a system user `auditlog` created for it), since PostgreSQL refuses root.
public struct EmbeddedPostgres: Sendable {
    public enum Durability: Sendable {
        /// fsync on: what `serve` uses. Nothing acknowledged is lost in a crash.
        case durable
        /// fsync off: for throwaway test clusters only.
        case throwaway
    }

    public static let databaseName = "auditlog"
    public static let superuser = "postgres"
    static let port = 5432

    public let dataDirectory: URL
    /// Where the cluster, its socket and its log live: the data directory itself, or — when the
    /// process is root and the unprivileged server user cannot reach the data directory (a
    /// checkout under /root, say) — a folder of its own under /var/lib/auditlog. The lock file
    /// and the signing key always stay in the data directory.
    public let serverDirectory: URL
    public let durability: Durability
    let binaries: PostgresBinaries
    let serverUser: String?

    public init(dataDirectory: URL, durability: Durability = .durable) throws {
        self.dataDirectory = dataDirectory.standardizedFileURL
        self.durability = durability
        binaries = try PostgresBinaries.find()
        serverUser = geteuid() == 0 ? try Self.unprivilegedUser() : nil
        let parent = self.dataDirectory.deletingLastPathComponent().path
        var reachable = true
        if let serverUser {
            reachable = try ProcessRunner(user: serverUser).run("/usr/bin/test", ["-x", parent]).status == 0
        }
        if reachable {
            serverDirectory = self.dataDirectory
        } else {
            let digest = Crypto.hex(Crypto.sha256(Array(self.dataDirectory.path.utf8)).prefix(8))
            serverDirectory = URL(fileURLWithPath: "/var/lib/auditlog/\(digest)")
        }
        let socketPath = serverDirectory.path + "/.s.PGSQL.\(Self.port)"
        guard socketPath.utf8.count < 100 else {
            throw EmbeddedPostgresError(message: """
                The data directory path \(serverDirectory.path) is too long for a Unix socket \
                (at most ~90 characters); set AUDITLOG_DATA_DIR to a shorter path.
                """)
        }
    }

    var clusterDirectory: String { serverDirectory.path + "/pg" }
    public var logFile: String { serverDirectory.path + "/postgres.log" }

    /// Conninfo for the bootstrap superuser (migrations, creating databases).
    public func adminConninfo(database: String = EmbeddedPostgres.databaseName) -> String {
        conninfo(user: Self.superuser, database: database)
    }

    /// Conninfo for the service role, which owns nothing and cannot bypass row-level security.
    public func appConninfo(database: String = EmbeddedPostgres.databaseName) -> String {
        conninfo(user: "auditlog_app", database: database)
    }

    public func conninfo(user: String, database: String) -> String {
        "host=\(ConnInfo.quote(serverDirectory.path)) port=\(Self.port) user=\(ConnInfo.quote(user)) dbname=\(ConnInfo.quote(database)) connect_timeout=5"
    }

    var runner: ProcessRunner { ProcessRunner(user: serverUser) }

    /// True when a server is running on this cluster.
    public func isRunning() throws -> Bool {
        guard FileManager.default.fileExists(atPath: clusterDirectory + "/PG_VERSION") else { return false }
        return try runner.run(binaries.pgCtl, ["status", "-D", clusterDirectory]).status == 0
    }

    /// Creates the cluster if needed, starts it if it is not running, and makes sure the
    /// `auditlog` database exists. Returns true when this call started the server.
    @discardableResult
    public func start(logger: Logger) throws -> Bool {
        try prepareDirectory()
        if !FileManager.default.fileExists(atPath: clusterDirectory + "/PG_VERSION") {
            try initialize(logger: logger)
        }
        var started = false
        if try !isRunning() {
            logger.info("starting embedded PostgreSQL", metadata: ["data_dir": "\(serverDirectory.path)"])
            let output = try runner.run(binaries.pgCtl, [
                "start", "-D", clusterDirectory, "-l", logFile, "-w", "-t", "60",
                "-o", Self.serverOptions,
            ])
            guard output.status == 0 else {
                throw EmbeddedPostgresError(message: """
                    The embedded PostgreSQL did not start (pg_ctl exit \(output.status)).
                    \(output.text.trimmingCharacters(in: .whitespacesAndNewlines))
                    Last lines of \(logFile):
                    \(Self.tail(of: logFile))
                    """)
            }
            started = true
        }
        if try !isStandby() { try createDatabaseIfMissing(Self.databaseName) }
        return started
    }

    /// Settings given on the command line at every start, so clusters created by an earlier
    /// version get them too. A search over the whole retention window plans every daily
    /// partition of `audit.event` (and of `audit.event_target` for a resource's view) with
    /// their indexes: about 1,000 relation locks in one transaction at 90 days. PostgreSQL's
    /// default of 64 per connection shares 12,800 lock slots among all connections, which a
    /// dozen such searches at once exhaust ("out of shared memory", SQLSTATE 53200).
    /// 2,048 per connection (the feed's index took a search past 1,024) costs about 160 MB of
    /// shared memory at 200 connections.
    static let maxLocksPerTransaction = 2048
    static var serverOptions: String { "-c max_locks_per_transaction=\(maxLocksPerTransaction)" }

    /// Stops the server (fast shutdown: running transactions roll back, committed ones are kept).
    public func stop(logger: Logger) throws {
        guard try isRunning() else { return }
        logger.info("stopping embedded PostgreSQL", metadata: ["data_dir": "\(dataDirectory.path)"])
        let output = try runner.run(binaries.pgCtl, ["stop", "-D", clusterDirectory, "-m", "fast", "-w", "-t", "60"])
        guard output.status == 0 else {
            throw EmbeddedPostgresError(message: "pg_ctl stop failed: \(output.text)")
        }
    }

    /// Creates database `name` if it does not exist (optionally as a copy of `template`).
    public func createDatabaseIfMissing(_ name: String, template: String? = nil) throws {
        let connection = try PostgresConnection(conninfo: adminConninfo(database: "postgres"))
        let exists = try connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)").rowCount > 0
        guard !exists else { return }
        var sql = "CREATE DATABASE \(Self.quoteIdentifier(name))"
        if let template { sql += " TEMPLATE \(Self.quoteIdentifier(template))" }
        do {
            try connection.executeScript(unsafeSQL: sql)
        } catch let error as PostgresError where error.sqlState == "42P04" {
            // Created by a concurrent caller in the meantime: fine.
        }
    }

    /// Makes `standby` a streaming replica of this running cluster (`pg_basebackup -R`) and starts
    /// it on its own Unix socket. Used by the tests of reads on a replica; an operator's replica is
    /// set up by their own tooling.
    public func startStandby(_ standby: EmbeddedPostgres, logger: Logger) throws {
        try standby.prepareDirectory()
        if !FileManager.default.fileExists(atPath: standby.clusterDirectory + "/PG_VERSION") {
            let basebackup = try binaries.program("pg_basebackup")
            let output = try runner.run(basebackup, [
                "-D", standby.clusterDirectory, "-R", "-X", "stream", "-c", "fast",
                "-h", serverDirectory.path, "-p", "\(Self.port)", "-U", Self.superuser,
            ])
            guard output.status == 0 else {
                throw EmbeddedPostgresError(message: "pg_basebackup failed (exit \(output.status)):\n\(output.text)")
            }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: standby.clusterDirectory + "/postgresql.auto.conf"))
            defer { try? handle.close() }
            try handle.seekToEnd()
            try handle.write(contentsOf: Data("""

                unix_socket_directories = '\(standby.serverDirectory.path.replacingOccurrences(of: "'", with: "''"))'
                hot_standby = on

                """.utf8))
        }
        try standby.start(logger: logger)
    }

    static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: Setup

    private func isStandby() throws -> Bool {
        FileManager.default.fileExists(atPath: clusterDirectory + "/standby.signal")
    }

    func prepareDirectory() throws {
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        if serverDirectory != dataDirectory {
            try FileManager.default.createDirectory(at: serverDirectory, withIntermediateDirectories: true)
            chmod(serverDirectory.deletingLastPathComponent().path, 0o755)
        }
        if let serverUser {
            // The server user must own the folder (socket, cluster, log); root can still read it.
            let output = try ProcessRunner(user: nil).run("/bin/chown", [serverUser + ":", serverDirectory.path])
            guard output.status == 0 else { throw EmbeddedPostgresError(message: "chown \(serverDirectory.path) failed: \(output.text)") }
            let reachable = try runner.run("/usr/bin/test", ["-w", serverDirectory.path]).status == 0
            guard reachable else {
                throw EmbeddedPostgresError(message: """
                    The database server runs as the unprivileged user '\(serverUser)', which cannot reach \
                    \(serverDirectory.path) (a parent folder is not searchable by it). \
                    Set AUDITLOG_DATA_DIR to a folder such as /var/lib/auditlog.
                    """)
            }
        }
        chmod(serverDirectory.path, 0o700)
    }

    private func initialize(logger: Logger) throws {
        logger.info("creating embedded PostgreSQL cluster", metadata: ["data_dir": "\(clusterDirectory)"])
        var arguments = ["-D", clusterDirectory, "-U", Self.superuser, "--auth=trust", "--encoding=UTF8", "--locale=C"]
        if durability == .throwaway { arguments.append("--no-sync") }
        let output = try runner.run(binaries.initdb, arguments)
        guard output.status == 0 else {
            throw EmbeddedPostgresError(message: "initdb failed (exit \(output.status)):\n\(output.text)")
        }
        var settings = """

            # Written by auditlog: a private server on a Unix socket only.
            listen_addresses = ''
            unix_socket_directories = '\(serverDirectory.path.replacingOccurrences(of: "'", with: "''"))'
            unix_socket_permissions = 0700
            port = \(Self.port)
            max_connections = 200
            shared_buffers = 256MB
            # Checkpoints by time, not by every GB of WAL: after a checkpoint, the first change to
            # each page writes the whole page to WAL, and ingest touches many index pages. With the
            # default 1 GB, sustained ingest checkpointed about every 27,000 events and wrote 38 KB
            # of WAL per event (issue 17).
            max_wal_size = 8GB
            checkpoint_timeout = 15min
            log_min_messages = warning
            log_line_prefix = '%m [%p] %q%u@%d '

            """
        if durability == .throwaway {
            // Test suites run in parallel, each with its own pools of every bulkhead.
            settings += "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 400\n"
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: clusterDirectory + "/postgresql.conf"))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(settings.utf8))
    }

    private static func unprivilegedUser() throws -> String {
        if getpwnam("postgres") != nil { return "postgres" }
        if getpwnam("auditlog") != nil { return "auditlog" }
        let output = try ProcessRunner(user: nil).run(
            try ProcessRunner.locate("useradd", extra: ["/usr/sbin", "/sbin"]),
            ["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "auditlog"])
        guard output.status == 0 else {
            throw EmbeddedPostgresError(message: "Running as root, auditlog needs an unprivileged user for PostgreSQL; useradd failed: \(output.text)")
        }
        return "auditlog"
    }

    static func tail(of path: String, lines: Int = 15) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }
}
