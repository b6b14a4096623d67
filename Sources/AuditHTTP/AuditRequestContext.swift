import AuditStore
import Hummingbird

/// Per-request state: who is calling, once the auth middleware has said so.
public struct AuditRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by the auth middleware for every `/v1` request.
    public var caller: Caller?

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// Batches may be 4 MiB; bodies are never read past this.
    public var maxUploadSize: Int { EventsController.maxBodyBytes }
}
