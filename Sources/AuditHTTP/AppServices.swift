import AuditCore
import AuditStore
import Prometheus

/// What the routes need from the service layer, built once by `serve` (or a test).
public struct AppServices: Sendable {
    public var database: AuditDatabase
    public var keys: PublisherKeyAuthenticator
    public var ingestor: EventIngestor
    public var messages: MessageRenderer
    /// `AUDITLOG_RETENTION_DAYS`: no event older than this is accepted.
    public var retentionDays: Int
    public var redactor: Redactor
    public var tokens: ViewerTokenCodec
    /// What `GET /metrics` prints (the registry behind swift-metrics, bootstrapped by serve).
    public var metrics: PrometheusCollectorRegistry
    /// The viewer page's CSP `frame-ancestors` (`AUDITLOG_FRAME_ANCESTORS`).
    public var viewerFrameAncestors: String

    public init(database: AuditDatabase, keys: PublisherKeyAuthenticator, ingestor: EventIngestor,
                messages: MessageRenderer, retentionDays: Int, redactor: Redactor, tokens: ViewerTokenCodec,
                metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), viewerFrameAncestors: String = "'none'") {
        self.database = database
        self.keys = keys
        self.ingestor = ingestor
        self.messages = messages
        self.retentionDays = retentionDays
        self.redactor = redactor
        self.tokens = tokens
        self.metrics = metrics
        self.viewerFrameAncestors = viewerFrameAncestors
    }
}
