@testable import AuditHTTP
@testable import AuditStore
import AuditCore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresLibPQ
import Testing
import TestSupport

@Suite("health and readiness over HTTP")
struct HealthTests {
    let database: TestDatabase

    init() async throws {
        database = try await TestCluster.shared.database("health")
    }

    func app(conninfo: String, expectedVersion: Int = TestApp.latestVersion, offline: Bool = false) async throws -> TestApp {
        try await TestApp(conninfo: conninfo, expectedVersion: expectedVersion, offline: offline)
    }

    @Test("healthz and readyz answer 200 against a migrated database")
    func ready() async throws {
        try await app(conninfo: database.appConninfo).test { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                struct Ready: Decodable, Equatable { var status: String; var databases: [String: String] }
                let ready = try JSONDecoder().decode(Ready.self, from: Data(buffer: response.body))
                #expect(ready == Ready(status: "ready", databases: ["primary": "ready"]))
            }
        }
    }

    @Test("every answer says nosniff; API answers and errors are no-store and load nothing; the viewer keeps its own policy")
    func securityHeaders() async throws {
        let nosniff = HTTPFields.Element.Name("X-Content-Type-Options")!
        try await app(conninfo: database.appConninfo).test { client in
            for (uri, token) in [("/healthz", nil), ("/v1/events", nil), ("/v1/events", TestApp.token("org_h", .admin)),
                                 ("/v1/events?colour=red", TestApp.token("org_h", .admin)), ("/no/such/route", nil),
                                 ("/v1/digests/keys", nil)] as [(String, String?)] {
                var headers: HTTPFields = [:]
                if let token { headers[.authorization] = "Bearer \(token)" }
                let response = try await client.execute(uri: uri, method: .get, headers: headers)
                #expect(response.headers[nosniff] == "nosniff", "\(uri) \(response.status)")
                #expect(response.headers[.cacheControl] == "no-store", "\(uri) \(response.status)")
                #expect(response.headers[.contentSecurityPolicy] == "default-src 'none'; frame-ancestors 'none'", "\(uri)")
            }
            let viewer = try await client.execute(uri: "/", method: .get)
            #expect(viewer.headers[nosniff] == "nosniff")
            #expect(viewer.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
        }
    }

    @Test("readyz is 503 with Retry-After when the database is unreachable; healthz stays 200")
    func unreachable() async throws {
        try await app(conninfo: "host=/nonexistent/auditlog port=5432 user=x dbname=x", offline: true).test { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "5")
                let body = try ErrorBody(response.body)
                #expect(body.error.code == "database_unavailable")
                #expect(!String(buffer: response.body).contains("nonexistent"))
            }
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test("readyz is 503 not_migrated when the schema is behind the binary")
    func notMigrated() async throws {
        try await app(conninfo: database.appConninfo, expectedVersion: 9999).test { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = try ErrorBody(response.body)
                #expect(body.error.code == "not_migrated")
            }
        }
    }

    @Test("metrics are served in Prometheus text format without credentials, with the reads each database served")
    func metrics() async throws {
        let app = try await app(conninfo: database.appConninfo)
        _ = try await app.database.page(EventFilter(), after: nil, limit: 1, tenant: TenantID("org_metrics")!, role: .admin)
        try await app.test { client in
            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
            let text = String(buffer: response.body)
            #expect(text.contains("# TYPE auditlog_reads_total counter"))
            #expect(text.contains(#"auditlog_reads_total{database="primary"}"#))
        }
    }

    @Test("the digest public keys are served without credentials")
    func digestKeys() async throws {
        let key = DigestSigningKey.generate()
        try await database.asAdmin { connection in
            try connection.query("INSERT INTO audit.digest_key (key_id, public_key) VALUES (\(key.keyID), \(Crypto.hex(key.publicKey)))")
        }
        try await app(conninfo: database.appConninfo).test { client in
            let response = try await client.execute(uri: "/v1/digests/keys", method: .get)
            #expect(response.status == .ok)
            struct Keys: Decodable { struct Key: Decodable { var key_id: String; var algorithm: String; var public_key: String }; var keys: [Key] }
            let keys = try JSONDecoder().decode(Keys.self, from: Data(buffer: response.body)).keys
            #expect(keys.map(\.key_id) == [key.keyID])
            #expect(keys.first?.algorithm == "ed25519")
            #expect(keys.first?.public_key == Crypto.hex(key.publicKey))
        }
    }

    @Test("an unknown route is a 404 in the error format")
    func notFound() async throws {
        try await app(conninfo: database.appConninfo).test { client in
            try await client.execute(uri: "/v1/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try ErrorBody(response.body)
                #expect(body.error.code == "not_found")
            }
        }
    }
}
