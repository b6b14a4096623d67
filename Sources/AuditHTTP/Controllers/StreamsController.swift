import AuditCore
import AuditStore
import AuditStreams
import Foundation
import Hummingbird
import Logging

/// `POST/GET/PATCH/DELETE /v1/streams`: a tenant's log streams (publisher; owners and admins
/// read their status). Each change is recorded in the tenant's own log. Delivery is
/// `StreamDelivery`'s.
///
/// `?scope=vendor` (or `"scope": "vendor"` in a new stream) addresses the vendor-wide streams,
/// which carry every tenant's events to the vendor's own SIEM: only a publisher key without a
/// tenant restriction may configure or read them, and their changes go to the server's log
/// (there is no tenant log to record them in).
struct StreamsController: Sendable {
    let services: AppServices
    let logger = Logger(label: "auditlog.streams")

    /// Whose streams a request is about, and who asks.
    struct Target {
        var scope: StreamScope
        /// The tenant's read scope (nil for the vendor-wide streams).
        var tenant: ReadScope?
        var key: PublisherKey?
        var role: AccessRole { tenant?.role ?? .publisher }
    }

    /// Resolves `?scope=` (and `?tenant=` for a tenant's streams); `bodyScope` is a new stream's
    /// `scope` member, which must agree with the query's.
    static func target(_ request: Request, _ context: AuditRequestContext, bodyScope: JSONValue? = nil) throws -> Target {
        let parameters = try ReadRequest.parameters(request.uri.query ?? "")
        var vendor = false
        if let asked = parameters.last(where: { $0.0 == "scope" })?.1 {
            guard asked == "tenant" || asked == "vendor" else { throw ReadRequest.bad("scope", "must be tenant or vendor") }
            vendor = asked == "vendor"
        }
        switch bodyScope {
        case nil, .null?: break
        case .string(let value)? where value == "tenant" || value == "vendor":
            if parameters.contains(where: { $0.0 == "scope" }), (value == "vendor") != vendor {
                throw APIError(.unprocessableContent, code: "invalid_stream", message: "The stream is invalid; nothing was created.",
                               details: [.init(field: "scope", message: "differs from the query's scope")])
            }
            vendor = value == "vendor"
        default:
            throw APIError(.unprocessableContent, code: "invalid_stream", message: "The stream is invalid; nothing was created.",
                           details: [.init(field: "scope", message: "must be tenant or vendor")])
        }
        guard vendor else {
            let scope = try ReadScope.resolve(request, context, allowed: { Self.readers.contains($0) })
            return Target(scope: .tenant(scope.tenant), tenant: scope, key: scope.caller.publisher)
        }
        guard case .publisher(let key)? = context.caller else {
            if context.caller == nil { throw APIError(.unauthorized, code: "missing_credentials", message: "Credentials are required.") }
            throw APIError(.forbidden, code: "forbidden_role", message: "Vendor-wide streams are configured with a publisher key.")
        }
        guard key.tenant == nil else {
            throw APIError(.forbidden, code: "tenant_not_allowed", message: "Vendor-wide streams carry every tenant's events: they need a publisher key without a tenant restriction.")
        }
        if parameters.contains(where: { $0.0 == "tenant" }) {
            throw ReadRequest.bad("tenant", "names one tenant; a vendor-wide stream has none")
        }
        return Target(scope: .vendor, tenant: nil, key: key)
    }

    /// Records a change: in the tenant's log, or in the server's for a vendor-wide stream.
    func record(_ action: String, template: String, target: Target, metadata: [String: JSONValue]) async throws {
        if let scope = target.tenant {
            try await AccessRecorder(services: services).record(action, template: template, scope: scope, metadata: metadata)
        } else {
            var fields: Logger.Metadata = ["key": "key_\(target.key.map { String($0.id) } ?? "")"]
            for (name, value) in metadata { fields[name] = "\(value.canonicalText)" }
            logger.notice("\(action) (vendor-wide stream)", metadata: fields)
        }
    }

    static let readers: Set<AccessRole> = [.publisher, .owner, .admin]

