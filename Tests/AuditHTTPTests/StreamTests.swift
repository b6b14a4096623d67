import AuditCore
@testable import AuditHTTP
@testable import AuditStreams
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresLibPQ
import ServiceLifecycle
import Synchronization
import Testing
import TestSupport

/// A webhook receiver on loopback, as a customer's endpoint: records each accepted batch,
/// checks each signature, and misbehaves on demand (500s, answers slower than the sender waits,
/// or not listening at all).
final class WebhookReceiver: Sendable {
    struct State {
        var requests = 0
        /// Event ids in arrival order, duplicates included (from batches answered 2xx or too late).
        var received: [String] = []
        var badSignatures = 0
        var failEvery: Set<Int> = []
        var slowEvery: Set<Int> = []
        var modulus = 10
        var headers: [String: String] = [:]
    }

    let secret: Mutex<String> = Mutex("")
    let state = Mutex(State())
    let running = Mutex<(group: ServiceGroup, task: Task<Void, any Error>)?>(nil)

    func start(port: Int = 0) async throws -> Int {
        let router = Router()
        // A destination that sends its deliveries on elsewhere (here to its own /hook).
        router.post("/redirect") { _, _ -> Response in
            Response(status: .temporaryRedirect, headers: [.location: "/hook"])
        }
        router.post("/hook") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 16 << 20)
            let bytes = Array(body.readableBytesView)
            let (number, fail, slow) = self.state.withLock { state -> (Int, Bool, Bool) in
                state.requests += 1
                let slot = state.requests % state.modulus
                return (state.requests, state.failEvery.contains(slot), state.slowEvery.contains(slot))
            }
            _ = number
            if fail { return Response(status: .internalServerError) }
            let id = request.headers[HTTPFields.Element.Name("webhook-id")!] ?? ""
            let timestamp = request.headers[HTTPFields.Element.Name("webhook-timestamp")!] ?? ""
            let signature = request.headers[HTTPFields.Element.Name("webhook-signature")!] ?? ""
            let expected = "v1," + StreamDelivery.signature(secret: self.secret.withLock { $0 }, id: id, timestamp: timestamp, body: bytes)
            let ids: [String] = {
                guard case .array(let events)? = JSONValue.parse(bytes)?.objectValue?["events"] else { return [] }
                return events.compactMap { $0.objectValue?["id"]?.stringValue }
            }()
            self.state.withLock { state in
                if signature != expected { state.badSignatures += 1 }
                state.received += ids
                state.headers = ["webhook-id": id, "content-type": request.headers[.contentType] ?? ""]
            }
            if slow { try await Task.sleep(for: .milliseconds(1500)) }  // past the sender's 1 s: it will send again
            return Response(status: .noContent)
        }
        let (ports, announce) = AsyncStream.makeStream(of: Int.self)
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)),
                              onServerRunning: { announce.yield($0.localAddress?.port ?? 0) }, logger: Logger(label: "receiver"))
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: Logger(label: "receiver")))
        let task = Task { try await group.run() }
        running.withLock { $0 = (group, task) }
        for await port in ports { return port }
        throw ObservationError(message: "the receiver did not start")
    }

    func stop() async {
        guard let (group, task) = running.withLock({ value in defer { value = nil }; return value }) else { return }
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

@Suite("log streams: configured by the publisher, delivered at least once in commit order, signed")
struct StreamTests {
    let database: TestDatabase
    let key: String

    init() async throws {
        database = try await TestCluster.shared.database("streams")
        let admin = database.adminConninfo
        key = try await runBlocking { try PublisherKeys.create(name: "streams", tenant: nil, adminConninfo: admin).key }
    }

    /// Delivery tuned for tests: no backoff (each tick retries at once), statuses read on every
    /// tick; `timeout` 1 s where the receiver is meant to answer too late, long enough elsewhere
    /// that a loaded machine does not.
    static func delivery(_ services: AppServices, owner: String, timeout: Duration = .seconds(30)) -> StreamDelivery {
        var configuration = StreamDelivery.Configuration()
        configuration.batchSize = 50
        configuration.requestTimeout = timeout
        configuration.initialBackoff = .zero
        configuration.maxBackoff = .zero
        configuration.pagesPerTick = 5
        configuration.statusInterval = .zero
        return StreamDelivery(database: services.database, allowHosts: services.streamAllowHosts, configuration: configuration, owner: owner)
    }

    /// The application, allowed to send to the loopback receivers these tests run.
    func appAllowingLoopback() async throws -> TestApp {
        var app = try await TestApp(conninfo: database.appConninfo)
        app.services.streamAllowHosts = try DestinationAllowList.parse("127.0.0.1")
        return app
    }

    /// A webhook stream of `tenant` to `receiver` (201, a `whsec_` secret, which the receiver
    /// then checks signatures with); its id.
    func webhook(_ client: any TestClientProtocol, tenant: String, to receiver: WebhookReceiver, port: Int, path: String = "/hook",
                 extra: String = "") async throws -> String {
        let (status, created) = try await request(client, .post, "/v1/streams?tenant=\(tenant)",
                                                  #"{"kind":"webhook","url":"http://127.0.0.1:\#(port)\#(path)"\#(extra)}"#)
        #expect(status == .created)
        let secret = try #require(created["secret"]?.stringValue)
        #expect(secret.hasPrefix("whsec_"))
        receiver.secret.withLock { $0 = secret }
        return try #require(created["id"]?.stringValue)
    }

    func request(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, _ body: String? = nil,
                 auth: String? = nil) async throws -> (HTTPResponse.Status, [String: JSONValue]) {
        var headers: HTTPFields = [.authorization: "Bearer \(auth ?? key)"]
        if body != nil { headers[.contentType] = "application/json" }
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        return (response.status, JSONValue.parse(Array(response.body.readableBytesView))?.objectValue ?? [:])
    }

    func ingest(_ client: any TestClientProtocol, tenant: String, from: Int, count: Int) async throws {
        let now = Date()
        for start in stride(from: from, to: from + count, by: 50) {
            let events = (start..<min(from + count, start + 50)).map { n in
                let time = Timestamp.format(now.addingTimeInterval(-Double((n * 7919) % 86_400)))
                return #"{"tenant":"\#(tenant)","id":"e\#(n)","occurred_at":"\#(time)","action":"\#(n % 5 == 0 ? "billing.plan_changed" : "client.renamed")","actor":{"id":"u_\#(n % 3)"}}"#
            }
            let (status, _) = try await request(client, .post, "/v1/events", #"{"events":[\#(events.joined(separator: ","))]}"#)
            #expect(status == .created)
        }
    }

    /// The tenant's whole feed, in order.
    func feed(_ client: any TestClientProtocol, tenant: String) async throws -> [String] {
        var ids: [String] = []
        var after: String?
        while true {
            let (_, page) = try await request(client, .get, "/v1/events/feed?tenant=\(tenant)&limit=1000" + (after.map { "&after=\($0)" } ?? ""))
            guard case .array(let events)? = page["events"], case .string(let next)? = page["after"] else { return ids }
            if events.isEmpty { return ids }
            ids += events.compactMap { $0.objectValue?["id"]?.stringValue }
            after = next
        }
    }

    @Test("a flaky receiver (30% 500s, some answers too slow, down for a stretch): every event arrives, in commit order, signed; duplicates counted")
    func flakyReceiver() async throws {
        let app = try await appAllowingLoopback()
        let services = app.services
        let receiver = WebhookReceiver()
        receiver.state.withLock { $0.failEvery = [1, 4, 7]; $0.slowEvery = [9] }
        let port = try await receiver.start()
        let delivery = Self.delivery(services, owner: "replica-a", timeout: .seconds(1))
        try await app.test { client in
            let id = try await webhook(client, tenant: "org_stream", to: receiver, port: port)
            try await ingest(client, tenant: "org_stream", from: 0, count: 600)

            var ticks = 0
            while receiver.state.withLock({ Set($0.received).count }) < 601, ticks < 400 {
                await delivery.tickOnce()
                ticks += 1
                if ticks == 2 {
                    // Down for a stretch: nothing listens for three ticks, then it comes back on its port.
                    await receiver.stop()
                    let before = receiver.state.withLock { $0.received.count }
                    for _ in 0..<3 { await delivery.tickOnce() }
                    #expect(receiver.state.withLock { $0.received.count } == before)
                    let (_, down) = try await request(client, .get, "/v1/streams/\(id)?tenant=org_stream")
                    #expect(down["last_error"]?.stringValue?.hasPrefix("no answer from the destination") == true, "\(down)")
                    #expect(down["failing_since"] != .null)
                    _ = try await receiver.start(port: port)
                }
            }
            let expected = try await feed(client, tenant: "org_stream")
            let (received, badSignatures, requests) = receiver.state.withLock { ($0.received, $0.badSignatures, $0.requests) }
            var firstArrivals: [String] = []
            var seen: Set<String> = []
            for id in received where seen.insert(id).inserted { firstArrivals.append(id) }
            // Everything committed after the stream was made: the 600 and the record of its creation.
            #expect(expected.count == 601)
            #expect(firstArrivals == expected, "arrival order differs from commit order")
            #expect(badSignatures == 0)
            let duplicates = received.count - firstArrivals.count
            #expect(duplicates > 0, "the slow answers should have caused resends (\(requests) requests)")
            print("stream delivery: \(requests) requests, \(received.count) events received, \(duplicates) duplicates, \(ticks) ticks")

            let (_, shown) = try await request(client, .get, "/v1/streams/\(id)?tenant=org_stream")
            #expect(shown["status"] == .string("active"))
            #expect(shown["secret"] == nil)
            if case .number(let delivered)? = shown["delivered"] { #expect(delivered >= 601) } else { Issue.record("no delivered count") }
            #expect(shown["last_error"]?.stringValue?.isEmpty == false)
        }
        await receiver.stop()
    }

    @Test("paused, a stream sends nothing and keeps its place; resumed, it catches up. A dead replica's streams pass to another")
    func pauseResumeAndHandover() async throws {
        let app = try await appAllowingLoopback()
        let services = app.services
        let receiver = WebhookReceiver()
        let port = try await receiver.start()
        let replicaA = Self.delivery(services, owner: "replica-a")
        let replicaB = Self.delivery(services, owner: "replica-b")
        try await app.test { client in
            let id = try await webhook(client, tenant: "org_pause", to: receiver, port: port, extra: #","categories":["client"]"#)
            try await ingest(client, tenant: "org_pause", from: 0, count: 100)
            await replicaA.tickOnce()
            // The filter: only category client (80 of 100); the creation record is category audit.
            #expect(receiver.state.withLock { Set($0.received).count } == 80)

            let (status, paused) = try await request(client, .patch, "/v1/streams/\(id)?tenant=org_pause", #"{"paused":true}"#)
            #expect(status == .ok)
            #expect(paused["status"] == .string("paused"))
            try await ingest(client, tenant: "org_pause", from: 100, count: 50)
            await replicaA.tickOnce()
            #expect(receiver.state.withLock { Set($0.received).count } == 80)

            _ = try await request(client, .patch, "/v1/streams/\(id)?tenant=org_pause", #"{"paused":false}"#)
            await replicaA.tickOnce()
            #expect(receiver.state.withLock { Set($0.received).count } == 120)

            // Replica A holds the lease: B takes nothing. Then A dies (its lease runs out, moved
            // through the database rather than waited for) and B goes on from A's position.
            try await ingest(client, tenant: "org_pause", from: 150, count: 50)
            await replicaB.tickOnce()
            #expect(receiver.state.withLock { Set($0.received).count } == 120)
            _ = try await database.asAdmin { try $0.executeScript(unsafeSQL: "UPDATE audit.stream SET lease_until = now() - interval '1 second'") }
            await replicaB.tickOnce()
            let received = receiver.state.withLock { $0.received }
            #expect(Set(received).count == 160)
            #expect(received.count == 160, "nothing was sent twice")
            let owner = try await database.asAdmin { try $0.query("SELECT lease_owner FROM audit.stream").rows[0].decode(String.self, at: 0) }
            #expect(owner == "replica-b")
        }
        await receiver.stop()
    }

    @Test("a partial batch lingers for more events; a full one or one past its linger is sent")
    func linger() async throws {
        let app = try await appAllowingLoopback()
        let receiver = WebhookReceiver()
        let port = try await receiver.start()
        var lingering = StreamDelivery.Configuration()
        lingering.batchSize = 50
        lingering.linger = .seconds(3600)
        let patient = StreamDelivery(database: app.services.database, allowHosts: app.services.streamAllowHosts, configuration: lingering, owner: "replica-a")
        let prompt = Self.delivery(app.services, owner: "replica-a")
        try await app.test { client in
            _ = try await webhook(client, tenant: "org_linger", to: receiver, port: port)
            try await ingest(client, tenant: "org_linger", from: 0, count: 10)
            await patient.tickOnce()
            #expect(receiver.state.withLock { $0.requests } == 0, "11 events of a batch of 50 wait out an hour's linger")
            try await ingest(client, tenant: "org_linger", from: 10, count: 50)
            await patient.tickOnce()
            #expect(receiver.state.withLock { Set($0.received).count } == 50, "a full batch goes at once")
            await prompt.tickOnce()
            #expect(receiver.state.withLock { Set($0.received).count } == 61)
        }
        await receiver.stop()
    }

    @Test("a stream failing longer than the limit is marked failing and keeps its place; delivered again, it is active")
    func failing() async throws {
        let app = try await appAllowingLoopback()
        let receiver = WebhookReceiver()
        receiver.state.withLock { $0.failEvery = Set(0..<10) }
        let port = try await receiver.start()
        let delivery = Self.delivery(app.services, owner: "replica-a")
        try await app.test { client in
            let id = try await webhook(client, tenant: "org_failing", to: receiver, port: port)
            try await ingest(client, tenant: "org_failing", from: 0, count: 5)
            await delivery.tickOnce()
            var (_, shown) = try await request(client, .get, "/v1/streams/\(id)?tenant=org_failing")
            #expect(shown["status"] == .string("active"))
            #expect(shown["last_error"] == .string("the destination answered 500"))
            let position = shown["position"]
            // A day and more of failures, moved through the database rather than waited for.
            _ = try await database.asAdmin { try $0.executeScript(unsafeSQL: "UPDATE audit.stream SET failing_since = now() - interval '25 hours'") }
            await delivery.tickOnce()
            (_, shown) = try await request(client, .get, "/v1/streams/\(id)?tenant=org_failing")
            #expect(shown["status"] == .string("failing"))
            #expect(shown["position"] == position)
            receiver.state.withLock { $0.failEvery = [] }
            await delivery.tickOnce()
            (_, shown) = try await request(client, .get, "/v1/streams/\(id)?tenant=org_failing")
            #expect(shown["status"] == .string("active"))
            #expect(shown["failing_since"] == .null)
            #expect(receiver.state.withLock { Set($0.received).count } == 6)
        }
        await receiver.stop()
    }

    @Test("a delivery answered with a redirect is a failed delivery: the redirect is not followed")
    func redirectNotFollowed() async throws {
        let app = try await appAllowingLoopback()
        let receiver = WebhookReceiver()
        let port = try await receiver.start()
        let delivery = Self.delivery(app.services, owner: "replica-a")
        try await app.test { client in
            let id = try await webhook(client, tenant: "org_redirect", to: receiver, port: port, path: "/redirect")
            try await ingest(client, tenant: "org_redirect", from: 0, count: 3)
            await delivery.tickOnce()
            let (_, shown) = try await request(client, .get, "/v1/streams/\(id)?tenant=org_redirect")
            #expect(shown["last_error"] == .string("the destination answered 307"), "\(shown)")
            #expect(shown["delivered"] == .number(0))
        }
        #expect(receiver.state.withLock { $0.received }.isEmpty)
        await receiver.stop()
    }

    @Test("a destination on a private, loopback or link-local address, or over plain http, is refused unless allowed", arguments: [
        "https://127.0.0.1/hook", "https://10.0.0.8/hook", "https://172.20.1.1/x", "https://192.168.1.1/x",
        "https://169.254.169.254/latest/meta-data", "https://[::1]/hook", "https://[fd00::1]/x", "https://localhost/hook",
        "http://93.184.216.34/hook", "ftp://93.184.216.34/x", "https://user:pw@93.184.216.34/x", "not a url",
    ])
    func serverSideRequestForgery(_ url: String) async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        try await app.test { client in
            let (status, body) = try await request(client, .post, "/v1/streams?tenant=org_ssrf", #"{"kind":"webhook","url":"\#(url)"}"#)
            #expect(status == .unprocessableContent)
            #expect(body["error"]?.objectValue?["code"] == .string("invalid_stream"))
            let (_, list) = try await request(client, .get, "/v1/streams?tenant=org_ssrf")
            #expect(list["streams"] == .array([]))
        }
    }

    @Test("configuration: the publisher creates, changes and deletes; owners and admins read; a member and support cannot; bad input is 422")
    func configuration() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        try await app.test { client in
            // A public address (never contacted here).
            let (status, splunk) = try await request(client, .post, "/v1/streams?tenant=org_conf",
                                                     #"{"kind":"splunk_hec","url":"https://93.184.216.34/services/collector","token":"hec-123","actions":["billing.*"]}"#)
            #expect(status == .created)
            #expect(splunk["secret"] == nil && splunk["token"] == nil)
            let id = try #require(splunk["id"]?.stringValue)
            for (body, field) in [(#"{"kind":"splunk_hec","url":"https://93.184.216.34/x"}"#, "token"),
                                  (#"{"kind":"webhook","url":"https://93.184.216.34/x","token":"t"}"#, "token"),
                                  (#"{"kind":"kafka","url":"https://93.184.216.34/x"}"#, "kind"),
                                  (#"{"kind":"webhook","url":"https://93.184.216.34/x","categories":["Not A Category"]}"#, "categories"),
                                  (#"{"kind":"webhook","url":"https://93.184.216.34/x","colour":"red"}"#, "colour")] {
                let (status, error) = try await request(client, .post, "/v1/streams?tenant=org_conf", body)
                #expect(status == .unprocessableContent, "\(body)")
                guard case .array(let details)? = error["error"]?.objectValue?["details"] else { Issue.record("no details"); continue }
                #expect(details.contains { $0.objectValue?["field"] == .string(field) }, "\(body)")
            }
            for role in [AccessRole.owner, .admin] {
                let (status, list) = try await request(client, .get, "/v1/streams", auth: TestApp.token("org_conf", role))
                #expect(status == .ok)
                guard case .array(let streams)? = list["streams"] else { Issue.record("no list"); continue }
                #expect(streams.count == 1)
                let (refused, _) = try await request(client, .patch, "/v1/streams/\(id)", #"{"paused":true}"#, auth: TestApp.token("org_conf", role))
                #expect(refused == .forbidden)
            }
            for role in [AccessRole.member, .support] {
                let (status, _) = try await request(client, .get, "/v1/streams", auth: TestApp.token("org_conf", role))
                #expect(status == .forbidden)
            }
            // Another tenant's reader does not see it.
            let (_, other) = try await request(client, .get, "/v1/streams/\(id)", auth: TestApp.token("org_other", .owner))
            #expect(other["error"]?.objectValue?["code"] == .string("not_found"))
            let (changed, after) = try await request(client, .patch, "/v1/streams/\(id)?tenant=org_conf", #"{"categories":["billing"],"paused":true}"#)
            #expect(changed == .ok)
            #expect(after["categories"] == .array(["billing"]))
            #expect(after["status"] == .string("paused"))
            #expect(try await request(client, .delete, "/v1/streams/\(id)?tenant=org_conf").0 == .noContent)
            #expect(try await request(client, .delete, "/v1/streams/\(id)?tenant=org_conf").0 == .notFound)
            // Each change is in the tenant's own log.
            let (_, log) = try await request(client, .get, "/v1/events?tenant=org_conf&action=audit_log.stream_*")
            guard case .array(let events)? = log["events"] else { Issue.record("no log"); return }
            #expect(Set(events.compactMap { $0.objectValue?["action"]?.stringValue })
                    == ["audit_log.stream_created", "audit_log.stream_updated", "audit_log.stream_deleted"])
        }
    }

    @Test("a vendor-wide stream carries every tenant's events in commit order; only an unrestricted publisher key configures or sees it; /metrics shows each stream's status")
    func vendorWide() async throws {
        let app = try await appAllowingLoopback()
        let receiver = WebhookReceiver()
        let port = try await receiver.start()
        let delivery = Self.delivery(app.services, owner: "replica-a")
        let admin = database.adminConninfo
        let restricted = try await runBlocking { try PublisherKeys.create(name: "one tenant", tenant: TenantID("org_v1"), adminConninfo: admin).key }
        let body = #"{"scope":"vendor","kind":"webhook","url":"http://127.0.0.1:\#(port)/hook"}"#
        try await app.test { client in
            // Refused: a key restricted to one tenant, a viewer, a tenant named with it, a scope the query contradicts.
            let (keyRefused, keyError) = try await request(client, .post, "/v1/streams", body, auth: restricted)
            #expect(keyRefused == .forbidden)
            #expect(keyError["error"]?.objectValue?["code"] == .string("tenant_not_allowed"))
            #expect(try await request(client, .post, "/v1/streams", body, auth: TestApp.token("org_v1", .owner)).0 == .forbidden)
            #expect(try await request(client, .get, "/v1/streams?scope=vendor", auth: TestApp.token("org_v1", .owner)).0 == .forbidden)
            #expect(try await request(client, .get, "/v1/streams?scope=vendor", auth: restricted).0 == .forbidden)
            #expect(try await request(client, .post, "/v1/streams?scope=vendor&tenant=org_v1", body).0 == .badRequest)
            #expect(try await request(client, .post, "/v1/streams?scope=tenant&tenant=org_v1", body).0 == .unprocessableContent)
            #expect(try await request(client, .get, "/v1/streams?scope=everyone").0 == .badRequest)
            #expect(try await database.asAdmin { try $0.query("SELECT count(*) FROM audit.stream").rows[0].decode(Int.self, at: 0) } == 0)

            let (status, created) = try await request(client, .post, "/v1/streams", body)
            #expect(status == .created)
            #expect(created["scope"] == .string("vendor"))
            #expect(created["tenant"] == .null)
            let id = try #require(created["id"]?.stringValue)
            receiver.secret.withLock { $0 = created["secret"]?.stringValue ?? "" }

            // Seen only as a vendor-wide stream, never from a tenant.
            let (_, vendorList) = try await request(client, .get, "/v1/streams?scope=vendor")
            #expect(vendorList["streams"]?.arrayValue?.count == 1)
            let (_, tenantList) = try await request(client, .get, "/v1/streams?tenant=org_v1")
            #expect(tenantList["streams"]?.arrayValue?.isEmpty == true)
            #expect(try await request(client, .get, "/v1/streams/\(id)?tenant=org_v1").0 == .notFound)
            #expect(try await request(client, .get, "/v1/streams/\(id)?scope=vendor").0 == .ok)

            try await ingest(client, tenant: "org_v1", from: 0, count: 60)
            try await ingest(client, tenant: "org_v2", from: 1000, count: 40)
            var ticks = 0
            while receiver.state.withLock({ Set($0.received).count }) < 100, ticks < 20 {
                await delivery.tickOnce()
                ticks += 1
            }
            let received = receiver.state.withLock { $0.received }
            let expected = try await feed(client, tenant: "org_v1") + feed(client, tenant: "org_v2")
            #expect(Set(received) == Set(expected))
            #expect(received.count == 100, "each event once: \(received.count)")
            // Commit order across tenants: all of org_v1's batches were committed before org_v2's.
            #expect(received.prefix(60).allSatisfy { Int($0.dropFirst())! < 1000 })
            #expect(receiver.state.withLock { $0.badSignatures } == 0)

            // The service role cannot read the vendor-wide feed from a tenant's context.
            let appConninfo = database.appConninfo
            let refusal = try await runBlocking { () -> String? in
                let connection = try PostgresConnection(conninfo: appConninfo)
                do {
                    try connection.executeScript(unsafeSQL: "BEGIN; SET LOCAL auditlog.tenant = 'org_v1'; SET LOCAL auditlog.role = 'maintenance'")
                    _ = try connection.query("SELECT count(*) FROM audit.vendor_feed(pg_current_snapshot(), pg_current_snapshot(), NULL, NULL, NULL, 10)")
                    return nil
                } catch let error as PostgresError {
                    return error.sqlState
                }
            }
            #expect(refusal == "42501")

            // /metrics: the stream's status, and it goes when the stream does.
            _ = try await request(client, .patch, "/v1/streams/\(id)?scope=vendor", #"{"paused":true}"#)
            await delivery.refreshStatusesIfDue()
            let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(metrics.contains(#"auditlog_stream_status{stream="*/\#(id)",status="paused"} 1"#) || metrics.contains(#"auditlog_stream_status{status="paused",stream="*/\#(id)"} 1"#), "\(metrics)")
            #expect(try await request(client, .delete, "/v1/streams/\(id)?scope=vendor").0 == .noContent)
            await delivery.refreshStatusesIfDue()
            let after = String(buffer: try await client.execute(uri: "/metrics", method: .get).body)
            #expect(!after.contains("*/\(id)"))
        }
        await receiver.stop()
    }
}
