import AuditCore
import AuditStore
import Foundation
import Hummingbird
import ServiceLifecycle

/// `GET /v1/events/live`: Server-Sent Events of the tenant's events as they commit, with the
/// list's filters (`late` aside). It follows the feed from the moment it opens (or from the
/// `Last-Event-ID` a reconnecting client sends, so nothing committed in between is lost):
/// each event is `event: event` with the event's JSON as `data`, and after each step an `id:`
/// line holds the feed token to resume from. A comment every 15 s keeps proxies from closing an
/// idle stream. A connection lasts at most `AUDITLOG_LIVE_MAX_DURATION` (five minutes; the
/// client reconnects with its last id) and ends at once on graceful shutdown, so a deploy never waits for open viewers.
struct LiveController: Sendable {
    let services: AppServices

    static let heartbeat: Duration = .seconds(15)

    func addRoutes(to group: RouterGroup<AuditRequestContext>) {
        group.get("/events/live") { request, context in try await live(request, context) }
    }

    func live(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: ReadController.readers)
        let database = services.database
        let read = try ReadRequest(request)
        for name in ["late", "cursor", "limit", "include"] where read.echo[name] != nil || (name == "cursor" && read.cursor != nil) {
            throw ReadRequest.bad(name, "is not a parameter of the live view")
        }
        let filter = read.filter
        var start: FeedToken
        if let resume = request.headers[HTTPFields.Element.Name("Last-Event-ID")!] {
            guard let token = FeedToken(encoded: resume), database.isFeedPosition(token) else { throw ReadRequest.bad("Last-Event-ID", "is not an id this service gave out") }
            start = token
        } else {
            start = try await database.feedTokenNow(tenant: scope.tenant, role: scope.role)
        }
        try await ReadController(services: services).recordSupportRead(scope, view: "live", request: read, path: request.uri.path)

        let maxDuration = Duration.seconds(services.liveMaxDuration)
        let body = ResponseBody { [start] writer in
            var token = start
            let opened = ContinuousClock.now
            var lastWrite = ContinuousClock.now
            try await writer.write(ByteBuffer(string: ": auditlog live view\nretry: 2000\nid: \(token.encoded)\n\n"))
            while opened.duration(to: .now) < maxDuration, !Task.isCancelled, !Task.isShuttingDownGracefully {
                let generation = database.commits.generation
                let page = try await database.feedPage(after: token, limit: 200, tenant: scope.tenant, role: scope.role, filter: filter)
                var text = ""
                for event in page.events() {
                    text += "event: event\ndata: \(event.canonicalText)\n\n"
                }
                let moved = page.next != token
                token = page.next
                if !text.isEmpty || (moved && lastWrite.duration(to: .now) >= Self.heartbeat) {
                    try await writer.write(ByteBuffer(string: text + "id: \(token.encoded)\n\n"))
                    lastWrite = .now
                } else if lastWrite.duration(to: .now) >= Self.heartbeat {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    lastWrite = .now
                }
                if page.count == 0 {
                    await database.commits.wait(after: generation, timeout: .seconds(1))
                }
            }
            try await writer.finish(nil)
        }
        var headers: HTTPFields = [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-store"]
        headers[HTTPFields.Element.Name("X-Accel-Buffering")!] = "no"
        return Response(status: .ok, headers: headers, body: body)
    }
}
