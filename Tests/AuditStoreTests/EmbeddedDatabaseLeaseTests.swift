@testable import AuditStore
import Foundation
import Logging
import PostgresLibPQ
import Testing

@Suite("the embedded database's data directory lock")
struct EmbeddedDatabaseLeaseTests {
    @Test("a second serve is told the folder is in use; other commands share the running server")
    func sharing() async throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("auditlog-lease-\(getpid())")
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = Logger(label: "test")
        let cluster = try EmbeddedPostgres(dataDirectory: directory, durability: .throwaway)

        let serve = try await runBlocking { try EmbeddedDatabaseLease.acquire(cluster, for: .serve, logger: logger) }
        let error = await #expect(throws: EmbeddedPostgresError.self) {
            try await runBlocking { _ = try EmbeddedDatabaseLease.acquire(cluster, for: .serve, logger: logger) }
        }
        #expect(error?.message.contains("is in use by auditlog serve (pid \(getpid()))") == true)

        let command = try await runBlocking { try EmbeddedDatabaseLease.acquire(cluster, for: .command("migrate"), logger: logger) }
        try await runBlocking { command.release() }  // must not stop the server's database
        let answer = try await runBlocking {
            try PostgresConnection(conninfo: cluster.adminConninfo()).query("SELECT \(1)::integer").rows[0].decode(Int.self, at: 0)
        }
        #expect(answer == 1)

        try await runBlocking { serve.release() }
        #expect(try await runBlocking { try cluster.isRunning() } == false)
    }
}
