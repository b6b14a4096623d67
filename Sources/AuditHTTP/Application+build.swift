import AuditStore
import Hummingbird
import Logging

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
    database: AuditDatabase,
    logger: Logger
) -> some ApplicationProtocol {
    let router = buildRouter(database: database)
    return Application(
        router: router,
        configuration: .init(address: .hostname(settings.host, port: settings.port), serverName: "auditlog"),
        logger: logger
    )
}

func buildRouter(database: AuditDatabase) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    HealthController(database: database).addRoutes(to: router)
    return router
}
