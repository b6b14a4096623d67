import AuditCore
import AuditStore
import Prometheus

/// What the routes need from the service layer, built once by `serve` (or a test).
public struct AppServices: Sendable {
    /// The store: every database operation goes through it.
    public var database: AuditDatabase
    public var messages: MessageRenderer
    public var redactor: Redactor
    public var tokens: ViewerTokenCodec
    /// What `GET /metrics` prints (the registry behind swift-metrics, bootstrapped by serve).
    public var metrics: PrometheusCollectorRegistry
    /// The viewer page's CSP `frame-ancestors` (`AUDITLOG_FRAME_ANCESTORS`).
    public var viewerFrameAncestors: String
    /// The longest a feed long poll is held, in seconds (`AUDITLOG_FEED_MAX_WAIT`); also the
    /// largest `wait` a request may name.
    public var feedMaxWait = AppServices.defaultFeedMaxWait
    public static let defaultFeedMaxWait = 60
    /// How long one live-view connection lasts, in seconds (`AUDITLOG_LIVE_MAX_DURATION`).
    public var liveMaxDuration = AppServices.defaultLiveMaxDuration
    public static let defaultLiveMaxDuration = 300
    /// Destinations streams may reach despite the private-address rules, over plain http too
    /// (`AUDITLOG_STREAM_ALLOW_HOSTS`; tests, and destinations inside your own network).
    public var streamAllowHosts = DestinationAllowList()
    /// Seals a checkpoint before a bundle export (nil: bundles hold closed, sealed hours only).
    public var digestWriter: DigestWriter?
    /// Each tenant's redactor (its own keys added to `redactor`).
    let tenantRedaction: TenantRedaction

    public init(database: AuditDatabase, messages: MessageRenderer, redactor: Redactor, tokens: ViewerTokenCodec,
                metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), viewerFrameAncestors: String = "'none'") {
        self.database = database
        self.messages = messages
        self.redactor = redactor
        self.tokens = tokens
        self.metrics = metrics
        self.viewerFrameAncestors = viewerFrameAncestors
        tenantRedaction = TenantRedaction(base: redactor, database: database)
    }

    var keys: PublisherKeyAuthenticator { database.keys }
    var ingestor: EventIngestor { database.ingestor }
    /// The global retention, as the database holds it: no event older than this is accepted.
    var retentionDays: Int { database.globalRetentionDays }
}
