import NIOConcurrencyHelpers
import NIOCore

/// Tells waiting requests that their client closed the connection.
///
/// Put first in a connection's pipeline (on the first read that asks for it), it sees the
/// client's FIN (`inputClosed`, since the server allows half-closure) or the connection's end
/// before the HTTP handlers, which hold a half-close back until the response is written.
///
/// Installing it takes a hop to the connection's event loop and back; the connection's later
/// requests find it in `installed` instead, which holds it until the connection ends.
final class ClientDisconnectHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = ByteBuffer

    private let state = NIOLockedValueBox(State())
    /// The channel this handler watches, as its key in `installed`.
    private let channelKey: ObjectIdentifier
    /// The handler of each open connection that has one.
    private static let installed = NIOLockedValueBox([ObjectIdentifier: ClientDisconnectHandler]())

    private init(channel: any Channel) {
        channelKey = ObjectIdentifier(channel)
    }

    private struct State {
        var callbacks: [Int: @Sendable () -> Void] = [:]
        var nextID = 0
        var gone = false
    }

    /// A registered callback; `remove()` it once the work is done.
    struct Watch: Sendable {
        let handler: ClientDisconnectHandler
        let id: Int
        func remove() { handler.state.withLockedValue { _ = $0.callbacks.removeValue(forKey: id) } }
    }

    /// Calls `callback` (once) when `channel`'s client goes away; at once when it already has.
    static func watch(_ channel: any Channel, _ callback: @escaping @Sendable () -> Void) async -> Watch? {
        let known = installed.withLockedValue { $0[ObjectIdentifier(channel)] }
        let handler = if let known { known } else {
            try? await channel.eventLoop.submit { () throws -> ClientDisconnectHandler in
                if let existing = try? channel.pipeline.syncOperations.handler(type: ClientDisconnectHandler.self) { return existing }
                let handler = ClientDisconnectHandler(channel: channel)
                try channel.pipeline.syncOperations.addHandler(handler, position: .first)
                return handler
            }.get()
        }
        guard let handler else { return nil }
        let (id, gone) = handler.state.withLockedValue { state -> (Int, Bool) in
            state.nextID += 1
            if !state.gone { state.callbacks[state.nextID] = callback }
            return (state.nextID, state.gone)
        }
        if gone { callback() }
        return Watch(handler: handler, id: id)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .inputClosed? = event as? ChannelEvent { fire() }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        Self.installed.withLockedValue { $0[channelKey] = self }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        Self.installed.withLockedValue { _ = $0.removeValue(forKey: channelKey) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fire()
        context.fireChannelInactive()
    }

    private func fire() {
        let callbacks = state.withLockedValue { state -> [@Sendable () -> Void] in
            state.gone = true
            defer { state.callbacks.removeAll() }
            return Array(state.callbacks.values)
        }
        callbacks.forEach { $0() }
    }
}
