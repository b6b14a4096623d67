import AuditCore
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresLibPQ
import Synchronization
import Testing
import AsyncHTTPClient
import NIOCore
import TestSupport

@Suite("the feed: every committed event once, in commit order, across replicas")
struct FeedTests {
    let database: TestDatabase
    let key: String

    init() async throws {
        database = try await TestCluster.shared.database("feed")
        let admin = database.adminConninfo
        key = try await runBlocking { try PublisherKeys.create(name: "feed", tenant: nil, adminConninfo: admin).key }
    }

    struct Page: Decodable {
        struct Event: Decodable { var id: String }
        var events: [Event]
        var after: String
    }

    func feed(_ client: any TestClientProtocol, tenant: String, after: String?, limit: Int = 500, wait: Int = 0,
              auth: String? = nil) async throws -> (HTTPResponse.Status, Page?, String) {
        var uri = "/v1/events/feed?tenant=\(tenant)&limit=\(limit)&wait=\(wait)"
        if let after { uri += "&after=\(after)" }
        let response = try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(auth ?? key)"])
        let text = String(buffer: response.body)
        return (response.status, response.status == .ok ? try JSONDecoder().decode(Page.self, from: Data(text.utf8)) : nil, text)
    }

    @Test("16 writers on two replicas, 20,000 events with late and mixed times, a consumer following along: each committed id exactly once")
    func concurrentWritersAndConsumer() async throws {
        let replicaA = try await TestApp(conninfo: database.appConninfo)
        let replicaB = try await TestApp(conninfo: database.appConninfo)
        let key = self.key
        try await replicaA.test { a in
            try await replicaB.test { b in
                let replicas: [any TestClientProtocol] = [a, b]
                let writing = Mutex(true)
                let now = Date()
                @Sendable func consume() async throws -> [String] {
                    var ids: [String] = []
                    var after: String?
                    var turn = 0
                    var emptyAfterWriters = 0
                    while emptyAfterWriters < 2 {
                        let stillWriting = writing.withLock { $0 }
                        let (status, page, text) = try await feed(replicas[turn % 2], tenant: "org_feed", after: after, wait: stillWriting ? 1 : 0)
                        turn += 1
                        guard status == .ok, let page else { throw ObservationError(message: "feed answered \(status): \(text)") }
                        ids += page.events.map(\.id)
                        after = page.after
                        if !stillWriting, page.events.isEmpty { emptyAfterWriters += 1 }
                    }
                    return ids
                }
                async let consumed = consume()
                let committed = try await withThrowingTaskGroup(of: [String].self) { group in
                    for writer in 0..<16 {
                        group.addTask {
                            var ids: [String] = []
                            for batch in 0..<50 {
                                let events = (0..<25).map { index -> String in
                                    let n = (writer * 50 + batch) * 25 + index
                                    // Mixed and late: anywhere in the last three days, some a minute ahead.
                                    let offset = n % 11 == 0 ? 60 : -Double((n * 7919) % 259_200)
                                    let time = Timestamp.format(now.addingTimeInterval(offset))
                                    return #"{"tenant":"org_feed","id":"w\#(writer)_\#(n)","occurred_at":"\#(time)","action":"client.synced","actor":{"id":"u_\#(writer)"}}"#
                                }
                                let response = try await replicas[(writer + batch) % 2].execute(
                                    uri: "/v1/events", method: .post,
                                    headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                                    body: ByteBuffer(string: #"{"events":[\#(events.joined(separator: ","))]}"#))
                                guard response.status == .created else {
                                    throw ObservationError(message: "ingest answered \(response.status): \(String(buffer: response.body))")
                                }
                                ids += (0..<25).map { "w\(writer)_\((writer * 50 + batch) * 25 + $0)" }
                            }
                            return ids
                        }
                    }
                    var all: [String] = []
                    for try await ids in group { all += ids }
                    return all
                }
                writing.withLock { $0 = false }
                let ids = try await consumed
                #expect(committed.count == 20_000)
                #expect(ids.count == 20_000, "the consumer received \(ids.count) events")
                #expect(Set(ids).count == ids.count, "\(ids.count - Set(ids).count) events came twice")
                #expect(Set(ids) == Set(committed))
            }
        }
        let stored = try await database.asAdmin { try $0.query("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_feed'").rows[0].decode(Int.self, at: 0) }
        #expect(stored == 20_000)
    }

    @Test("a long poll answers when an event commits; the token of an empty page resumes exactly after it")
    func longPollAndResume() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        let key = self.key
        try await app.test { client in
            let (_, first, _) = try await feed(client, tenant: "org_poll", after: nil)
            #expect(first?.events.isEmpty == true)
            let token = try #require(first?.after)
            async let waited = feed(client, tenant: "org_poll", after: token, wait: 30)
            let post = try await client.execute(uri: "/v1/events", method: .post,
                                                headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                                                body: ByteBuffer(string: #"{"tenant":"org_poll","id":"p1","occurred_at":"\#(Timestamp.format(Date()))","action":"user.invited","actor":{"id":"u"}}"#))
            #expect(post.status == .created)
            let (status, page, _) = try await waited
            #expect(status == .ok)
            #expect(page?.events.map(\.id) == ["p1"])
            // Resuming from the token before it gives it again; from the one after, nothing.
            #expect(try await feed(client, tenant: "org_poll", after: token).1?.events.map(\.id) == ["p1"])
            #expect(try await feed(client, tenant: "org_poll", after: page?.after).1?.events.isEmpty == true)
        }
    }

    @Test("bad tokens and parameters are 400, a support reader 403, another tenant's events never appear", arguments: [
        ("after=bm90IGEgdG9rZW4", 400, "invalid_query"),
        ("after=\(Crypto.base64URL(Array("f1|5:3:||||".utf8)))", 400, "invalid_query"),
        ("after=\(Crypto.base64URL(Array("f1|1:1:|9:9:|9|1|x;drop".utf8)))", 400, "invalid_query"),
        ("after=\(Crypto.base64URL(Array("f1|3:9:4,4||||".utf8)))", 400, "invalid_query"),
        // Citus's positions (a commit number; a vendor stream's cursors) mean nothing on one node.
        ("after=\(Crypto.base64URL(Array("c1|3||".utf8)))", 400, "invalid_query"),
        ("after=\(Crypto.base64URL(Array("v1|2".utf8)))", 400, "invalid_query"),
        ("after=\(Crypto.base64URL(Array("c1|3|1796693483003923|e;1".utf8)))", 400, "invalid_query"),
        ("limit=0", 400, "invalid_query"),
        ("limit=1001", 400, "invalid_query"),
        ("wait=61", 400, "invalid_query"),
        ("cursor=x", 400, "unknown_parameter"),
    ])
    func refused(_ query: String, _ status: Int, _ code: String) async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        try await app.test { client in
            let response = try await client.execute(uri: "/v1/events/feed?tenant=org_a&\(query)", method: .get,
                                                    headers: [.authorization: "Bearer \(key)"])
            #expect(response.status.code == status)
            #expect(try ErrorBody(response.body).error.code == code)
        }
    }

    @Test("roles: owner and admin read their own feed, support and member are refused; no other tenant's events")
    func roles() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        let key = self.key
        try await app.test { client in
            for tenant in ["org_mine", "org_theirs"] {
                let post = try await client.execute(uri: "/v1/events", method: .post,
                                                    headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                                                    body: ByteBuffer(string: #"{"tenant":"\#(tenant)","action":"user.invited","actor":{"id":"u"}}"#))
                #expect(post.status == .created)
            }
            for role in [AccessRole.owner, .admin] {
                let response = try await client.execute(uri: "/v1/events/feed", method: .get,
                                                        headers: [.authorization: "Bearer \(TestApp.token("org_mine", role))"])
                #expect(response.status == .ok)
                let page = try JSONDecoder().decode(Page.self, from: Data(buffer: response.body))
                #expect(page.events.count == 1)
                #expect(!String(buffer: response.body).contains("org_theirs"))
            }
            for role in [AccessRole.support, .member] {
                let response = try await client.execute(uri: "/v1/events/feed", method: .get,
                                                        headers: [.authorization: "Bearer \(TestApp.token("org_mine", role))"])
                #expect(response.status == .forbidden)
            }
        }
    }
}

@Suite("the live view: Server-Sent Events of what commits, filtered, resumable")
struct LiveTests {
    let database: TestDatabase
    let key: String

    init() async throws {
        database = try await TestCluster.shared.database("live")
        let admin = database.adminConninfo
        key = try await runBlocking { try PublisherKeys.create(name: "live", tenant: nil, adminConninfo: admin).key }
    }

    func post(_ port: Int, _ body: String) async throws {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/events")
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status.code == 201)
    }

    /// Opens the live view and reads it until `until` holds for what arrived (or 30 s pass).
    func read(_ port: Int, query: String, lastEventID: String? = nil, after: @Sendable () async throws -> Void,
              until: (String) -> Bool) async throws -> String {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/events/live?\(query)")
        request.headers.add(name: "Authorization", value: "Bearer \(TestApp.token("org_live", .admin))")
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        #expect(response.status.code == 200)
        #expect(response.headers.first(name: "Content-Type")?.hasPrefix("text/event-stream") == true)
        var text = ""
        var posted = false
        for try await chunk in response.body {
            text += String(buffer: chunk)
            if !posted, text.contains("retry: 2000") {
                posted = true
                try await after()
            }
            if until(text) { break }
        }
        return text
    }

    @Test("a reader's live view carries the events committed after it opened that match its filter; Last-Event-ID resumes after the last one")
    func liveView() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        let server = RestartableServer(services: app.services)
        let port = try await server.start()
        let event: @Sendable (String, String) -> String = { id, action in #"{"tenant":"org_live","id":"\#(id)","occurred_at":"\#(Timestamp.format(Date()))","action":"\#(action)","actor":{"id":"u"}}"# }
        try await post(port, event("before", "billing.plan_changed"))
        let first = try await read(port, query: "category=billing", after: {
            try await self.post(port, event("l1", "user.invited"))
            try await self.post(port, event("l2", "billing.plan_changed"))
        }, until: { $0.contains(#""id":"l2""#) && $0.hasSuffix("\n\n") })
        #expect(!first.contains(#""id":"before""#), "only what commits after the view opened")
        #expect(!first.contains(#""id":"l1""#), "the filter applies")
        #expect(first.contains("event: event\ndata: {"))
        // The id after the last event: resuming there gives what came later, and nothing again.
        let lastID = try #require(first.components(separatedBy: "\n").last { $0.hasPrefix("id: ") }.map { String($0.dropFirst(4)) })
        try await post(port, event("l3", "billing.card_added"))
        let resumed = try await read(port, query: "category=billing", lastEventID: lastID, after: {}, until: { $0.contains(#""id":"l3""#) })
        #expect(!resumed.contains(#""id":"l2""#))
        await server.stop()
        await app.database.close()
    }
}
