import AuditStore
import Hummingbird
import Prometheus

/// Liveness and readiness for load balancers and orchestrators.
struct HealthController<Context: RequestContext>: Sendable {
    let database: AuditDatabase
    let metrics: PrometheusCollectorRegistry

    struct Status: ResponseEncodable {
        var status: String
        /// Each database: `primary` (`ready`), and `replica` when one is configured.
        var databases: [String: String]?
    }

    func addRoutes(to router: Router<Context>) {
        router.get("/healthz") { request, _ in
            try ReadRequest.refuseUnknown(request)
            return Status(status: "ok")
        }
        router.get("/readyz") { request, _ in
            try ReadRequest.refuseUnknown(request)
            return try await ready()
        }
        router.get("/metrics") { request, _ in
            try ReadRequest.refuseUnknown(request)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: metrics.emitToBuffer())))
        }
    }

    /// 200 when the database answers and carries this binary's migrations, else 503.
    /// A replica that is down or behind does not make the service unready: reads fall back.
    func ready() async throws -> Status {
        let report = await database.readiness()
        switch report.primary {
        case .ready:
            var databases = ["primary": "ready"]
            if let replica = report.replica { databases["replica"] = "\(replica)" }
            return Status(status: "ready", databases: databases)
        case .unreachable:
            throw APIError.databaseUnavailable()
        case .notMigrated(let found, let expected):
            throw APIError(.serviceUnavailable, code: "not_migrated",
                           message: "The database schema is at version \(found); this server needs \(expected). Run auditlog migrate.",
                           headers: [.retryAfter: "5"])
        }
    }
}
