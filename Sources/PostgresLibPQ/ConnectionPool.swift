import Dispatch
import Foundation
import Logging

/// A fixed-size pool of libpq connections for async code.
///
/// Each connection lives on its own serial `DispatchQueue`; `withConnection` hops there, so
/// blocking libpq calls never occupy Swift's cooperative threads (two of them on a 2-core
/// machine: one blocked `PQexec` there would stall every request). Connections are opened
/// lazily, checked for a server-side close before each use and re-established if needed.
///
/// Everything is cancellable: a caller waiting for a connection leaves the queue when its task
/// is cancelled, and a task cancelled while its statement runs sends `PQcancel`, so the server
/// stops the statement and the connection comes back clean.
public actor ConnectionPool {
    public struct Configuration: Sendable {
        public var conninfo: String
        public var size: Int
        /// How long a caller waits for a free connection before `unavailable`.
        public var acquireTimeout: Duration
        /// Settings every session of this pool gets (`statement_timeout`, …).
        public var sessionSettings: [String: String]
        /// Names the pool in logs (`ingest`, `read`, …).
        public var name: String

        public init(conninfo: String, size: Int, acquireTimeout: Duration = .seconds(5),
                    sessionSettings: [String: String] = [:], name: String = "pool") {
            self.conninfo = conninfo
            self.size = max(1, size)
            self.acquireTimeout = acquireTimeout
            self.sessionSettings = sessionSettings
            self.name = name
        }
    }

    public nonisolated let configuration: Configuration
    private let logger: Logger
    private var idle: [PooledConnection] = []
    private var openCount = 0
    private var waiters: [Waiter] = []
    private var nextWaiterID = 0
    private var closed = false

    /// A caller waiting for a connection, and the timer that gives up on its behalf (cancelled
    /// when a connection reaches it: under load most requests wait, and a timer left running
    /// for each would wake the pool thousands of times a second for nothing).
    private struct Waiter {
        var id: Int
        var continuation: CheckedContinuation<PooledConnection, any Error>
        var timeout: Task<Void, Never>?
    }

    public init(configuration: Configuration, logger: Logger = Logger(label: "auditlog.pool")) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "pool"] = "\(configuration.name)"
        self.logger = logger
    }

    /// Runs `body` with a connection on that connection's own thread and returns its value.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let pooled = try await acquire()
        defer { release(pooled) }
        return try await pooled.run(endsUse: true, body)
    }

    /// Holds one connection across several blocking steps with async work between them (a
    /// session advisory lock, a pause between batches). The connection goes back when `body` ends.
    public func withLease<T: Sendable>(_ body: (Lease) async throws -> T) async throws -> T {
        let pooled = try await acquire()
        do {
            let value = try await body(Lease(pooled: pooled))
            await pooled.finishUse()
            release(pooled)
            return value
        } catch {
            await pooled.finishUse()
            release(pooled)
            throw error
        }
    }

    /// Closes idle connections and fails every waiter; later calls fail with `poolClosed`.
    public func close() {
        closed = true
        idle.removeAll()
        openCount = 0
        for waiter in waiters {
            waiter.timeout?.cancel()
            waiter.continuation.resume(throwing: PostgresError(code: .poolClosed, message: "the connection pool is closed"))
        }
        waiters.removeAll()
    }

    /// Connections open now and callers waiting for one (for metrics and tests).
    public var usage: (open: Int, idle: Int, waiting: Int) { (openCount, idle.count, waiters.count) }

    private func acquire() async throws -> PooledConnection {
        guard !closed else { throw PostgresError(code: .poolClosed, message: "the connection pool is closed") }
        try Task.checkCancellation()
        if let pooled = idle.popLast() { return pooled }
        if openCount < configuration.size {
            openCount += 1
            do {
                return try await PooledConnection.open(
                    conninfo: configuration.conninfo, settings: configuration.sessionSettings,
                    label: "auditlog.pg.\(configuration.name).\(openCount)", logger: logger)
            } catch {
                openCount -= 1
                throw error
            }
        }
        let id = nextWaiterID
        nextWaiterID += 1
        let timeout = configuration.acquireTimeout
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let timer = Task { [weak self] in
                    guard (try? await Task.sleep(for: timeout)) != nil else { return }
                    await self?.expireWaiter(id)
                }
                waiters.append(Waiter(id: id, continuation: continuation, timeout: timer))
            }
        } onCancel: {
            Task { await self.cancelWaiter(id) }
        }
    }

    private func release(_ pooled: PooledConnection) {
        if closed { return }
        if !waiters.isEmpty {
            let waiter = waiters.removeFirst()
            waiter.timeout?.cancel()
            waiter.continuation.resume(returning: pooled)
        } else {
            idle.append(pooled)
        }
    }

    private func expireWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = waiters.remove(at: index)
        logger.warning("no database connection became free in time", metadata: ["pool_size": "\(configuration.size)"])
        waiter.continuation.resume(throwing: PostgresError(
            code: .unavailable, message: "no \(configuration.name) connection became free within \(configuration.acquireTimeout)"))
    }

    private func cancelWaiter(_ id: Int) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        let waiter = waiters.remove(at: index)
        waiter.timeout?.cancel()
        waiter.continuation.resume(throwing: CancellationError())
    }
}