    func addRoutes(to group: RouterGroup<AuditRequestContext>) {
        group.post("/streams") { request, context in try await create(request, context) }
        group.get("/streams") { request, context in try await list(request, context) }
        group.get("/streams/:id") { request, context in try await show(request, context) }
        group.patch("/streams/:id") { request, context in try await update(request, context) }
        group.delete("/streams/:id") { request, context in try await remove(request, context) }
    }

    static func notFound() -> APIError { APIError(.notFound, code: "not_found", message: "No such stream.") }

    static func publisherOnly(_ target: Target) throws {
        guard target.role == .publisher else {
            throw APIError(.forbidden, code: "publisher_only", message: "Only the publisher configures streams; owners and admins read their status.")
        }
    }

    func create(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        if context.caller == nil { throw APIError(.unauthorized, code: "missing_credentials", message: "Credentials are required.") }
        if case .viewer? = context.caller { try Self.publisherOnly(Self.target(request, context)) }  // 403 before the body
        let members = try await Self.body(request, context)
        let target = try Self.target(request, context, bodyScope: members["scope"])
        try Self.publisherOnly(target)
        var problems: [APIError.Detail] = []
        for key in members.keys.sorted() where !["kind", "url", "token", "categories", "actions", "backfill", "scope"].contains(key) {
            problems.append(.init(field: String(key.prefix(64)), message: "is not a stream setting"))
        }
        let kind = members["kind"]?.stringValue.flatMap(StreamRecord.Kind.init(rawValue:))
        if kind == nil { problems.append(.init(field: "kind", message: "must be webhook, splunk_hec or datadog")) }
        let url = members["url"]?.stringValue
        if url == nil { problems.append(.init(field: "url", message: "is required")) }
        let token = Self.token(members["token"], kind: kind, required: true, problems: &problems)
        let categories = Self.list(members["categories"], field: "categories", valid: EventValidator.isCategory, problems: &problems) ?? []
        let actions = Self.list(members["actions"], field: "actions", valid: EventValidator.isActionPattern, problems: &problems) ?? []
        var backfill = false
        switch members["backfill"] {
        case nil, .null?: break
        case .bool(let value)?: backfill = value
        default: problems.append(.init(field: "backfill", message: "must be true or false"))
        }
        if let url, let problem = await DestinationGuard.problem(with: url, allow: services.streamAllowHosts) {
            problems.append(.init(field: "url", message: problem))
        }
        guard problems.isEmpty, let kind, let url else {
            throw APIError(.unprocessableContent, code: "invalid_stream", message: "The stream is invalid; nothing was created.", details: problems)
        }
        let id = "str_" + Crypto.hex(Crypto.randomBytes(8))
        let secret = kind == .webhook ? "whsec_" + Data(Crypto.randomBytes(24)).base64EncodedString() : nil
        let stream = try await services.database.createStream(
            StreamSettings(kind: kind, url: url, token: token, categories: categories, actions: actions, backfill: backfill),
            id: id, secret: secret, scope: target.scope)
        try await record("audit_log.stream_created", template: "stream_created", target: target, metadata: [
            "stream_id": .string(id), "kind": .string(kind.rawValue), "url": .string(url), "backfill": .bool(backfill)])
        var json = Self.json(stream)
        if let secret { json["secret"] = .string(secret) }
        return JSONValue.object(json).response(status: .created)
    }

    func list(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let target = try Self.target(request, context)
        try Self.noParameters(request)
        let streams = try await services.database.streams(scope: target.scope, role: target.role)
        return JSONValue.object(["streams": .array(streams.map { .object(Self.json($0)) })]).response()
    }

    /// The stream the path names, in the caller's tenant (or among the vendor-wide streams);
    /// 404 for another tenant's or an unknown id.
    func named(_ context: AuditRequestContext, target: Target) async throws -> StreamRecord {
        let id = try ReadController.pathParameter("id", context)
        guard TenantID.isValid(id), let stream = try await services.database.stream(id: id, scope: target.scope, role: target.role) else {
            throw Self.notFound()
        }
        return stream
    }

