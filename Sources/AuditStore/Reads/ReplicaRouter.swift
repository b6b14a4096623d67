import Foundation
import Logging
import Metrics
internal import PostgresLibPQ

/// Whether reads may go to the streaming replica (`DATABASE_REPLICA_URL`).
///
/// The replica is probed at most once a second, in the background of the reads that find the
/// last answer stale; a read never waits for a probe. Until the first probe has answered, and
/// whenever the replica is unreachable or lags more than `maxLag`, reads use the primary.
actor ReplicaRouter {
    let pool: ConnectionPool
    let maxLag: Duration
    let logger: Logger
    private(set) var state: ReplicaState = .unknown
    private var checkedAt: ContinuousClock.Instant?
    private var probing: Task<ReplicaState, Never>?
    private let usable = Gauge(label: "auditlog_replica_usable")
    private let lagSeconds = Gauge(label: "auditlog_replica_lag_seconds")
    private let fallbacks = Counter(label: "auditlog_replica_fallbacks_total")

    init(pool: ConnectionPool, maxLag: Duration, logger: Logger) {
        self.pool = pool
        self.maxLag = maxLag
        self.logger = logger
    }

    /// The replica's pool when reads may go there now.
    func usablePool() -> ConnectionPool? {
        if probing == nil, checkedAt.map({ $0.duration(to: .now) > .seconds(1) }) ?? true {
            probing = Task { await self.probe() }
        }
        if state.isUsable { return pool }
        fallbacks.increment()
        return nil
    }

    /// Probes now and waits for the answer (readiness, and tests that must not race the probe).
    func refresh() async -> ReplicaState {
        if let probing { _ = await probing.value }
        let task = Task { await self.probe() }
        probing = task
        return await task.value
    }

    /// A read on the replica failed to reach it: use the primary until the next probe says otherwise.
    func markUnreachable(_ error: StoreError) {
        if state.isUsable { logger.warning("replica unreachable; reading from the primary", metadata: ["error": "\(error.debugDescription)"]) }
        update(.unreachable)
    }

    private func probe() async -> ReplicaState {
        let maxLag = self.maxLag
        let found: ReplicaState
        do {
            let lag = try await pool.withConnection { connection -> Double in
                try connection.query("""
                    SELECT CASE WHEN NOT pg_is_in_recovery() OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
                                ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)::float8 END
                    """).rows[0].decode(Double.self, at: 0)
            }
            let limit = Double(maxLag.components.seconds) + Double(maxLag.components.attoseconds) / 1e18
            found = lag > limit ? .lagging(seconds: lag) : .serving(lagSeconds: lag)
        } catch {
            found = .unreachable
        }
        if found.isUsable != state.isUsable {
            if found.isUsable {
                logger.info("replica serving reads", metadata: ["state": "\(found)"])
            } else {
                logger.warning("replica not usable; reading from the primary", metadata: ["state": "\(found)"])
            }
        }
        update(found)
        probing = nil
        return found
    }

    private func update(_ new: ReplicaState) {
        state = new
        checkedAt = .now
        usable.record(new.isUsable ? 1 : 0)
        switch new {
        case .serving(let lag), .lagging(let lag): lagSeconds.record(lag)
        case .unreachable, .unknown: break
        }
    }
}

/// What the last probe of the replica found.
public enum ReplicaState: Sendable, Equatable, CustomStringConvertible {
    case unknown
    case serving(lagSeconds: Double)
    case lagging(seconds: Double)
    case unreachable

    public var isUsable: Bool {
        if case .serving = self { return true }
        return false
    }

    public var description: String {
        switch self {
        case .unknown: return "unknown"
        case .serving(let lag): return "serving (lag \(String(format: "%.1f", lag)) s)"
        case .lagging(let lag): return "lagging (\(String(format: "%.1f", lag)) s behind)"
        case .unreachable: return "unreachable"
        }
    }
}
