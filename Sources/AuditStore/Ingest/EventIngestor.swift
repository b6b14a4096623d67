import AuditCore
import Logging
import Metrics
internal import PostgresLibPQ

/// Group commit: events of concurrent requests share one transaction.
///
/// A request's events wait in `pending` only while every writer is busy; the moment one
/// finishes, it takes everything pending in one transaction. So a lone request is written
/// at once, and under load each commit carries many requests. Every request is answered
/// only after the commit that holds its events. If a shared transaction fails, each of its
/// requests is retried alone, so one bad request cannot fail the others.
public actor EventIngestor {
    struct Submission {
        var events: [StoredEvent]
        var continuation: CheckedContinuation<IngestResult, any Error>
    }

    let pool: ConnectionPool
    let writers: Int
    let maxEventsPerTransaction: Int
    let logger: Logger
    private var pending: [Submission] = []
    private var activeWriters = 0
    private var drainWaiters: [CheckedContinuation<Void, Never>] = []

    /// Committed transactions so far (group commit makes this smaller than the requests).
    public private(set) var transactions = 0
    private let committedEvents = Counter(label: "auditlog_events_committed_total")
    private let committedTransactions = Counter(label: "auditlog_ingest_transactions_total")
    private let duplicateEvents = Counter(label: "auditlog_events_duplicate_total")

    /// `writers` is how many transactions may run at once; leave pool connections for reads.
    let engine: DatabaseEngine

    /// Called after each commit (the feed's long polls).
    let onCommit: @Sendable () -> Void

    init(pool: ConnectionPool, writers: Int, engine: DatabaseEngine = .postgres, maxEventsPerTransaction: Int = 5000,
         logger: Logger = Logger(label: "auditlog.ingest"), onCommit: @escaping @Sendable () -> Void = {}) {
        self.pool = pool
        self.onCommit = onCommit
        self.engine = engine
        self.writers = max(1, writers)
        self.maxEventsPerTransaction = maxEventsPerTransaction
        self.logger = logger
    }

    /// Writes the events of one request, all or nothing; returns after their commit.
    public func ingest(_ events: [StoredEvent]) async throws -> IngestResult {
        try await withCheckedThrowingContinuation { continuation in
            pending.append(Submission(events: events, continuation: continuation))
            startWriters()
        }
    }

    /// Waits until everything submitted so far is committed or answered (for shutdown).
    public func drain() async {
        if pending.isEmpty && activeWriters == 0 { return }
        await withCheckedContinuation { drainWaiters.append($0) }
    }

    private func startWriters() {
        while activeWriters < writers, !pending.isEmpty {
            var batch: [Submission] = []
            var count = 0
            while let next = pending.first, batch.isEmpty || count + next.events.count <= maxEventsPerTransaction {
                batch.append(pending.removeFirst())
                count += next.events.count
            }
            activeWriters += 1
            Task { await self.write(batch) }
        }
        if activeWriters == 0, pending.isEmpty {
            drainWaiters.forEach { $0.resume() }
            drainWaiters.removeAll()
        }
    }

    private func write(_ batch: [Submission]) async {
        await commit(batch)
        activeWriters -= 1
        startWriters()
    }

    private func commit(_ batch: [Submission]) async {
        let groups = batch.map(\.events)
        do {
            let duplicates = try await pool.withConnection { [engine] in try EventWriter.write(groups, on: $0, engine: engine) }
            transactions += 1
            onCommit()
            committedTransactions.increment()
            committedEvents.increment(by: groups.map(\.count).reduce(0, +) - duplicates.reduce(0, +))
            duplicateEvents.increment(by: duplicates.reduce(0, +))
            for (submission, count) in zip(batch, duplicates) {
                submission.continuation.resume(returning: IngestResult(ids: submission.events.map(\.id), duplicates: count))
            }
        } catch let tagged as TaggedRejection where batch.count == 1 {
            batch[0].continuation.resume(throwing: tagged.rejection)
        } catch where batch.count > 1 && !Self.isConnectionProblem(error) {
            // One request spoiled the shared transaction: write each on its own.
            for submission in batch { await commit([submission]) }
        } catch {
            let mapped = StoreError.from(error)
            if batch.count == 1, let store = mapped as? StoreError, store.code == .internal {
                logger.error("ingest transaction failed", metadata: ["error": "\(store.debugDescription)"])
            }
            for submission in batch { submission.continuation.resume(throwing: mapped) }
        }
    }

    static func isConnectionProblem(_ error: any Error) -> Bool {
        (error as? PostgresError)?.isConnectionProblem ?? false
    }
}
