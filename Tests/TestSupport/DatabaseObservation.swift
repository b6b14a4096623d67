import Dispatch
import Foundation
import PostgresLibPQ

/// An `ACCESS EXCLUSIVE` lock held by an administrator's open transaction, to make the
/// service's statements on that table wait for as long as a test needs them to.
public final class TableLock: @unchecked Sendable {
    // @unchecked: the connection is used only on `queue`, one block at a time.
    private let connection: PostgresConnection
    private let queue = DispatchQueue(label: "auditlog.test.lock")

    private init(connection: PostgresConnection) {
        self.connection = connection
    }

    /// Takes the lock on `table` (program text) and returns once it is held.
    public static func hold(_ table: String, conninfo: String) async throws -> TableLock {
        let lock = try await runBlocking { TableLock(connection: try PostgresConnection(conninfo: conninfo)) }
        try await lock.run { try $0.executeScript(unsafeSQL: "BEGIN; LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE") }
        return lock
    }

    /// Ends the transaction, and with it the lock.
    public func release() async throws {
        try await run { try $0.executeScript(unsafeSQL: "ROLLBACK") }
    }

    private func run(_ body: @escaping @Sendable (PostgresConnection) throws -> Void) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            queue.async { continuation.resume(with: Result { try body(self.connection) }) }
        }
    }
}

extension TestDatabase {
    /// Backends of this database whose `application_name` is `name` and that are running a
    /// statement now (`state = 'active'`), and how many of those wait for a lock.
    public func activeBackends(_ name: String) async throws -> (active: Int, waitingOnLock: Int) {
        let databaseName = self.name
        return try await asAdmin { connection in
            let row = try connection.query("""
                SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock') FROM pg_stat_activity
                WHERE datname = \(databaseName) AND application_name = \(name) AND state = 'active'
                """).rows[0]
            return (try row.decode(Int.self, at: 0), try row.decode(Int.self, at: 1))
        }
    }

    /// Asks the database until `condition` holds (each ask is a round trip; no sleeping), and
    /// fails after `attempts` asks.
    public func eventually(
        _ what: String, attempts: Int = 20_000, _ condition: @escaping @Sendable (TestDatabase) async throws -> Bool
    ) async throws {
        for _ in 0..<attempts {
            if try await condition(self) { return }
            await Task.yield()
        }
        throw ObservationError(message: "never observed: \(what)")
    }
}

public struct ObservationError: Error, CustomStringConvertible {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