/// One connection held across several steps (see `ConnectionPool.withLease`).
public struct Lease: Sendable {
    let pooled: PooledConnection

    /// Runs one blocking step on the held connection's thread. With `cancellable: false` the step
    /// runs even when the task is cancelled (releasing a lock on the way out).
    public func run<T: Sendable>(cancellable: Bool = true, _ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await pooled.run(cancellable: cancellable, body)
    }
}

/// A connection bound to its own serial queue.
///
/// `@unchecked Sendable` is safe because the connection is touched only inside blocks
/// submitted to `queue`, which runs them one at a time; `canceller` is thread-safe itself.
final class PooledConnection: @unchecked Sendable {
    private let connection: PostgresConnection
    private let canceller: Canceller
    private let queue: DispatchQueue
    private let logger: Logger

    private init(connection: PostgresConnection, queue: DispatchQueue, logger: Logger) {
        self.connection = connection
        self.canceller = connection.canceller
        self.queue = queue
        self.logger = logger
    }

    static func open(conninfo: String, settings: [String: String], label: String, logger: Logger) async throws -> PooledConnection {
        let queue = DispatchQueue(label: label)
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    PooledConnection(connection: try PostgresConnection(conninfo: conninfo, sessionSettings: settings),
                                     queue: queue, logger: logger)
                })
            }
        }
    }

    /// Runs `body` on the connection's queue; cancelling the calling task cancels the statement
    /// on the server. A body that leaves a transaction open is a bug: logged, then rolled back.
    /// `endsUse`: the connection goes back to the pool after this step (else a lease goes on).
    func run<T: Sendable>(
        cancellable: Bool = true, endsUse: Bool = false, _ body: @escaping @Sendable (PostgresConnection) throws -> T
    ) async throws -> T {
        guard cancellable else { return try await execute(body, cancelled: CancelFlag(), endsUse: endsUse) }
        try Task.checkCancellation()
        let cancelled = CancelFlag()
        do {
            let value = try await withTaskCancellationHandler {
                try await execute(body, cancelled: cancelled, endsUse: endsUse)
            } onCancel: {
                cancelled.set()
                canceller.cancel()
            }
            if cancelled.isSet { await startNewSession() }
            return value
        } catch {
            if cancelled.isSet { await startNewSession() }
            throw error
        }
    }

    /// After a cancel request the server may still deliver it late, to whatever this session runs
    /// next; a new session (new backend) leaves the old one nothing to cancel.
    private func startNewSession() async {
        await withCheckedContinuation { continuation in
            queue.async {
                do {
                    try self.connection.reconnect()
                } catch {
                    self.logger.warning("could not reconnect after a cancelled statement; the next use tries again")
                }
                continuation.resume()
            }
        }
    }

    /// The end of a lease: the same check as a step that ends its use.
    func finishUse() async {
        await withCheckedContinuation { continuation in
            queue.async {
                self.checkHandedBackClean()
                continuation.resume()
            }
        }
    }

    private func execute<T: Sendable>(
        _ body: @escaping @Sendable (PostgresConnection) throws -> T, cancelled: CancelFlag, endsUse: Bool
    ) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    if cancelled.isSet { throw CancellationError() }
                    if !self.connection.checkAlive() { try self.connection.reconnect() }
                    return try body(self.connection)
                })
                // After the caller has its value (a read-only COMMIT's answer is read by the next use).
                if endsUse { self.checkHandedBackClean() }
            }
        }
    }

    /// A connection handed back inside a transaction is a bug in its user: said loudly, then undone.
    private func checkHandedBackClean() {
        guard connection.isInTransaction else { return }
        logger.error("a connection was handed back inside a transaction; rolling it back")
        connection.rollback()
    }
}

/// A flag set from a cancellation handler and read on the connection's queue.
final class CancelFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool {
        lock.lock()
        defer { lock.unlock() }
        return value
    }

    func set() {
        lock.lock()
        value = true
        lock.unlock()
    }
}