    func show(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let target = try Self.target(request, context)
        try Self.noParameters(request)
        return JSONValue.object(Self.json(try await named(context, target: target))).response()
    }

    func update(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let target = try Self.target(request, context)
        try Self.publisherOnly(target)
        try Self.noParameters(request)
        let existing = try await named(context, target: target)
        let id = existing.id
        let members = try await Self.body(request, context)
        var problems: [APIError.Detail] = []
        for key in members.keys.sorted() where !["url", "token", "categories", "actions", "paused"].contains(key) {
            problems.append(.init(field: String(key.prefix(64)), message: "is not a setting a stream can change"))
        }
        var change = StreamChange()
        if let value = members["url"] {
            if let url = value.stringValue {
                if let problem = await DestinationGuard.problem(with: url, allow: services.streamAllowHosts) {
                    problems.append(.init(field: "url", message: problem))
                }
                change.url = url
            } else {
                problems.append(.init(field: "url", message: "must be a string"))
            }
        }
        if members["token"] != nil { change.token = Self.token(members["token"], kind: existing.kind, required: false, problems: &problems) }
        change.categories = Self.list(members["categories"], field: "categories", valid: EventValidator.isCategory, problems: &problems)
        change.actions = Self.list(members["actions"], field: "actions", valid: EventValidator.isActionPattern, problems: &problems)
        switch members["paused"] {
        case nil: break
        case .bool(let paused)?: change.paused = paused
        default: problems.append(.init(field: "paused", message: "must be true or false"))
        }
        guard problems.isEmpty else {
            throw APIError(.unprocessableContent, code: "invalid_stream", message: "The change is invalid; nothing was changed.", details: problems)
        }
        guard let stream = try await services.database.updateStream(id: id, change: change, scope: target.scope) else { throw Self.notFound() }
        var metadata: [String: JSONValue] = ["stream_id": .string(id), "changed": .array(members.keys.sorted().map(JSONValue.string))]
        if let paused = change.paused { metadata["paused"] = .bool(paused) }
        // Pausing or resuming alone reads as that; any other change as a change.
        let template = members.keys.sorted() == ["paused"] ? (change.paused == true ? "stream_paused" : "stream_resumed") : "stream_changed"
        try await record("audit_log.stream_updated", template: template, target: target, metadata: metadata)
        return JSONValue.object(Self.json(stream)).response()
    }

    func remove(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let target = try Self.target(request, context)
        try Self.publisherOnly(target)
        try Self.noParameters(request)
        let id = try ReadController.pathParameter("id", context)
        guard TenantID.isValid(id), try await services.database.deleteStream(id: id, scope: target.scope) else { throw Self.notFound() }
        try await record("audit_log.stream_deleted", template: "stream_deleted", target: target, metadata: ["stream_id": .string(id)])
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
        try ReadRequest.refuseUnknown(request, allowing: ["tenant", "scope"])
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

    static func json(_ stream: StreamRecord) -> [String: JSONValue] {
        func time(_ date: Date?) -> JSONValue { date.map { .string(Timestamp.format($0)) } ?? .null }
        let lag: JSONValue = stream.paused ? .null : stream.caughtUpAt.map { .number(max(0, (Date().timeIntervalSince($0) * 10).rounded() / 10)) } ?? .null
        return [
            "id": .string(stream.id), "scope": .string(stream.scope.name), "tenant": stream.scope.tenant.map { .string($0.rawValue) } ?? .null,
            "kind": .string(stream.kind.rawValue), "url": .string(stream.url),
            "categories": .array(stream.categories.map(JSONValue.string)), "actions": .array(stream.actions.map(JSONValue.string)),
            "paused": .bool(stream.paused), "status": .string(stream.status), "position": .string(stream.position),
            "delivered": .number(Double(stream.delivered)), "last_delivered_at": time(stream.lastDeliveredAt),
            "caught_up_at": time(stream.caughtUpAt), "lag_seconds": lag,
            "last_error": stream.lastError.map(JSONValue.string) ?? .null, "last_error_at": time(stream.lastErrorAt),
            "failing_since": time(stream.failingSince), "created_at": time(stream.createdAt),
        ]
    }
}
