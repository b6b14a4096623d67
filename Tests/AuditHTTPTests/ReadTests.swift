import AuditCore
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresLibPQ
import Testing
import TestSupport

@Suite("reading the log: isolation, roles, filters, paging, hostile input")
struct ReadTests {
    let database: TestDatabase
    let key: String

    /// Two tenants with look-alike data: the same event ids, actor ids and targets.
    init() async throws {
        database = try await TestCluster.shared.database("reads")
        let admin = database.adminConninfo
        key = try await runBlocking { try PublisherKeys.create(name: "backend", tenant: nil, adminConninfo: admin).key }
        let key = self.key
        try await TestApp(conninfo: database.appConninfo).test { client in
            for tenant in ["org_a", "org_b"] {
                var events: [String] = []
                for index in 0..<30 {
                    let time = Timestamp.format(Date().addingTimeInterval(Double(-index * 3600)))
                    let (action, category) = index % 3 == 0 ? ("subscription.changed", "billing") : ("client.renamed", "client_mapping")
                    events.append(#"""
                        {"tenant": "\#(tenant)", "id": "e\#(index)", "occurred_at": "\#(time)", "action": "\#(action)", "category": "\#(category)",
                         "actor": {"id": "u_\#(index % 2)", "name": "Alice \#(tenant)"}, "outcome": "\#(index % 5 == 0 ? "failure" : "success")",
                         "targets": [{"type": "client", "id": "c_\#(index % 4)", "name": "Acme \#(tenant)"}],
                         "before": {"plan": "basic"}, "after": {"plan": "pro"},
                         "message": "\#(tenant) secret-word-\#(tenant) payment method \#(index)"}
                        """#)
                }
                let response = try await client.execute(uri: "/v1/events", method: .post,
                    headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"events": [\#(events.joined(separator: ","))]}"#))
                #expect(response.status == .created)
            }
        }
    }

    func get(_ client: any TestClientProtocol, _ uri: String, _ credential: String) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .get, headers: [.authorization: "Bearer \(credential)"])
    }

    func events(_ response: TestResponse) throws -> [[String: JSONValue]] {
        guard case .object(let body)? = JSONValue.parse(Array(response.body.readableBytesView)),
              case .array(let items)? = body["events"] else { return [] }
        return items.compactMap(\.objectValue)
    }

    /// Follows `next_cursor` from `path` (which already has a `?`) until the last page, at most
    /// `maxPages`; every page must be a 200. Returns the events in order and the page count.
    func readAllPages(
        _ client: any TestClientProtocol, _ path: String, _ token: String, maxPages: Int = 50,
        betweenPages: () async throws -> Void = {}
    ) async throws -> (events: [[String: JSONValue]], pages: Int) {
        var all: [[String: JSONValue]] = []
        var cursor: String?
        var pages = 0
        repeat {
            let response = try await get(client, path + (cursor.map { "&cursor=\($0)" } ?? ""), token)
            #expect(response.status == .ok)
            all += try events(response)
            guard case .object(let body)? = JSONValue.parse(Array(response.body.readableBytesView)) else { break }
            cursor = body["next_cursor"]?.stringValue
            pages += 1
            try await betweenPages()
        } while cursor != nil && pages < maxPages
        return (all, pages)
    }

    static let readRoutes = [
        "/v1/events", "/v1/events/e1", "/v1/actors/u_1/events", "/v1/targets/client/c_1/events", "/v1/categories",
        "/v1/tenant/settings", "/v1/events?q=secret-word-org_b", "/v1/events?q=changed:plan", "/v1/digests",
    ]

    @Test("a token of tenant A never sees tenant B's data, on any read route", arguments: readRoutes)
    func isolation(_ route: String) async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await get(client, route, TestApp.token("org_a", .admin))
            #expect(response.status == .ok)
            let body = String(buffer: response.body)
            #expect(!body.contains("org_b"))
            #expect(!body.contains("secret-word-org_b"))
            let asked = try await get(client, route + (route.contains("?") ? "&" : "?") + "tenant=org_b", TestApp.token("org_a", .owner))
            #expect(asked.status == .forbidden)
        }
    }

    @Test("member gets 403 on every read route", arguments: readRoutes + ["/v1/events/export?format=csv"])
    func member(_ route: String) async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await get(client, route, TestApp.token("org_a", .member))
            #expect(response.status == .forbidden)
            #expect(!String(buffer: response.body).contains("org_a secret"))
        }
    }

    @Test("another tenant's event id is 404, like an unknown one")
    func otherTenantsEvent() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let own = try await get(client, "/v1/events/e1", TestApp.token("org_a", .admin))
            #expect(String(buffer: own.body).contains("secret-word-org_a"))
            let unknown = try await get(client, "/v1/events/nope", TestApp.token("org_a", .admin))
            #expect(unknown.status == .notFound)
            try await database.asAdmin { try $0.query("INSERT INTO audit.tenant (tenant_id) VALUES ('org_c')") }
            let elsewhere = try await get(client, "/v1/events/e1", TestApp.token("org_c", .admin))
            #expect(elsewhere.status == .notFound)
        }
    }

    @Test("filters and search keys narrow as documented")
    func filters() async throws {
        let token = TestApp.token("org_a", .admin)
        try await TestApp(conninfo: database.appConninfo).test { client throws in
            let ids = { (uri: String) async throws -> [String] in
                let response = try await get(client, uri, token)
                #expect(response.status == .ok, "\(uri)")
                return try events(response).compactMap { $0["id"]?.stringValue }
            }
            #expect(try await ids("/v1/events?limit=200").count == 30)
            #expect(try await ids("/v1/events?category=billing&limit=200").count == 10)
            #expect(try await ids("/v1/events?q=category:billing+actor:u_0&limit=200").count == 5)
            #expect(try await ids("/v1/actors/u_1/events?limit=200").count == 15)
            #expect(try await ids("/v1/targets/client/c_2/events?limit=200") == ["e2", "e6", "e10", "e14", "e18", "e22", "e26"])
            #expect(try await ids("/v1/events?target_type=client&target_id=c_2&limit=200").count == 7)
            #expect(try await ids("/v1/events?action=subscription.changed&limit=200").count == 10)
            #expect(try await ids("/v1/events?q=action:client.*&limit=200").count == 20)
            #expect(try await ids("/v1/events?outcome=failure&limit=200").count == 6)
            #expect(try await ids("/v1/events?q=%22payment+method%22+-e&limit=200").count == 30)
            #expect(try await ids("/v1/events?q=%22method+payment%22&limit=200").count == 0)
            #expect(try await ids("/v1/events?q=paym*+changed:plan&limit=200").count == 30)
            #expect(try await ids("/v1/events?q=changed:nothing&limit=200").count == 0)
            let from = Timestamp.format(Date().addingTimeInterval(-4.5 * 3600))
            #expect(try await ids("/v1/events?from=\(from)&limit=200") == ["e0", "e1", "e2", "e3", "e4"])
            let before = Timestamp.format(Date().addingTimeInterval(-2.5 * 3600))
            #expect(try await ids("/v1/events?q=after:\(from)+before:\(before)&limit=200") == ["e3", "e4"])
            // A target with dates only: from, to, and both (sql/functions/target_events.sql).
            #expect(try await ids("/v1/events?target_type=client&target_id=c_2&from=\(from)&limit=200") == ["e2"])
            #expect(try await ids("/v1/targets/client/c_2/events?q=before:\(before)&limit=200") == ["e6", "e10", "e14", "e18", "e22", "e26"])
            #expect(try await ids("/v1/targets/client/c_2/events?q=after:\(from)+before:\(before)&limit=200") == [])
        }
    }

    @Test("paging with limit=37 returns each event once, in order, while new events arrive")
    func paging() async throws {
        try await database.asAdmin { connection in
            try connection.query("""
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                SELECT 'org_page', 'p' || g, now() - g * interval '1 minute', 'a.b', 'a', 'user', 'u', 'm', repeat('a', 64)
                FROM generate_series(1, 1000) AS g
                """)
        }
        let token = TestApp.token("org_page", .owner)
        let key = self.key
        try await TestApp(conninfo: database.appConninfo).test { client in
            let (page, pages) = try await readAllPages(client, "/v1/events?limit=37", token, maxPages: 100) {
                // A newer event arrives between pages; it must not shift the pages already read.
                _ = try await client.execute(uri: "/v1/events", method: .post,
                    headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                    body: ByteBuffer(string: #"{"tenant": "org_page", "action": "a.new", "actor": {"id": "u"}}"#))
            }
            let seen = page.compactMap { $0["id"]?.stringValue }
            let times = page.compactMap { $0["occurred_at"]?.stringValue }
            let expected = (1...1000).map { "p\($0)" }
            #expect(seen.filter { $0.hasPrefix("p") } == expected)
            #expect(times == times.sorted(by: >))
            #expect(pages == 28)
        }
    }

    @Test("a sparse log over 80 days pages through every time slice, each event once and in order, for every shape",
          arguments: ["", "&q=zebra", "&q=changed:plan", "&target_type=client&target_id=c_sparse", "&target_type=client&target_id=c_sparse&category=billing",
                     "&category=billing"])
    func sparsePaging(_ shape: String) async throws {
        // Events 0.5 h, 20 h, 3 d, 10 d, … apart, so pages span the day, week, month and rest slices.
        try await database.asAdmin { connection in
            try connection.query("""
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message,
                                         changes, changed_fields, targets, hash)
                SELECT 'org_sparse', 's' || g, now() - (g * g * interval '17 minutes'), 'a.b', 'billing', 'user', 'u',
                       'zebra crossing ' || g, '{"plan": {"old": 1, "new": 2}}', '{plan}',
                       '[{"type": "client", "id": "c_sparse", "name": "Zebra"}]', repeat('a', 64)
                FROM generate_series(1, 80) AS g
                """)
            try connection.query("""
                INSERT INTO audit.event_target (tenant_id, target_type, target_id, occurred_at, event_id)
                SELECT tenant_id, 'client', 'c_sparse', occurred_at, id FROM audit.event WHERE tenant_id = 'org_sparse'
                """)
        }
        let token = TestApp.token("org_sparse", .admin)
        try await TestApp(conninfo: database.appConninfo).test { client in
            let (page, pages) = try await readAllPages(client, "/v1/events?limit=7" + shape, token)
            let seen = page.compactMap { $0["id"]?.stringValue }
            // 80 × 80 × 17 min is ~75 days: all inside the 90-day window.
            #expect(seen == (1...80).map { "s\($0)" })
            #expect(pages == 12)
        }
    }

    @Test("a search reads the same on a tenant of 6,000 events (planned per slice) and of 300 (one kept plan)",
          arguments: [6_000, 300], ["needle", "changed:plan", "needle category:billing", "needle category:audit category:billing"])
    func searchOnLargeAndSmallTenants(size: Int, query: String) async throws {
        // Every 50th event is a match, alternately billing and settings, spread over 83 days,
        // so a page of 25 crosses the day, week, month and rest slices. audit.search_events reads a
        // tenant with 5,000 or more events left in the window by statements planned for
        // each slice, and a smaller one by a statement whose plan it keeps. One category is
        // matched by equality there, several by `= ANY`.
        let tenant = "org_search_\(size)"
        try await insertSearchTenant(tenant, size: size)
        try await expectSearch(tenant, size: size, query: query)
    }

    @Test("a search reads the same when the tenant's digests count more events than it keeps (erased since)",
          arguments: ["needle", "needle category:billing"])
    func searchWhereDigestsCountMore(query: String) async throws {
        // The function takes a tenant whose newest sealed hours count 5,000 events for a large
        // one without counting its rows. Here the digests of 48 hours before the last day say
        // 120 each, but only 300 events are left: the large tenants' statements must read them
        // all the same.
        let tenant = "org_search_sealed_\(query.count)"
        try await insertSearchTenant(tenant, size: 300)
        try await database.asAdmin { connection in
            try connection.query("""
                INSERT INTO audit.digest (tenant_id, hour, hour_end, sequence, position, event_count, events_sha256,
                                          covered_until, signature)
                SELECT \(tenant), h, h + interval '1 hour', 0, g, 120, repeat('b', 64), h + interval '1 hour', repeat('c', 64)
                FROM generate_series(1, 48) AS g,
                     LATERAL (SELECT date_trunc('hour', now() - interval '1 day', 'UTC') - g * interval '1 hour' AS h) AS hours
                """)
        }
        try await expectSearch(tenant, size: 300, query: query)
    }

    /// `size` events over 83 days, every 50th a match for "needle" and `changed:plan`, every
    /// 100th of them in billing (ids `n1`…, newest first).
    func insertSearchTenant(_ tenant: String, size: Int) async throws {
        try await database.asAdmin { connection in
            try connection.query("""
                INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message,
                                         changes, changed_fields, hash)
                SELECT \(tenant), 'n' || g, now() - (g * (83 * 24 * 60 / \(size)) * interval '1 minute'), 'a.b',
                       CASE WHEN g % 100 = 0 THEN 'billing' ELSE 'settings' END, 'user', 'u',
                       CASE WHEN g % 50 = 0 THEN 'found the needle ' ELSE 'hay ' END || g,
                       CASE WHEN g % 50 = 0 THEN '{"plan": {"old": 1, "new": 2}}'::jsonb ELSE '{}'::jsonb END,
                       CASE WHEN g % 50 = 0 THEN '{plan}'::text[] ELSE '{}'::text[] END, repeat('a', 64)
                FROM generate_series(1, \(size)) AS g
                """)
        }
    }

    /// Every page of `query` on a tenant from `insertSearchTenant`, 25 at a time: all its matches, newest first.
    func expectSearch(_ tenant: String, size: Int, query: String) async throws {
        let expected = (1...size).filter { $0 % 50 == 0 && (!query.contains("billing") || $0 % 100 == 0) }.map { "n\($0)" }
        let token = TestApp.token(tenant, .admin)
        let q = query.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        try await TestApp(conninfo: database.appConninfo).test { client in
            let (page, _) = try await readAllPages(client, "/v1/events?limit=25&q=\(q)", token)
            let seen = page.compactMap { $0["id"]?.stringValue }
            #expect(seen == expected)
        }
    }

    @Test("forged, expired, unbounded, not-yet-valid, ambiguous and malformed tokens are 401", arguments: ReadTests.forgedTokenCases())
    func forgedTokens(_ token: String) async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await get(client, "/v1/events", token)
            #expect(response.status == .unauthorized)
            #expect(!String(buffer: response.body).contains("org_a"))
        }
    }

    static func forgedTokenCases() -> [String] {
        let good = TestApp.token("org_a", .owner)
        let parts = good.split(separator: ".").map(String.init)
        func b64(_ text: String) -> String { Crypto.base64URL(Array(text.utf8)) }
        let now = Int(Date().timeIntervalSince1970)
        let payload = #"{"exp":\#(now + 600),"iat":\#(now),"role":"owner","sub":"u","tid":"org_b"}"#
        let other = ViewerTokenCodec(key: Array(repeating: 9, count: 32))
        /// Correctly signed with the service's key, with the claims as written.
        func signed(_ claims: String) -> String {
            let input = b64(#"{"alg":"HS256","typ":"JWT"}"#) + "." + b64(claims)
            return input + "." + Crypto.base64URL(Crypto.hmacSHA256(key: TestApp.signingKey, message: Array(input.utf8)))
        }
        return [
            signed(#"{"exp":\#(now + 600),"role":"owner","sub":"u","tid":"org_a"}"#),  // no iat
            signed(#"{"exp":1000000000000000,"iat":\#(now),"role":"owner","sub":"u","tid":"org_a"}"#),  // lives for ever
            signed(#"{"exp":\#(now + 90000),"iat":\#(now),"role":"owner","sub":"u","tid":"org_a"}"#),  // 25 hours
            signed(#"{"exp":\#(now + 600),"iat":\#(now),"nbf":\#(now + 3600),"role":"owner","sub":"u","tid":"org_a"}"#),  // not yet
            signed(#"{"exp":\#(now + 600),"iat":\#(now),"role":"member","role":"owner","sub":"u","tid":"org_a"}"#),  // role twice
            signed(#"{"exp":\#(now - 10),"iat":\#(now),"role":"owner","sub":"u","tid":"org_a"}"#),  // ends before it starts
            b64(#"{"alg":"none","typ":"JWT"}"#) + "." + parts[1] + ".",
            b64(#"{"alg":"none","typ":"JWT"}"#) + "." + b64(payload) + ".",
            b64(#"{"alg":"RS256","typ":"JWT"}"#) + "." + parts[1] + "." + parts[2],
            parts[0] + "." + b64(payload) + "." + parts[2],
            other.mint(ViewerClaims(tenant: TenantID("org_a")!, role: .owner, actorID: "u", actorName: nil, issuedAt: Date(), expiresAt: Date().addingTimeInterval(600))),
            TestApp.token("org_a", .owner, ttl: -120),
            "not.a.token", "", "eyJ", good + "x",
        ]
    }

    @Test("hostile q values are a 400 or an empty result, never a 500", arguments: [
        "'; drop table audit.event; --", "actor:' or 1=1", "\"unbalanced", "a\"b\"c\"", String(repeating: "x", count: 10_000),
        "action:*", "target:client", "after:2026-13-45", "before:yesterday", "q:(a|b)&!c", "\\", "'':*", "!!!", "<->",
        "changed:.", "category:DROP", "%00", "acme*:*",
    ])
    func hostileQuery(_ q: String) async throws {
        let encoded = q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await get(client, "/v1/events?q=\(encoded)", TestApp.token("org_a", .admin))
            #expect(response.status == .ok || response.status == .badRequest, "\(q)")
            if response.status == .badRequest { #expect(try ErrorBody(response.body).error.code == "invalid_query") }
            #expect(!String(buffer: response.body).contains("org_b"))
        }
        #expect(try await database.asAdmin { try $0.query("SELECT count(*) FROM audit.event WHERE tenant_id = 'org_b'").rows[0].decode(Int.self, at: 0) } == 30)
    }

    @Test("every support read is recorded in the tenant's own log")
    func supportReadsRecorded() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let r50516 = try await get(client, "/v1/events?category=billing", TestApp.token("org_a", .support, actor: "sup_9"))
            #expect(r50516.status == .ok)
            let r60266 = try await get(client, "/v1/events/e1", TestApp.token("org_a", .support, actor: "sup_9"))
            #expect(r60266.status == .ok)
            let r11872 = try await get(client, "/v1/events", TestApp.token("org_a", .admin))
            #expect(r11872.status == .ok)
        }
        let rows = try await database.asAdmin { connection in
            try connection.query("""
                SELECT tenant_id, category, actor_id, metadata::text FROM audit.event WHERE action = 'audit_log.viewed' ORDER BY received_at
                """).rows.map { "\(try $0.decode(String.self, at: 0)) \(try $0.decode(String.self, at: 1)) \(try $0.decode(String.self, at: 2)) \(try $0.decode(String.self, at: 3))" }
        }
        #expect(rows.count == 2)
        #expect(rows.allSatisfy { $0.hasPrefix("org_a audit sup_9") })
        #expect(rows.first?.contains(#""category": "billing""#) == true)
    }

    @Test("every route a support token reads records exactly one view per request: route, filters, cursor, and 404 probes")
    func oneRecordPerSupportRequest() async throws {
        func views() async throws -> [String] {
            try await database.asAdmin { connection in
                try connection.query("""
                    SELECT metadata::text FROM audit.event WHERE tenant_id = 'org_b' AND action = 'audit_log.viewed' AND actor_id = 'sup_views' ORDER BY received_at
                    """).rows.map { try $0.decode(String.self, at: 0) }
            }
        }
        let support = TestApp.token("org_b", .support, actor: "sup_views")
        let first = try await TestApp(conninfo: database.appConninfo).test { client in
            try await get(client, "/v1/events?limit=5", support)
        }
        let cursor = try #require(JSONValue.parse(Array(first.body.readableBytesView))?.objectValue?["next_cursor"])
        guard case .string(let next) = cursor else { Issue.record("no cursor"); return }
        let routes = [
            "/v1/events?q=payment&include=categories", "/v1/events?limit=5&cursor=\(next)", "/v1/events/e3", "/v1/events/nope",
            "/v1/events/%00", "/v1/categories?category=billing", "/v1/actors/u_1/events", "/v1/targets/client/c_1/events",
            "/v1/tenant/settings", "/v1/digests",
        ]
        for uri in routes {
            let before = try await views().count
            let response = try await TestApp(conninfo: database.appConninfo).test { client in try await get(client, uri, support) }
            #expect(response.status == .ok || response.status == .notFound, "\(uri)")
            let recorded = try await views()
            #expect(recorded.count == before + 1, "\(uri) recorded \(recorded.count - before) views")
            let last = try #require(recorded.last.flatMap { JSONValue.parse(Array($0.utf8))?.objectValue })
            #expect(last["path"].map { if case .string(let path) = $0 { uri.hasPrefix(path) } else { false } } == true, "\(uri): \(last)")
            if uri.contains("cursor=") { #expect(last["cursor"] == .string(next)) }
            if uri.contains("q=payment") {
                #expect(last["filters"]?.objectValue?["q"] == .string("payment"))
                #expect(String(buffer: response.body).contains(#""categories":[{"category":"#))
            }
            if uri.hasSuffix("/nope") { #expect(last["found"] == .bool(false)) }
        }
    }

    @Test("bad cursors, limits and unknown parameters are 400")
    func badParameters() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let overflowing = Crypto.base64URL(Array("9223372036854775807:e1".utf8))
            for uri in ["/v1/events?cursor=bogus", "/v1/events?cursor=\(overflowing)", "/v1/events?limit=0", "/v1/events?limit=201", "/v1/events?colour=red",
                        "/v1/events?from=2026-11-20&to=2026-11-01", "/v1/events?target_type=client"] {
                let response = try await get(client, uri, TestApp.token("org_a", .admin))
                #expect(response.status == .badRequest, "\(uri)")
            }
        }
    }

    @Test("settings are governed: holds by the publisher with a reason, shortening and lifting wait out the grace, readers see it pending, the publisher cancels")
    func settings() async throws {
        let pendingID = try await TestApp(conninfo: database.appConninfo).test { client -> String in
            let put = { (token: String, body: String) in
                try await client.execute(uri: "/v1/tenant/settings?tenant=org_a", method: .put,
                                         headers: [.authorization: "Bearer \(token)", .contentType: "application/json"], body: ByteBuffer(string: body))
            }
            let owner = TestApp.token("org_a", .owner)
            #expect(try await put(TestApp.token("org_a", .admin), #"{"retention_days": 30}"#).status == .forbidden)
            #expect(try await put(owner, #"{"retention_days": 9999}"#).status == .unprocessableContent)
            let ownerHold = try await put(owner, #"{"legal_hold": true, "reason": "mine"}"#)
            #expect(ownerHold.status == .forbidden)
            #expect(try ErrorBody(ownerHold.body).error.code == "publisher_only")
            let noReason = try await put(key, #"{"legal_hold": true}"#)
            #expect(try ErrorBody(noReason.body).error.details.first?.field == "reason")

            // Placing a hold: at once.
            let held = try await put(key, #"{"legal_hold": true, "reason": "litigation 42"}"#)
            #expect(held.status == .ok)
            #expect(String(buffer: held.body).contains(#""legal_hold":true,"pending":[]"#))
            // Shortening (owner) and lifting (publisher): pending for the grace, visible to every reader.
            let shorter = try await put(owner, #"{"retention_days": 30}"#)
            #expect(String(buffer: shorter.body).contains(#""retention_days":90"#))
            let lifted = try await put(key, #"{"legal_hold": false, "reason": "settled"}"#)
            #expect(String(buffer: lifted.body).contains(#""legal_hold":true"#))
            let read = try await get(client, "/v1/tenant/settings", TestApp.token("org_a", .support))
            let settings = try #require(JSONValue.parse(Array(read.body.readableBytesView))?.objectValue)
            guard case .array(let pending)? = settings["pending"] else { Issue.record("no pending: \(settings)"); return "" }
            #expect(pending.count == 2)
            let retention = try #require(pending.compactMap(\.objectValue).first { $0["setting"] == .string("retention_days") })
            #expect(retention["from"] == .number(90) && retention["to"] == .number(30))
            guard case .string(let effective)? = retention["effective_at"], let at = Timestamp.parse(effective) else { return "" }
            #expect(abs(at.timeIntervalSinceNow - 7 * 86_400) < 600, "a week of grace by default")
            guard case .string(let id)? = retention["change_id"] else { return "" }
            // Only the publisher cancels.
            let ownerCancel = try await client.execute(uri: "/v1/tenant/settings/pending/\(id)", method: .delete,
                                                       headers: [.authorization: "Bearer \(owner)"])
            #expect(ownerCancel.status == .forbidden)
            let cancelled = try await client.execute(uri: "/v1/tenant/settings/pending/\(id)?tenant=org_a", method: .delete,
                                                     headers: [.authorization: "Bearer \(key)"])
            #expect(cancelled.status == .ok)
            #expect(!String(buffer: cancelled.body).contains(#""setting":"retention_days""#))
            let again = try await client.execute(uri: "/v1/tenant/settings/pending/\(id)?tenant=org_a", method: .delete,
                                                 headers: [.authorization: "Bearer \(key)"])
            #expect(again.status == .notFound)
            return id
        }
        #expect(!pendingID.isEmpty)
        let recorded = try await database.asAdmin { connection in
            try connection.query("""
                SELECT action, count(*) FROM audit.event WHERE tenant_id = 'org_a' AND category = 'organization' GROUP BY 1 ORDER BY 1
                """).rows.map { "\(try $0.decode(String.self, at: 0)) \(try $0.decode(Int.self, at: 1))" }
        }
        #expect(recorded == ["organization.setting_change_cancelled 1", "organization.setting_change_requested 2", "organization.settings_updated 1"])
    }
}
