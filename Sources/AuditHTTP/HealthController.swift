import AuditStore
import Hummingbird
import Prometheus

/// Liveness and readiness for load balancers and orchestrators.
struct HealthController<Context: RequestContext>: Sendable {
    let database: AuditDatabase
    let metrics: PrometheusCollectorRegistry

    struct Status: ResponseEncodable {
        var status: String
    }

    func addRoutes(to router: Router<Context>) {
        router.get("/healthz") { _, _ in Status(status: "ok") }
        router.get("/readyz") { _, _ in try await ready() }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
        }
    }

    /// 200 when the database answers and carries this binary's migrations, else 503.
    func ready() async throws -> Status {
        switch await database.readiness() {
        case .ready:
            return Status(status: "ready")
        case .unreachable:
            throw APIError.databaseUnavailable()
        case .notMigrated(let found, let expected):
            throw APIError(.serviceUnavailable, code: "not_migrated",
                           message: "The database schema is at version \(found); this server needs \(expected). Run auditlog migrate.",
                           headers: [.retryAfter: "5"])
        }
    }
}
