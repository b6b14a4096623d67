import ArgumentParser
import AuditCore
import AuditDemo
import AuditHTTP
import AuditStore
import AuditStreams
import CMalloc
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the HTTP API (and the embedded database when DATABASE_URL is unset).",
        discussion: "Stops cleanly on SIGINT or SIGTERM: requests in flight finish, then the database stops."
    )

    @Option(help: "Listen address (AUDITLOG_HOST, default 127.0.0.1).")
    var host: String?

    @Option(help: "Listen port (AUDITLOG_PORT, default 8080).")
    var port: Int?

    @Flag(help: "Add two demo organisations with a month of activity (once), and print viewer links for each role.")
    var demo = false

    func run() async throws {
        // Blocks of 1 MiB and more (an export page's encoded text and its copy for NIO, about
        // 4 MB each) are mapped and unmapped on their own. glibc would otherwise raise this
        // threshold once the first such block is freed and serve the next ones from its
        // per-thread arenas, which keep that memory: an export of a million events grew the server
        // by 35–36 MB and kept it; with the threshold by 22–24 MB, and most of it went back.
        // A batch's body (under 1 MiB for 500 events) stays in the arenas, as before.
        _ = mallopt(M_MMAP_THRESHOLD, 1 << 20)
        let logger = CommandLogging.bootstrap()
        var configuration = try ServiceConfiguration()
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        if let problem = ListenAddress.problem(host: configuration.host, port: configuration.port) {
            throw CommandFailure(description: "cannot listen on \(configuration.host):\(configuration.port): \(problem)")
        }

        let endpoint = try await configuration.openEndpoint(for: .serve, logger: logger)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var services: AppServices
        let digestKey: DigestSigningKey
        do {
            digestKey = try configuration.digestKey(embeddedDataDirectory: endpoint.dataDirectory)
            var runner = try Migrations.runner(configuration: configuration, logger: logger)
            runner.digestKey = digestKey
            try await Migrations.apply(runner, endpoint: endpoint)
            let database = try await AuditDatabase.open(
                conninfo: endpoint.appConninfo, configuration: configuration.store,
                expectedSchemaVersion: runner.latestVersion, logger: Logger(label: "auditlog.store"))
            if let asked = configuration.retentionDays, asked != database.globalRetentionDays {
                logger.warning("AUDITLOG_RETENTION_DAYS is \(asked) but \(database.globalRetentionDays) days are in force: a shorter value waits out AUDITLOG_RETENTION_GRACE, and a change needs `auditlog migrate` with DATABASE_ADMIN_URL.")
            }
            services = AppServices(
                database: database,
                messages: try await MessageRenderer.bundled(),
                redactor: Redactor(extraKeys: configuration.redactKeys),
                tokens: ViewerTokenCodec(key: try configuration.signingKey(embeddedDataDirectory: endpoint.dataDirectory)),
                metrics: registry,
                viewerFrameAncestors: configuration.frameAncestors)
            services.feedMaxWait = configuration.feedMaxWait
            services.liveMaxDuration = configuration.liveMaxDuration
            services.streamAllowHosts = configuration.streamAllowHosts
            services.digestWriter = DigestWriter(key: digestKey, sealDelay: configuration.sealDelay)
            let store = configuration.store
            logger.info("database bulkheads", metadata: [
                "ingest": "\(store.ingestConnections)", "read": "\(store.readConnections)", "auth": "\(store.authConnections)",
                "maintenance": "\(store.maintenanceConnections)", "replica": "\(store.replicaConninfo == nil ? "none" : "\(store.readConnections)")",
            ])
            if let shortfall = try await services.database.lockCapacityShortfall() {
                logger.warning("\(shortfall)")
            }
            if demo { try await Self.seedDemo(services, configuration: configuration) }
        } catch {
            await endpoint.close()
            throw CommandFailure(error)
        }

        let app = buildApplication(
            settings: HTTPSettings(host: configuration.host, port: configuration.port),
            services: services,
            logger: logger)
        let maintenance = MaintenanceService(
            database: services.database, digests: services.digestWriter!, interval: .seconds(3600), logger: logger)
        let streams = StreamDelivery(database: services.database, allowHosts: services.streamAllowHosts, configuration: configuration.delivery,
                                     logger: logger)
        let captures = CaptureDrain(services: services, logger: logger)
        let group = ServiceGroup(configuration: .init(
            // Stopped in reverse: stream delivery, the capture drain, maintenance, then HTTP
            // (in-flight requests finish), then the store (acknowledged writes commit, pools
            // close), then the embedded database.
            services: [services.database, app] + (configuration.maintenance ? [maintenance] : [])
                + (configuration.captureDrain ? [captures] : []) + [streams],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        if demo { Self.printDemoLinks(services, configuration: configuration) }
        logger.info("auditlog listening", metadata: [
            "address": "http://\(configuration.host):\(configuration.port)",
            "database": "\(endpoint.isEmbedded ? "embedded (\(endpoint.dataDirectory?.path ?? ""))" : "DATABASE_URL")",
        ])
        if !configuration.maintenance {
            logger.notice("AUDITLOG_MAINTENANCE=false: no retention pass or digest sealing here; run `auditlog retention run` on a schedule")
        }
        var failure: (any Error)?
        do {
            try await group.run()
        } catch {
            failure = error
            logger.error("server stopped with an error", metadata: ["error": "\(error)"])
        }
        // The store has drained ingest and closed its pools (again here when the group failed).
        await services.database.ingestor.drain()
        await services.database.close()
        await endpoint.close()
        if let failure {
            throw CommandFailure(description: "auditlog serve on \(configuration.host):\(configuration.port) stopped: \(failure)")
        }
        logger.info("auditlog stopped")
    }

    static func seedDemo(_ services: AppServices, configuration: ServiceConfiguration) async throws {
        let written = try await DemoData.seed(services.database, messages: services.messages, redactor: services.redactor)
        print(written > 0 ? "Demo: wrote \(written) events for \(DemoData.tenants.map(\.rawValue).joined(separator: " and "))."
                          : "Demo: the demo organisations already have their events.")
        fflush(nil)
    }

    static func printDemoLinks(_ services: AppServices, configuration: ServiceConfiguration) {
        let host = configuration.host == "0.0.0.0" || configuration.host == "::" ? "127.0.0.1" : configuration.host
        let base = "http://\(host.contains(":") ? "[\(host)]" : host):\(configuration.port)/"
        let now = Date()
        let people: [(AccessRole, String, String)] = [
            (.owner, "u_owner", "Olivia Owner"), (.admin, "u_1", "Alice Moreau"),
            (.support, "support_1", "Sam from Support"), (.member, "u_member", "Max Member"),
        ]
        var lines = ["", "Viewer links (valid 24 hours; the token stays in the # part of the link):"]
        for tenant in DemoData.tenants {
            lines.append("  \(tenant.rawValue)")
            for (role, actor, name) in people {
                let token = services.tokens.mint(ViewerClaims(tenant: tenant, role: role, actorID: actor, actorName: name,
                                                              issuedAt: now, expiresAt: now.addingTimeInterval(86_400)))
                lines.append("    \(role.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)) \(base)#token=\(token)")
            }
        }
        print(lines.joined(separator: "\n") + "\n")
        fflush(nil)
    }
}
