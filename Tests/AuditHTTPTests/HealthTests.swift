import AuditHTTP
import AuditStore
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

    func application(conninfo: String, expectedVersion: Int = 4) -> some ApplicationProtocol {
        let pool = ConnectionPool(configuration: .init(conninfo: conninfo, size: 2, acquireTimeout: .seconds(2)))
        return buildApplication(
            settings: HTTPSettings(host: "127.0.0.1", port: 0),
            database: AuditDatabase(pool: pool, expectedSchemaVersion: expectedVersion),
            logger: Logger(label: "test"))
    }

    struct ErrorBody: Decodable {
        struct Content: Decodable { var code: String; var message: String; var details: [AnyDetail] }
        struct AnyDetail: Decodable {}
        var error: Content
    }

    @Test("healthz and readyz answer 200 against a migrated database")
    func ready() async throws {
        try await application(conninfo: database.appConninfo).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ok"}"#)
            }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body) == #"{"status":"ready"}"#)
            }
        }
    }

    @Test("readyz is 503 with Retry-After when the database is unreachable; healthz stays 200")
    func unreachable() async throws {
        try await application(conninfo: "host=/nonexistent/auditlog port=5432 user=x dbname=x").test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "5")
                let body = try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body))
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
        try await application(conninfo: database.appConninfo, expectedVersion: 9999).test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body))
                #expect(body.error.code == "not_migrated")
            }
        }
    }

    @Test("an unknown route is a 404 in the error format")
    func notFound() async throws {
        try await application(conninfo: database.appConninfo).test(.router) { client in
            try await client.execute(uri: "/v1/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: response.body))
                #expect(body.error.code == "not_found")
            }
        }
    }
}
