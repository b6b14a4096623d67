import AuditCore
import AuditHTTP
import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresLibPQ
import TestSupport

/// The real application over a suite's own database, as `serve` builds it.
struct TestApp {
    let services: AppServices
    let pool: ConnectionPool

    init(conninfo: String, expectedVersion: Int = 4, poolSize: Int = 4, retentionDays: Int = 90) async throws {
        pool = ConnectionPool(configuration: .init(conninfo: conninfo, size: poolSize))
        services = AppServices(
            database: AuditDatabase(pool: pool, expectedSchemaVersion: expectedVersion),
            keys: PublisherKeyAuthenticator(pool: pool),
            ingestor: EventIngestor(pool: pool, writers: max(1, poolSize - 1)),
            messages: try await MessageRenderer.bundled(),
            retentionDays: retentionDays,
            redactor: Redactor(),
            tokens: ViewerTokenCodec(key: Self.signingKey))
    }

    static let signingKey = Array(repeating: UInt8(7), count: 32)

    /// A viewer token as the SaaS backend would mint it.
    static func token(_ tenant: String, _ role: AccessRole, actor: String = "u_reader", ttl: TimeInterval = 600) -> String {
        let now = Date()
        return ViewerTokenCodec(key: signingKey).mint(ViewerClaims(
            tenant: TenantID(tenant)!, role: role, actorID: actor, actorName: "Reader \(actor)", issuedAt: now, expiresAt: now.addingTimeInterval(ttl)))
    }

    var application: some ApplicationProtocol {
        buildApplication(settings: HTTPSettings(host: "127.0.0.1", port: 0), services: services, logger: Logger(label: "test"))
    }

    func test<Value>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        defer { Task { [pool] in await pool.close() } }
        return try await application.test(.router, body)
    }
}

/// The SPEC's error body.
struct ErrorBody: Decodable {
    struct Detail: Decodable, Equatable {
        var index: Int?
        var field: String?
        var message: String
    }
    struct Content: Decodable {
        var code: String
        var message: String
        var details: [Detail]
    }
    var error: Content

    init(_ buffer: ByteBuffer) throws {
        self = try JSONDecoder().decode(ErrorBody.self, from: Data(buffer: buffer))
    }
}
