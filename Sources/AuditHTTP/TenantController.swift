import AuditCore
import AuditStore
import Foundation
import Hummingbird

/// `GET/PUT /v1/tenant/settings` and `POST /v1/viewer-tokens`.
struct TenantController: Sendable {
    let services: AppServices

    func addRoutes(to group: RouterGroup<AuditRequestContext>) {
        group.get("/tenant/settings") { request, context in try await settings(request, context) }
        group.put("/tenant/settings") { request, context in try await changeSettings(request, context) }
        group.post("/viewer-tokens") { request, context in try await mintToken(request, context) }
    }

    func settings(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: \.canRead)
        let current = try await services.database.settings(tenant: scope.tenant, role: scope.role)
        try await ReadController(services: services).recordSupportRead(scope, view: "settings", request: nil, path: request.uri.path)
        return Self.json(scope.tenant, current).response()
    }

    func changeSettings(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: \.canChangeSettings)
        var request = request
        let body = try await request.readBody(upTo: 64 * 1024, context: context)
        guard case .object(let members)? = JSONValue.parse(Array(body.readableBytesView)) else {
            throw APIError(.badRequest, code: "invalid_json", message: "The body must be a JSON object.")
        }
        var problems: [APIError.Detail] = []
        var retention: Int?
        var legalHold: Bool?
        for (key, value) in members {
            switch (key, value) {
            case ("retention_days", .number(let days)):
                if days == days.rounded(), (1...Double(services.retentionDays)).contains(days) { retention = Int(days) }
                else { problems.append(.init(field: key, message: "must be a whole number from 1 to \(services.retentionDays)")) }
            case ("legal_hold", .bool(let hold)): legalHold = hold
            case ("retention_days", _): problems.append(.init(field: key, message: "must be a whole number of days"))
            case ("legal_hold", _): problems.append(.init(field: key, message: "must be true or false"))
            default: problems.append(.init(field: key, message: "is not a setting"))
            }
        }
        guard problems.isEmpty else {
            throw APIError(.unprocessableContent, code: "invalid_settings", message: "The settings are invalid; nothing was changed.", details: problems)
        }
        let (before, after) = try await services.database.updateSettings(
            tenant: scope.tenant, role: scope.role, retentionDays: retention, legalHold: legalHold)
        var changes: [String: Change] = [:]
        if before.retentionDays != after.retentionDays {
            changes["retention_days"] = Change(old: .number(Double(before.retentionDays)), new: .number(Double(after.retentionDays)))
        }
        if before.legalHold != after.legalHold {
            changes["legal_hold"] = Change(old: .bool(before.legalHold), new: .bool(after.legalHold))
        }
        if !changes.isEmpty {
            try await AccessRecorder(services: services).record(
                "organization.settings_updated", category: "organization", scope: scope, changes: changes)
        }
        return Self.json(scope.tenant, after).response()
    }

    static func json(_ tenant: TenantID, _ settings: TenantSettings) -> JSONValue {
        .object(["tenant": .string(tenant.rawValue), "retention_days": .number(Double(settings.retentionDays)), "legal_hold": .bool(settings.legalHold)])
    }

    func mintToken(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        guard let key = context.caller?.publisher else {
            throw APIError(.forbidden, code: "publisher_only", message: "Only a publisher API key may mint viewer tokens.")
        }
        var request = request
        let body = try await request.readBody(upTo: 64 * 1024, context: context)
        guard case .object(let members)? = JSONValue.parse(Array(body.readableBytesView)) else {
            throw APIError(.badRequest, code: "invalid_json", message: "The body must be a JSON object.")
        }
        var problems: [APIError.Detail] = []
        let tenant = members["tenant"]?.stringValue.flatMap(TenantID.init)
        if tenant == nil { problems.append(.init(field: "tenant", message: "must be a valid tenant key")) }
        let role = members["role"]?.stringValue.flatMap(AccessRole.init(rawValue:))
        if role == nil || role == .publisher { problems.append(.init(field: "role", message: "must be owner, admin, support or member")) }
        let actor = members["actor_id"]?.stringValue
        if actor.map({ !(1...256).contains($0.count) || $0.utf8.contains(0) }) ?? true {
            problems.append(.init(field: "actor_id", message: "must be 1-256 characters, without NUL"))
        }
        var name: String?
        if let value = members["actor_name"], !value.isNull {
            if let text = value.stringValue, text.count <= 256, !text.utf8.contains(0) { name = text }
            else { problems.append(.init(field: "actor_name", message: "must be a string of at most 256 characters, without NUL")) }
        }
        var ttl = 3600.0
        if let value = members["ttl_seconds"] {
            if case .number(let seconds) = value, seconds == seconds.rounded(), (1...ViewerTokenCodec.maxLifetime).contains(seconds) { ttl = seconds }
            else { problems.append(.init(field: "ttl_seconds", message: "must be a whole number from 1 to 86400")) }
        }
        for unknown in members.keys where !["tenant", "role", "actor_id", "actor_name", "ttl_seconds"].contains(unknown) {
            problems.append(.init(field: String(unknown.prefix(64)), message: "is not a field of a token request"))
        }
        guard problems.isEmpty, let tenant, let role, let actor else {
            throw APIError(.unprocessableContent, code: "invalid_token_request", message: "The token request is invalid.", details: problems)
        }
        guard key.allows(tenant) else {
            throw APIError(.forbidden, code: "tenant_not_allowed", message: "This API key may not mint tokens for that tenant.")
        }
        let now = Date()
        let claims = ViewerClaims(tenant: tenant, role: role, actorID: actor, actorName: name,
                                  issuedAt: now, expiresAt: now.addingTimeInterval(ttl))
        return JSONValue.object([
            "token": .string(services.tokens.mint(claims)),
            "expires_at": .string(Timestamp.format(Date(timeIntervalSince1970: claims.expiresAt.timeIntervalSince1970.rounded(.down)))),
        ]).response(status: .created)
    }
}
