import AuditCore
import AuditStore
import Foundation
import Hummingbird

/// The dashboard's reads (SPEC §6.2): the log, one entry, the per-actor and per-target
/// views, and the category counts. Each runs in a transaction scoped to the caller's
/// tenant and role; a `support` reader's every read is itself recorded.
struct ReadController: Sendable {
    let services: AppServices

    func addRoutes(to group: RouterGroup<AuditRequestContext>) {
        group.get("/events") { request, context in
            try await list(request, context, view: "events") { _ in }
        }
        group.get("/events/:id") { request, context in
            try await single(request, context)
        }
        group.get("/actors/:actor_id/events") { request, context in
            let actor = try Self.pathParameter("actor_id", context)
            return try await list(request, context, view: "actor") { filter in
                try ReadRequest.convert { () throws(QueryError) in filter.clauses.append(try SearchQuery.clause("actor", actor, parameter: "actor_id")) }
            }
        }
        group.get("/targets/:type/:id/events") { request, context in
            let type = try Self.pathParameter("type", context), id = try Self.pathParameter("id", context)
            return try await list(request, context, view: "target") { filter in
                try ReadRequest.convert { () throws(QueryError) in
                    filter.clauses.append(try SearchQuery.clause("target", "\(type)/\(id)", parameter: "target"))
                }
            }
        }
        group.get("/categories") { request, context in
            try await categories(request, context)
        }
    }

    static func readers(_ role: AccessRole) -> Bool { role.canRead }

    /// The most a list counts (`include=count`): beyond it the answer is "10,000+".
    static let countCap = 10_000

    func list(_ request: Request, _ context: AuditRequestContext, view: String,
              narrow: (inout EventFilter) throws -> Void) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: Self.readers)
        var read = try ReadRequest(request)
        try narrow(&read.filter)
        let (filter, cursor, limit, database) = (read.filter, read.cursor, read.limit, services.database)
        let page = try await context.whileClientConnected {
            try await database.page(filter, after: cursor, limit: limit, tenant: scope.tenant, role: scope.role)
        }
        let categories = read.includeCategories ? try await context.whileClientConnected {
            try await database.categories(filter, tenant: scope.tenant, role: scope.role)
        } : nil
        let pending = read.includePending
            ? try await database.settings(tenant: scope.tenant, role: scope.role).pending.map(TenantController.json) : nil
        let late = read.includeLate ? try await context.whileClientConnected {
            try await database.lateEvents(in: page, tenant: scope.tenant, role: scope.role)
        } : nil
        // A count only where the database gives it within the page budget; capped beyond.
        let count = read.includeCount ? try await context.whileClientConnected {
            try await database.count(filter, tenant: scope.tenant, role: scope.role, cap: Self.countCap)
        } : nil
        try await recordSupportRead(scope, view: view, request: read, path: request.uri.path)
        var body = [UInt8]()
        body.reserveCapacity(page.count * 1024 + 64)
        body += Array("{\"events\":[".utf8)
        page.writeJSONEvents(to: &body)
        body += Array("],\"next_cursor\":".utf8)
        body += Array((page.nextCursor.map { JSONValue.string($0.encoded) } ?? .null).canonicalText.utf8)
        if let categories {
            body += Array(",\"categories\":".utf8)
            body += Array(JSONValue.array(categories.map(Self.json)).canonicalText.utf8)
        }
        if let pending {
            body += Array(",\"pending_settings\":".utf8)
            body += Array(JSONValue.array(pending).canonicalText.utf8)
        }
        if let late {
            body += Array(",\"late\":".utf8)
            body += Array(JSONValue.array(late.sorted().map(JSONValue.string)).canonicalText.utf8)
        }
        if read.includeCount {
            let total: JSONValue = count.map { .object(["count": .number(Double(min($0, Self.countCap))), "capped": .bool($0 > Self.countCap)]) } ?? .null
            body += Array(",\"total\":".utf8)
            body += Array(total.canonicalText.utf8)
        }
        body.append(UInt8(ascii: "}"))
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    func single(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: Self.readers)
        try ReadRequest.refuseUnknown(request, allowing: ["tenant"])
        let id = try Self.pathParameter("id", context)
        let database = services.database
        let event = TenantID.isValid(id)
            ? try await context.whileClientConnected { try await database.event(id: id, tenant: scope.tenant, role: scope.role) }
            : nil
        // A support reader's probe of an id that is not there is recorded as well.
        // (An id that cannot exist is recorded by its raw path only: it may hold any byte.)
        try await recordSupportRead(scope, view: "event", request: nil, path: request.uri.path,
                                    eventID: TenantID.isValid(id) ? id : nil, found: event != nil)
        guard let event else { throw Self.notFound() }
        return event.response()
    }

    func categories(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: Self.readers)
        let read = try ReadRequest(request)
        let (filter, database) = (read.filter, services.database)
        let counts = try await context.whileClientConnected {
            try await database.categories(filter, tenant: scope.tenant, role: scope.role)
        }.map(Self.json)
        try await recordSupportRead(scope, view: "categories", request: read, path: request.uri.path)
        return JSONValue.object(["categories": .array(counts)]).response()
    }

    static func json(_ count: CategoryCount) -> JSONValue {
        .object(["category": .string(count.category), "count": .number(Double(count.count))])
    }

    /// A path segment, percent-decoded as clients encode it (`/v1/actors/user%7C7/events`).
    static func pathParameter(_ name: String, _ context: AuditRequestContext) throws -> String {
        guard let decoded = try context.parameters.require(name).removingPercentEncoding else {
            throw ReadRequest.bad(name, "is not valid percent-encoding")
        }
        return decoded
    }

    static func notFound() -> APIError {
        APIError(.notFound, code: "not_found", message: "No such event.")
    }

    /// SPEC §4: every support read is recorded in the tenant's log, with what was looked at.
    /// One record per request, with the route, the filters and the cursor it read at.
    func recordSupportRead(_ scope: ReadScope, view: String, request: ReadRequest?, path: String, eventID: String? = nil,
                           found: Bool? = nil) async throws {
        guard scope.role == .support else { return }
        var metadata: [String: JSONValue] = ["view": .string(view), "path": .string(String(path.prefix(512)))]
        if let request, !request.echo.isEmpty { metadata["filters"] = .object(request.echo) }
        if let cursor = request?.cursor { metadata["cursor"] = .string(cursor.encoded) }
        if let eventID { metadata["event_id"] = .string(String(eventID.prefix(256))) }
        if let found { metadata["found"] = .bool(found) }
        try await AccessRecorder(services: services).record("audit_log.viewed", template: "support_viewed", scope: scope, metadata: metadata)
    }
}
