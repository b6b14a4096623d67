import AuditCore
@testable import AuditStore
import Foundation
import Logging
import PostgresLibPQ
import Testing
import TestSupport

/// Reads on a real streaming replica: a primary of its own (the product's embedded launcher),
/// a standby made from it with `pg_basebackup -R` on its own Unix socket, and the store between.
@Suite("reads on a streaming replica")
struct ReplicaTests {
    @Test("reads are served by the replica while it is up, and by the primary once it is stopped")
    func replicaThenPrimary() async throws {
        if ProcessInfo.processInfo.environment["AUDITLOG_TEST_DATABASE_URL"] ?? "" != "" { return }  // needs the embedded launcher
        let logger = { () -> Logger in
            var logger = Logger(label: "test.replica")
            logger.logLevel = .warning
            return logger
        }()
        let root = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("auditlog-test-\(getpid())-replica")
        defer { try? FileManager.default.removeItem(at: root) }
        let primary = try EmbeddedPostgres(dataDirectory: root.appendingPathComponent("p"), durability: .throwaway)
        let standby = try EmbeddedPostgres(dataDirectory: root.appendingPathComponent("s"), durability: .throwaway)
        try await runBlocking { try primary.start(logger: logger) }
        defer { try? primary.stop(logger: logger) }
        defer { try? standby.stop(logger: logger) }
        let runner = try MigrationRunner.bundled(retentionDays: nil, logger: logger)
        try await runBlocking {
            try runner.run(adminConninfo: primary.adminConninfo(), appConninfo: primary.appConninfo())
        }

        // Events written on the primary before the standby is made from it.
        let tenant = TenantID("org_replica")!
        let writer = try await AuditDatabase.open(conninfo: primary.appConninfo(), configuration: StoreConfiguration.forTests(poolSize: 2),
                                                  expectedSchemaVersion: 0)
        let validator = EventValidator(now: Date(), retentionDays: 90, redactor: Redactor())
        let events = try (0..<3).map { index in
            let draft = try validator.validate(.object([
                "tenant": .string(tenant.rawValue), "id": .string("r\(index)"), "occurred_at": .string(Timestamp.format(Date().addingTimeInterval(-60))),
                "action": .string("client.renamed"), "actor": .object(["id": .string("u_1")]),
            ]), index: index).get()
            return StoredEvent(draft: draft, receivedAt: Date(), message: "m")
        }
        _ = try await writer.ingestor.ingest(events)
        await writer.close()
        try await runBlocking { try primary.startStandby(standby, logger: logger) }

        var configuration = StoreConfiguration.forTests(poolSize: 2)
        configuration.replicaConninfo = standby.appConninfo()
        let store = try await AuditDatabase.open(conninfo: primary.appConninfo(), configuration: configuration, expectedSchemaVersion: 0)
        defer { Task { await store.close() } }
        #expect(await store.refreshReplicaState()?.isUsable == true)
        #expect(try await store.readsServedByStandby(tenant: tenant), "pg_is_in_recovery() of the connection that serves reads")
        let onReplica = try await store.page(EventFilter(), after: nil, limit: 10, tenant: tenant, role: .admin)
        #expect(onReplica.count == 3)
        #expect(await store.readiness().replica?.isUsable == true)

        try await runBlocking { try standby.stop(logger: logger) }
        // The first read after the stop finds the replica gone and is answered by the primary.
        let afterStop = try await store.page(EventFilter(), after: nil, limit: 10, tenant: tenant, role: .admin)
        #expect(afterStop.count == 3)
        #expect(try await store.readsServedByStandby(tenant: tenant) == false)
        #expect(await store.refreshReplicaState() == .unreachable)
        let report = await store.readiness()
        #expect(report.primary == .ready)
        #expect(report.replica == .unreachable)
    }
}
