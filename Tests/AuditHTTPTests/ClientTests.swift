import AsyncHTTPClient
import AuditCore
@testable import AuditHTTP
import AuditLogClient
@testable import AuditStore
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization
import PostgresLibPQ
import ServiceLifecycle
import Testing
import TestSupport

/// `auditlog serve`'s HTTP server on a real loopback port that can be stopped (gracefully) and
/// started again on the same port, as a deploy restarts it.
final class RestartableServer: Sendable {
    let services: AppServices
    let running = Mutex<(group: ServiceGroup, task: Task<Void, any Error>)?>(nil)

    init(services: AppServices) {
        self.services = services
    }

    /// Starts listening on `port` (0: any free one); returns the port once it accepts connections.
    func start(port: Int = 0) async throws -> Int {
        let (ports, announce) = AsyncStream.makeStream(of: Int.self)
        let app = buildApplication(settings: HTTPSettings(host: "127.0.0.1", port: port), services: services, logger: Logger(label: "test"),
                                   onServerRunning: { channel in announce.yield(channel.localAddress?.port ?? 0) })
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: Logger(label: "test")))
        let task = Task { try await group.run() }
        running.withLock { $0 = (group, task) }
        for await port in ports { return port }
        throw ObservationError(message: "the server did not start")
    }

    /// Stops accepting, finishes the requests in flight, and returns once the port is closed.
    func stop() async {
        guard let (group, task) = running.withLock({ value in defer { value = nil }; return value }) else { return }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

@Suite("AuditLogClient against the real server: buffered, batched, retried, each event stored once")
struct ClientTests {
    let database: TestDatabase
    let key: String

    init() async throws {
        database = try await TestCluster.shared.database("client")
        let admin = database.adminConninfo
        key = try await runBlocking { try PublisherKeys.create(name: "publisher sdk", tenant: nil, adminConninfo: admin).key }
    }

    func event(_ tenant: String, _ index: Int, action: String = "client.renamed") -> Components.Schemas.EventInput {
        Components.Schemas.EventInput(
            tenant: tenant, action: action, actor: .init(_type: "user", id: "u_\(index % 7)", name: "User \(index % 7)"),
            targets: [.init(_type: "client", id: "c_\(index)", name: "Client \(index)")],
            before: try! .init(unvalidatedValue: ["name": "Old \(index)"]), after: try! .init(unvalidatedValue: ["name": "New \(index)"]))
    }

    func count(_ sql: String) async throws -> Int {
        try await database.asAdmin { try $0.query(PostgresQuery(unsafeSQL: sql)).rows[0].decode(Int.self, at: 0) }
    }

    @Test("10,000 events logged through the buffer while the server restarts halfway: every one stored exactly once")
    func restartHalfway() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        let server = RestartableServer(services: app.services)
        let port = try await server.start()
        // While nothing listens, async-http-client keeps trying to connect until the request's
        // timeout: a short one lets the publisher's own backoff take over sooner.
        let client = AuditLogClient(serverURL: URL(string: "http://127.0.0.1:\(port)")!, apiKey: key, timeout: .seconds(3))
        let publisher = AuditLogPublisher(client: client, configuration: .init(
            batchSize: 250, flushInterval: .milliseconds(20), bufferCapacity: 20_000,
            initialBackoff: .milliseconds(20), maxBackoff: .milliseconds(250)))
        let sender = Task { try await publisher.run() }

        var logged: [Bool] = []
        for index in 0..<5_000 { logged.append(publisher.log(event("org_sdk", index))) }
        // The restart: the port closes (in-flight requests finish first), the rest is logged
        // while nothing listens, then the server comes back on the same port.
        await server.stop()
        for index in 5_000..<10_000 { logged.append(publisher.log(event("org_sdk", index))) }
        #expect(logged.allSatisfy { $0 })
        // Back once the publisher has found the port closed (a condition, not a fixed wait).
        let down = ContinuousClock.now
        while publisher.statistics.retries == 0, down.duration(to: .now) < .seconds(60) { try await Task.sleep(for: .milliseconds(5)) }
        _ = try await server.start(port: port)
        await publisher.flush()
        sender.cancel()
        _ = try? await sender.value
        await server.stop()

        let statistics = publisher.statistics
        #expect(statistics.logged == 10_000)
        #expect(statistics.stored == 10_000)
        #expect(statistics.rejected == 0 && statistics.droppedFull == 0 && statistics.lostAtShutdown == 0)
        #expect(statistics.retries > 0, "the restart was not felt: \(statistics)")
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_sdk'") == 10_000)
        #expect(try await count("SELECT count(DISTINCT target_id) FROM audit.event_target WHERE tenant_id = 'org_sdk'") == 10_000)
        #expect(try await count("SELECT count(*) FROM audit.event_id WHERE tenant_id = 'org_sdk'") == 10_000)
        await app.database.close()
    }

    @Test("an event the server refuses is dropped and named; the rest of its batch is stored; flush waits for all")
    func refusedEvent() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        let server = RestartableServer(services: app.services)
        let port = try await server.start()
        let client = AuditLogClient(serverURL: URL(string: "http://127.0.0.1:\(port)")!, apiKey: key)
        let publisher = AuditLogPublisher(client: client, configuration: .init(batchSize: 100, flushInterval: .seconds(60)))
        let sender = Task { try await publisher.run() }
        for index in 0..<10 { publisher.log(event("org_refused", index, action: index == 4 ? "Not An Action" : "client.renamed")) }
        // The interval is a minute: only flush() sends this partial batch.
        await publisher.flush()
        #expect(publisher.statistics.stored == 9)
        #expect(publisher.statistics.rejected == 1)
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_refused'") == 9)
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_refused' AND action <> 'client.renamed'") == 0)
        sender.cancel()
        _ = try? await sender.value
        await server.stop()
        await app.database.close()
    }

    @Test("graceful shutdown of a ServiceGroup sends what is buffered first; a log after it is refused and counted")
    func gracefulShutdown() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        let server = RestartableServer(services: app.services)
        let port = try await server.start()
        let client = AuditLogClient(serverURL: URL(string: "http://127.0.0.1:\(port)")!, apiKey: key)
        let publisher = AuditLogPublisher(client: client, configuration: .init(batchSize: 1000, flushInterval: .seconds(60)))
        let group = ServiceGroup(configuration: .init(services: [publisher], gracefulShutdownSignals: [], logger: Logger(label: "test")))
        let running = Task { try await group.run() }
        for index in 0..<300 { publisher.log(event("org_shutdown", index)) }
        // Nothing is due (a minute's interval, a batch of 1,000): only the shutdown sends these.
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(publisher.statistics.stored == 300)
        #expect(try await count("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_shutdown'") == 300)
        #expect(publisher.log(event("org_shutdown", 300)) == false)
        #expect(publisher.statistics.lostAtShutdown == 1)
        await publisher.flush()  // returns: nothing more will be sent
        await server.stop()
        await app.database.close()
    }

    @Test("paging as an AsyncSequence reads every event newest first; a minted viewer token reads the same tenant")
    func pagingAndTokens() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        let server = RestartableServer(services: app.services)
        let port = try await server.start()
        let client = AuditLogClient(serverURL: URL(string: "http://127.0.0.1:\(port)")!, apiKey: key)
        let base = Date().addingTimeInterval(-3600)
        let events = (0..<120).map { index in
            var event = event("org_pages", index)
            event.id = "ev_\(index)"
            event.occurredAt = base.addingTimeInterval(Double(index))
            return event
        }
        let first = try await client.send(events)
        #expect(first.ids.count == 120 && first.duplicates == 0)
        // The same batch again: idempotent.
        #expect(try await client.send(events).duplicates == 120)

        var read: [String] = []
        for try await event in client.events(tenant: "org_pages", pageSize: 50) { read.append(event.id) }
        #expect(read == (0..<120).reversed().map { "ev_\($0)" })
        var filtered = 0
        for try await event in client.events(tenant: "org_pages", query: EventQuery(target: ("client", "c_7"))) {
            #expect(event.id == "ev_7")
            filtered += 1
        }
        #expect(filtered == 1)

        let token = try await client.viewerToken(tenant: "org_pages", role: .admin, actorID: "u_admin", actorName: "Ada Admin", ttl: .seconds(600))
        #expect(token.expiresAt > Date().addingTimeInterval(590))
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/events?limit=1")
        request.headers.add(name: "Authorization", value: "Bearer \(token.token)")
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status.code == 200)
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        #expect(body.contains(#""id":"ev_119""#))

        // An error answer carries the server's code.
        await #expect { try await client.viewerToken(tenant: "org pages", role: .owner, actorID: "u") } throws: { error in
            (error as? AuditLogError).map { $0.status == 422 && $0.code == "invalid_token_request" } ?? false
        }
        await server.stop()
        await app.database.close()
    }
}
