import Dispatch
import Foundation
import Logging

/// A fixed-size pool of libpq connections for async code.
///
/// Each connection lives on its own serial `DispatchQueue`; `withConnection` hops there, so
/// blocking libpq calls never occupy Swift's cooperative threads (two of them on a 2-core
/// machine: one blocked `PQexec` there would stall every request). Connections are opened
/// lazily, checked for a server-side close before each use and re-established if needed.
public actor ConnectionPool {
    public struct Configuration: Sendable {
        public var conninfo: String
        public var size: Int
        /// How long a caller waits for a free connection before `unavailable`.
        public var acquireTimeout: Duration

        public init(conninfo: String, size: Int, acquireTimeout: Duration = .seconds(5)) {
            self.conninfo = conninfo
            self.size = max(1, size)
            self.acquireTimeout = acquireTimeout
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
        self.logger = logger
    }

    /// Runs `body` with a connection on that connection's own thread and returns its value.
    public func withConnection<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        let pooled = try await acquire()
        do {
            let value = try await pooled.run(body)
            release(pooled)
            return value
        } catch {
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

    private func acquire() async throws -> PooledConnection {
        guard !closed else { throw PostgresError(code: .poolClosed, message: "the connection pool is closed") }
        if let pooled = idle.popLast() { return pooled }
        if openCount < configuration.size {
            openCount += 1
            do {
                return try await PooledConnection.open(conninfo: configuration.conninfo, label: "auditlog.pg.\(openCount)")
            } catch {
                openCount -= 1
                throw error
            }
        }
        let id = nextWaiterID
        nextWaiterID += 1
        let timeout = configuration.acquireTimeout
        return try await withCheckedThrowingContinuation { continuation in
            let timer = Task { [weak self] in
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                await self?.expireWaiter(id)
            }
            waiters.append(Waiter(id: id, continuation: continuation, timeout: timer))
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
            code: .unavailable, message: "no database connection became free within \(configuration.acquireTimeout)"))
    }
}

/// A connection bound to its own serial queue.
///
/// `@unchecked Sendable` is safe because the connection is touched only inside blocks
/// submitted to `queue`, which runs them one at a time.
final class PooledConnection: @unchecked Sendable {
    private let connection: PostgresConnection
    private let queue: DispatchQueue

    private init(connection: PostgresConnection, queue: DispatchQueue) {
        self.connection = connection
        self.queue = queue
    }

    static func open(conninfo: String, label: String) async throws -> PooledConnection {
        let queue = DispatchQueue(label: label)
        return try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    PooledConnection(connection: try PostgresConnection(conninfo: conninfo), queue: queue)
                })
            }
        }
    }

    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result {
                    if !self.connection.checkAlive() || !self.connection.isIdle {
                        try self.connection.reconnect()
                    }
                    return try body(self.connection)
                })
            }
        }
    }
}
