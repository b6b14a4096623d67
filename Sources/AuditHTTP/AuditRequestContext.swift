import AuditStore
import Hummingbird
import NIOCore

/// Per-request state: who is calling, once the auth middleware has said so, and the
/// connection the request came on (to stop database work when its client goes away).
public struct AuditRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by the auth middleware for every `/v1` request.
    public var caller: Caller?
    /// The client's connection (nil in router tests, which have none).
    let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// Batches may be 4 MiB; bodies are never read past this.
    public var maxUploadSize: Int { EventsController.maxBodyBytes }

    /// Runs `body` (database work) and cancels it when the client closes its connection first:
    /// the statement is then cancelled on the server and its connection goes back to the pool.
    func whileClientConnected<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        // Router tests run on a channel with no socket (and an event loop that runs only when told).
        guard let channel, channel.localAddress != nil else { return try await body() }
        let task = Task { try await body() }
        let watch = await ClientDisconnectHandler.watch(channel) { task.cancel() }
        defer { watch?.remove() }
        return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }
}
