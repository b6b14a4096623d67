import Dispatch
import Foundation
import PostgresLibPQ
import Testing
import TestSupport

@Suite("the connection pool")
struct ConnectionPoolTests {
    let database: TestDatabase

    init() async throws {
        database = try await TestCluster.shared.database("pool")
    }

    @Test("200 concurrent queries over a pool of 4 all complete, on at most 4 sessions")
    func concurrency() async throws {
        // A generous wait: the point is that all complete, even with the other suites loading the machine.
        let pool = database.appPool(size: 4, acquireTimeout: .seconds(120))
        let results = try await withThrowingTaskGroup(of: (Int, Int, Int32).self) { group in
            for index in 0..<200 {
                group.addTask {
                    try await pool.withConnection { connection in
                        let row = try connection.query("SELECT \(index)::integer * 2, pg_backend_pid()").rows[0]
                        return (index, try row.decode(Int.self, at: 0), try row.decode(Int32.self, at: 1))
                    }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 200)
        #expect(results.allSatisfy { $0.1 == $0.0 * 2 })
        #expect(Set(results.map(\.2)).count <= 4)
        await pool.close()
    }

    @Test("a pooled session killed by pg_terminate_backend is replaced on the next query")
    func terminatedBackend() async throws {
        let pool = database.appPool(size: 1)
        let first = try await pool.withConnection { try $0.query("SELECT pg_backend_pid()").rows[0].decode(Int32.self, at: 0) }
        let terminated = try await database.asAdmin { connection in
            try connection.query("SELECT pg_terminate_backend(\(first), 5000)").rows[0].decode(Bool.self, at: 0)
        }
        #expect(terminated)
        let second = try await pool.withConnection { try $0.query("SELECT pg_backend_pid()").rows[0].decode(Int32.self, at: 0) }
        #expect(second != first)
        await pool.close()
    }

    @Test("a caller that cannot get a connection in time gets a typed unavailable error")
    func acquireTimeout() async throws {
        let pool = database.appPool(size: 1, acquireTimeout: .milliseconds(200))
        let held = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let holder = Task {
            try await pool.withConnection { _ in
                held.signal()
                release.wait()
            }
        }
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { held.wait(); continuation.resume() }
        }
        let error = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { try $0.query("SELECT 1") }
        }
        #expect(error?.code == .unavailable)
        #expect(error?.isConnectionProblem == true)
        release.signal()
        try await holder.value
        let after = try await pool.withConnection { try $0.query("SELECT \(5)::integer").rows[0].decode(Int.self, at: 0) }
        #expect(after == 5)
        await pool.close()
    }

    @Test("a closed pool refuses work")
    func closed() async throws {
        let pool = database.appPool(size: 1)
        await pool.close()
        let error = await #expect(throws: PostgresError.self) {
            try await pool.withConnection { try $0.query("SELECT 1") }
        }
        #expect(error?.code == .poolClosed)
    }
}
