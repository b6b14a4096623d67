import Foundation

/// How the store uses the database: its bulkheads (a pool each, so one kind of work cannot
/// starve another), the time limits of its statements, and the optional read replica.
public struct StoreConfiguration: Sendable {
    /// Connections for ingest transactions (group commit writers).
    public var ingestConnections: Int
    /// Connections for searches, views, categories, exports and digests (on the replica too).
    public var readConnections: Int
    /// Connections for publisher-key lookups.
    public var authConnections: Int
    /// Connections for the maintenance pass (partitions, digests, retention).
    public var maintenanceConnections: Int
    /// Longest a read or key lookup statement may run (`AUDITLOG_READ_TIMEOUT`).
    public var readTimeout: Duration
    /// Longest an ingest statement may run (`AUDITLOG_WRITE_TIMEOUT`).
    public var writeTimeout: Duration
    /// Longest one export page may take to read (a stream of many pages has no overall limit).
    public var exportPageTimeout: Duration
    /// Longest one maintenance statement may run (one prune batch, one partition drop).
    public var maintenanceTimeout: Duration
    /// How long a caller waits for a free connection of its bulkhead before 503.
    public var acquireTimeout: Duration
    /// `DATABASE_REPLICA_URL`: reads go there while it is up and close enough behind.
    public var replicaConninfo: String?
    /// `AUDITLOG_REPLICA_MAX_LAG`: past this, reads fall back to the primary.
    public var replicaMaxLag: Duration
    /// How customers see the vendor in the service's own entries (`AUDITLOG_VENDOR_NAME`): the
    /// actor of what a publisher key did through the service, and the one who acts in its messages.
    public var vendorName = StoreConfiguration.defaultVendorName
    public static let defaultVendorName = "the service provider"

    /// Budgets from `AUDITLOG_POOL_SIZE` (`total`): ingest and reads share it half and half
    /// (at least 2 each), key lookups and maintenance get one connection each beside it.
    public init(poolSize total: Int, replicaConninfo: String? = nil, replicaMaxLag: Duration = .seconds(10),
                readTimeout: Duration = .seconds(5), writeTimeout: Duration = .seconds(30)) {
        ingestConnections = max(2, (total + 1) / 2)
        readConnections = max(2, total / 2)
        authConnections = 1
        maintenanceConnections = 1
        self.readTimeout = readTimeout
        self.writeTimeout = writeTimeout
        exportPageTimeout = .seconds(60)
        maintenanceTimeout = .seconds(600)
        acquireTimeout = .seconds(5)
        self.replicaConninfo = replicaConninfo
        self.replicaMaxLag = replicaMaxLag
    }

    /// Milliseconds, as PostgreSQL's time settings take them.
    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}
