import AuditStore
import Hummingbird
import Logging
import NIOCore

/// Where the HTTP server listens.
public struct HTTPSettings: Sendable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// Builds the HTTP application over the service layer; `serve` runs it and tests drive it
/// with HummingbirdTesting.
public func buildApplication(
    settings: HTTPSettings,
    services: AppServices,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) -> some ApplicationProtocol {
    let router = buildRouter(services: services)
    return Application(
        router: router,
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "auditlog"),
        onServerRunning: onServerRunning,
        logger: logger
    )
}

func buildRouter(services: AppServices) -> Router<AuditRequestContext> {
    let router = Router(context: AuditRequestContext.self)
    router.add(middleware: SecurityHeadersMiddleware())
    router.add(middleware: MetricsMiddleware())
    router.add(middleware: CloseAfterResponseMiddleware())
    router.add(middleware: ErrorMiddleware())
    HealthController(database: services.database, metrics: services.metrics).addRoutes(to: router)
    ViewerController(frameAncestors: services.viewerFrameAncestors).addRoutes(to: router)
    OpenAPIController().addRoutes(to: router)
    DigestController(services: services).addPublicRoutes(to: router)
    let v1 = router.group("/v1").add(middleware: AuthMiddleware(keys: services.keys, tokens: services.tokens))
    EventsController(services: services).addRoutes(to: v1)
    ExportController(services: services).addRoutes(to: v1)
    FeedController(services: services).addRoutes(to: v1)
    LiveController(services: services).addRoutes(to: v1)
    StreamsController(services: services).addRoutes(to: v1)
    ReadController(services: services).addRoutes(to: v1)
    TenantController(services: services).addRoutes(to: v1)
    DigestController(services: services).addRoutes(to: v1)
    // Last: it wraps only the not-found answer, to tell a wrong method from a wrong address.
    router.add(middleware: MethodNotAllowedMiddleware(routes: router.routes))
    return router
}
