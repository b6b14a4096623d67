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
                try ReadRequest.convert { () throws(QueryError) in try SearchQuery.applyKey("actor", actor, token: "actor_id", to: &filter) }
            }
        }
        group.get("/targets/:type/:id/events") { request, context in
            let type = try Self.pathParameter("type", context), id = try Self.pathParameter("id", context)
            return try await list(request, context, view: "target") { filter in
                try ReadRequest.convert { () throws(QueryError) in
                    try SearchQuery.applyKey("target", "\(type)/\(id)", token: "target", to: &filter)
                }
            }
        }
        group.get("/categories") { request, context in
            try await categories(request, context)
        }
    }

    static func readers(_ role: AccessRole) -> Bool { role.canRead }

    func list(_ request: Request, _ context: AuditRequestContext, view: String,
              narrow: (inout EventFilter) throws -> Void) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: Self.readers)
        var read = try ReadRequest(request)
        try narrow(&read.filter)
        let (filter, cursor, limit, database) = (read.filter, read.cursor, read.limit, services.database)
        let page = try await context.whileClientConnected {
            try await database.page(filter, after: cursor, limit: limit, tenant: scope.tenant, role: scope.role)
        }
        try await recordSupportRead(scope, view: view, request: read, path: request.uri.path)
        var body = [UInt8]()
        body.reserveCapacity(page.count * 1024 + 64)
        body += Array("{\"events\":[".utf8)
        page.writeJSONEvents(to: &body)
        body += Array("],\"next_cursor\":".utf8)
        body += Array((page.nextCursor.map { JSONValue.string($0.encoded) } ?? .null).canonicalText.utf8)
        body.append(UInt8(ascii: "}"))
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    func single(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: Self.readers)
        let id = try Self.pathParameter("id", context)
        guard TenantID.isValid(id) else { throw Self.notFound() }
        let database = services.database
        let event = try await context.whileClientConnected { try await database.event(id: id, tenant: scope.tenant, role: scope.role) }
        guard let event else { throw Self.notFound() }
        try await recordSupportRead(scope, view: "event", request: nil, path: request.uri.path, eventID: id)
        return event.response()
    }

    func categories(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: Self.readers)
        let read = try ReadRequest(request)
        let (filter, database) = (read.filter, services.database)
        let counts = try await context.whileClientConnected {
            try await database.categories(filter, tenant: scope.tenant, role: scope.role)
        }.map { JSONValue.object(["category": .string($0.category), "count": .number(Double($0.count))]) }
        try await recordSupportRead(scope, view: "categories", request: read, path: request.uri.path)
        return JSONValue.object(["categories": .array(counts)]).response()
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
    func recordSupportRead(_ scope: ReadScope, view: String, request: ReadRequest?, path: String, eventID: String? = nil) async throws {
        guard scope.role == .support else { return }
        var metadata: [String: JSONValue] = ["view": .string(view), "path": .string(String(path.prefix(512)))]
        if let request, !request.echo.isEmpty { metadata["filters"] = .object(request.echo) }
        if let eventID { metadata["event_id"] = .string(eventID) }
        try await AccessRecorder(services: services).record("audit_log.viewed", scope: scope, metadata: metadata)
    }
}
