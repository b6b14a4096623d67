import AuditCore
import AuditStore
import Foundation
import Hummingbird

/// `POST/GET/PATCH/DELETE /v1/streams`: a tenant's log streams (publisher; owners and admins
/// read their status). Each change is recorded in the tenant's own log. Delivery is
/// `StreamDelivery`'s.
struct StreamsController: Sendable {
    let services: AppServices

    static let readers: Set<AccessRole> = [.publisher, .owner, .admin]

    func addRoutes(to group: RouterGroup<AuditRequestContext>) {
        group.post("/streams") { request, context in try await create(request, context) }
        group.get("/streams") { request, context in try await list(request, context) }
        group.get("/streams/:id") { request, context in try await show(request, context) }
        group.patch("/streams/:id") { request, context in try await update(request, context) }
        group.delete("/streams/:id") { request, context in try await remove(request, context) }
    }

    static func notFound() -> APIError { APIError(.notFound, code: "not_found", message: "No such stream.") }

    static func publisherOnly(_ scope: ReadScope) throws {
        guard scope.role == .publisher else {
            throw APIError(.forbidden, code: "publisher_only", message: "Only the publisher configures streams; owners and admins read their status.")
        }
    }

    func create(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: { Self.readers.contains($0) })
        try Self.publisherOnly(scope)
        guard services.database.hasFeed else {
            throw APIError(.notImplemented, code: "streams_unavailable",
                           message: "Streams deliver the feed, which needs a single PostgreSQL primary; on Citus, distributed commits are not ordered by one snapshot.")
        }
        let members = try await Self.body(request, context)
        var problems: [APIError.Detail] = []
        for key in members.keys.sorted() where !["kind", "url", "token", "categories", "actions", "backfill"].contains(key) {
            problems.append(.init(field: String(key.prefix(64)), message: "is not a stream setting"))
        }
        let kind = members["kind"]?.stringValue.flatMap(StreamRecord.Kind.init(rawValue:))
        if kind == nil { problems.append(.init(field: "kind", message: "must be webhook, splunk_hec or datadog")) }
        let url = members["url"]?.stringValue
        if url == nil { problems.append(.init(field: "url", message: "is required")) }
        let token = Self.token(members["token"], kind: kind, required: true, problems: &problems)
        let categories = Self.list(members["categories"], field: "categories", valid: Self.isCategory, problems: &problems) ?? []
        let actions = Self.list(members["actions"], field: "actions", valid: Self.isActionPattern, problems: &problems) ?? []
        var backfill = false
        switch members["backfill"] {
        case nil, .null?: break
        case .bool(let value)?: backfill = value
        default: problems.append(.init(field: "backfill", message: "must be true or false"))
        }
        if let url, let problem = await DestinationGuard.problem(with: url, allowPrivate: services.streamAllowPrivate) {
            problems.append(.init(field: "url", message: problem))
        }
        guard problems.isEmpty, let kind, let url else {
            throw APIError(.unprocessableContent, code: "invalid_stream", message: "The stream is invalid; nothing was created.", details: problems)
        }
        let id = "str_" + Crypto.hex(Crypto.randomBytes(8))
        let secret = kind == .webhook ? "whsec_" + Data(Crypto.randomBytes(24)).base64EncodedString() : nil
        let stream = try await services.database.createStream(
            StreamSettings(kind: kind, url: url, token: token, categories: categories, actions: actions, backfill: backfill),
            id: id, secret: secret, tenant: scope.tenant)
        try await AccessRecorder(services: services).record("audit_log.stream_created", scope: scope, metadata: [
            "stream_id": .string(id), "kind": .string(kind.rawValue), "url": .string(url), "backfill": .bool(backfill)])
        var json = Self.json(stream)
        if let secret { json["secret"] = .string(secret) }
        return JSONValue.object(json).response(status: .created)
    }

    func list(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: { Self.readers.contains($0) })
        try Self.noParameters(request)
        let streams = try await services.database.streams(tenant: scope.tenant, role: scope.role)
        return JSONValue.object(["streams": .array(streams.map { .object(Self.json($0)) })]).response()
    }

    /// The stream the path names, in the caller's tenant; 404 for another tenant's or an unknown id.
    func named(_ context: AuditRequestContext, scope: ReadScope) async throws -> StreamRecord {
        let id = try ReadController.pathParameter("id", context)
        guard TenantID.isValid(id), let stream = try await services.database.stream(id: id, tenant: scope.tenant, role: scope.role) else {
            throw Self.notFound()
        }
        return stream
    }

    func show(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: { Self.readers.contains($0) })
        try Self.noParameters(request)
        return JSONValue.object(Self.json(try await named(context, scope: scope))).response()
    }

    func update(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: { Self.readers.contains($0) })
        try Self.publisherOnly(scope)
        let existing = try await named(context, scope: scope)
        let id = existing.id
        let members = try await Self.body(request, context)
        var problems: [APIError.Detail] = []
        for key in members.keys.sorted() where !["url", "token", "categories", "actions", "paused"].contains(key) {
            problems.append(.init(field: String(key.prefix(64)), message: "is not a setting a stream can change"))
        }
        var change = StreamChange()
        if let value = members["url"] {
            if let url = value.stringValue {
                if let problem = await DestinationGuard.problem(with: url, allowPrivate: services.streamAllowPrivate) {
                    problems.append(.init(field: "url", message: problem))
                }
                change.url = url
            } else {
                problems.append(.init(field: "url", message: "must be a string"))
            }
        }
        if members["token"] != nil { change.token = Self.token(members["token"], kind: existing.kind, required: false, problems: &problems) }
        change.categories = Self.list(members["categories"], field: "categories", valid: Self.isCategory, problems: &problems)
        change.actions = Self.list(members["actions"], field: "actions", valid: Self.isActionPattern, problems: &problems)
        switch members["paused"] {
        case nil: break
        case .bool(let paused)?: change.paused = paused
        default: problems.append(.init(field: "paused", message: "must be true or false"))
        }
        guard problems.isEmpty else {
            throw APIError(.unprocessableContent, code: "invalid_stream", message: "The change is invalid; nothing was changed.", details: problems)
        }
        guard let stream = try await services.database.updateStream(id: id, change: change, tenant: scope.tenant) else { throw Self.notFound() }
        var metadata: [String: JSONValue] = ["stream_id": .string(id), "changed": .array(members.keys.sorted().map(JSONValue.string))]
        if let paused = change.paused { metadata["paused"] = .bool(paused) }
        try await AccessRecorder(services: services).record("audit_log.stream_updated", scope: scope, metadata: metadata)
        return JSONValue.object(Self.json(stream)).response()
    }

    func remove(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: { Self.readers.contains($0) })
        try Self.publisherOnly(scope)
        try Self.noParameters(request)
        let id = try ReadController.pathParameter("id", context)
        guard TenantID.isValid(id), try await services.database.deleteStream(id: id, tenant: scope.tenant) else { throw Self.notFound() }
        try await AccessRecorder(services: services).record("audit_log.stream_deleted", scope: scope, metadata: ["stream_id": .string(id)])
        return Response(status: .noContent)
    }

    // MARK: Parts

    static func body(_ request: Request, _ context: AuditRequestContext) async throws -> [String: JSONValue] {
        var request = request
        let body = try await request.readBody(upTo: 64 * 1024, context: context)
        guard case .object(let members)? = JSONValue.parse(Array(body.readableBytesView)) else {
            throw APIError(.badRequest, code: "invalid_json", message: "The body must be a JSON object.")
        }
        return members
    }

    static func noParameters(_ request: Request) throws {
        if let (name, _) = try ReadRequest.parameters(request.uri.query ?? "").first(where: { $0.0 != "tenant" }) {
            throw APIError(.badRequest, code: "unknown_parameter", message: "Unknown parameter \(name.prefix(64)).",
                           details: [.init(field: String(name.prefix(64)), message: "is not a parameter of this route")])
        }
    }

    /// Splunk's and Datadog's credential: required for them, refused for a webhook (it has a secret).
    static func token(_ value: JSONValue?, kind: StreamRecord.Kind?, required: Bool, problems: inout [APIError.Detail]) -> String? {
        switch (value, kind) {
        case (nil, .webhook?), (.null?, .webhook?), (nil, nil):
            return nil
        case (_, .webhook?):
            problems.append(.init(field: "token", message: "is not used by a webhook (its deliveries are signed with the stream's secret)"))
        case (nil, _), (.null?, _):
            if required { problems.append(.init(field: "token", message: "is required for \(kind?.rawValue ?? "this kind")")) }
        case (.string(let token)?, _):
            if (1...512).contains(token.utf8.count), token.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) { return token }
            problems.append(.init(field: "token", message: "must be 1-512 printable ASCII characters"))
        default:
            problems.append(.init(field: "token", message: "must be a string"))
        }
        return nil
    }

    static func list(_ value: JSONValue?, field: String, valid: (String) -> Bool, problems: inout [APIError.Detail]) -> [String]? {
        guard let value, !value.isNull else { return nil }
        guard case .array(let items) = value, items.count <= 50 else {
            problems.append(.init(field: field, message: "must be an array of at most 50 strings"))
            return nil
        }
        var result: [String] = []
        for item in items {
            guard let text = item.stringValue, valid(text) else {
                problems.append(.init(field: field, message: "holds \(item.stringValue.map { "'\($0.prefix(64))'" } ?? "a value") that is not valid here"))
                return nil
            }
            result.append(text)
        }
        return result
    }

    static func isCategory(_ text: String) -> Bool {
        (1...64).contains(text.utf8.count) && text.utf8.first.map { (97...122).contains($0) } == true
            && text.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == UInt8(ascii: "_") }
    }

    /// `client.renamed`, or a prefix `client.*`.
    static func isActionPattern(_ text: String) -> Bool {
        let body = text.hasSuffix("*") ? String(text.dropLast()) : text
        guard (1...128).contains(text.utf8.count) else { return false }
        if text.hasSuffix("*"), body.isEmpty || body.hasSuffix(".") { return body.isEmpty ? false : isActionPattern(String(body.dropLast())) }
        return body.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isCategory(String($0)) }
    }

    static func json(_ stream: StreamRecord) -> [String: JSONValue] {
        func time(_ date: Date?) -> JSONValue { date.map { .string(Timestamp.format($0)) } ?? .null }
        let lag: JSONValue = stream.paused ? .null : stream.caughtUpAt.map { .number(max(0, (Date().timeIntervalSince($0) * 10).rounded() / 10)) } ?? .null
        return [
            "id": .string(stream.id), "tenant": .string(stream.tenant), "kind": .string(stream.kind.rawValue), "url": .string(stream.url),
            "categories": .array(stream.categories.map(JSONValue.string)), "actions": .array(stream.actions.map(JSONValue.string)),
            "paused": .bool(stream.paused), "status": .string(stream.status), "position": .string(stream.position),
            "delivered": .number(Double(stream.delivered)), "last_delivered_at": time(stream.lastDeliveredAt),
            "caught_up_at": time(stream.caughtUpAt), "lag_seconds": lag,
            "last_error": stream.lastError.map(JSONValue.string) ?? .null, "last_error_at": time(stream.lastErrorAt),
            "failing_since": time(stream.failingSince), "created_at": time(stream.createdAt),
        ]
    }
}
