import AuditCore
import AuditStore
import Foundation
import Hummingbird
import ServiceLifecycle

/// `GET /v1/events/feed?after=TOKEN&limit=N&wait=S`: every committed event of the tenant once,
/// in the order the transactions that wrote them became visible, with a token to resume from
/// (see `FeedToken`). With `wait`, an empty answer is held until something commits or `wait`
/// seconds pass; the wait holds no database connection (it is woken by this process's commits
/// and looks again every second for other replicas').
///
/// Publisher, owner and admin. A support reader is refused: each of its reads is recorded as
/// an event, which its next poll would then read, and so on for ever.
struct FeedController: Sendable {
    let services: AppServices

    static let roles: Set<AccessRole> = [.publisher, .owner, .admin]
    static let maxWait = AppServices.defaultFeedMaxWait
    static let recheck: Duration = .seconds(1)

    func addRoutes(to group: RouterGroup<AuditRequestContext>) {
        group.get("/events/feed") { request, context in try await feed(request, context) }
    }

    struct Parameters {
        var after = FeedToken.start
        var limit = 100
        var wait = 0
    }

    static func parameters(_ request: Request) throws -> Parameters {
        var parameters = Parameters()
        for (name, value) in try ReadRequest.parameters(request.uri.query ?? "") {
            switch name {
            case "after":
                guard let token = FeedToken(encoded: value) else { throw ReadRequest.bad("after", "is not a feed token this service gave out") }
                parameters.after = token
            case "limit":
                guard let limit = Int(value), (1...1000).contains(limit) else { throw ReadRequest.bad("limit", "must be a whole number from 1 to 1000") }
                parameters.limit = limit
            case "wait":
                guard let wait = Int(value), (0...maxWait).contains(wait) else { throw ReadRequest.bad("wait", "must be a whole number of seconds from 0 to \(maxWait)") }
                parameters.wait = wait
            case "tenant":
                break
            default:
                throw ReadRequest.unknown(name)
            }
        }
        return parameters
    }

    func feed(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: { Self.roles.contains($0) })
        let parameters = try Self.parameters(request)
        let database = services.database
        guard database.isFeedPosition(parameters.after) else { throw ReadRequest.bad("after", "is not a feed token this service gave out") }
        let deadline = ContinuousClock.now + .seconds(min(parameters.wait, services.feedMaxWait))
        var token = parameters.after
        while true {
            let generation = database.commits.generation
            let page = try await context.whileClientConnected { [token] in
                try await database.feedPage(after: token, limit: parameters.limit, tenant: scope.tenant, role: scope.role)
            }
            token = page.next
            let remaining = ContinuousClock.now.duration(to: deadline)
            // A deploy does not wait out a long poll: on graceful shutdown the page goes back as it is.
            if page.count > 0 || remaining <= .zero || Task.isCancelled || Task.isShuttingDownGracefully {
                return Self.response(page)
            }
            await database.commits.wait(after: generation, timeout: min(Self.recheck, remaining))
        }
    }

    static func response(_ page: FeedPage) -> Response {
        var body = [UInt8]()
        body.reserveCapacity(page.count * 1024 + 256)
        body += Array("{\"after\":".utf8)
        body += Array(JSONValue.string(page.next.encoded).canonicalText.utf8)
        body += Array(",\"events\":[".utf8)
        page.writeJSONEvents(to: &body)
        body += Array("]}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
