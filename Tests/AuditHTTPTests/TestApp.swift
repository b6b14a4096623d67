import AuditCore
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import Prometheus
import PostgresLibPQ
import TestSupport

/// The real application over a suite's own database, as `serve` builds it.
struct TestApp {
    var services: AppServices
    var database: AuditDatabase { services.database }

    /// The migration version of this checkout's `sql/` (what `serve` expects).
    static let latestVersion: Int = (try? Migration.load(from: Migration.defaultDirectory()).last?.version) ?? 0

    /// `offline`: the database is not expected to answer (the store then assumes 90 days).
    init(conninfo: String, expectedVersion: Int = TestApp.latestVersion, poolSize: Int = 4, offline: Bool = false,
         configure: (inout StoreConfiguration) -> Void = { _ in }) async throws {
        var configuration = StoreConfiguration.forTests(poolSize: poolSize)
        configure(&configuration)
        let database = offline
            ? AuditDatabase(primary: conninfo, configuration: configuration, expectedSchemaVersion: expectedVersion,
                            globalRetentionDays: 90, logger: Logger(label: "test"))
            : try await AuditDatabase.open(conninfo: conninfo, configuration: configuration, expectedSchemaVersion: expectedVersion)
        services = AppServices(
            database: database,
            messages: try await MessageRenderer.bundled(),
            redactor: Redactor(),
            tokens: ViewerTokenCodec(key: Self.signingKey),
            metrics: Self.metrics)
    }

    /// swift-metrics is bootstrapped once per process; every test app prints this registry.
    static let metrics: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()

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

    /// Runs `body` against a real server on a loopback port (for raw sockets and disconnects).
    func live<Value>(_ body: @Sendable (Int) async throws -> Value) async throws -> Value {
        try await closingAfter {
            try await application.test(.live) { client in
                guard let port = client.port else { throw ObservationError(message: "the live server has no port") }
                return try await body(port)
            }
        }
    }

    /// Runs `body`, then closes the store's connections (suites run in parallel on one server).
    private func closingAfter<Value>(_ body: () async throws -> Value) async throws -> Value {
        do {
            let value = try await body()
            await database.close()
            return value
        } catch {
            await database.close()
            throw error
        }
    }

    func test<Value>(_ body: @Sendable (any TestClientProtocol) async throws -> Value) async throws -> Value {
        try await closingAfter { try await application.test(.router, body) }
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
