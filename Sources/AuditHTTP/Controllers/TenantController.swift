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
        group.delete("/tenant/settings/pending/:id") { request, context in try await cancelPending(request, context) }
        group.post("/viewer-tokens") { request, context in try await mintToken(request, context) }
    }

    func settings(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: \.canRead)
        try ReadRequest.refuseUnknown(request, allowing: ["tenant"])
        let current = try await services.database.settings(tenant: scope.tenant, role: scope.role)
        try await ReadController(services: services).recordSupportRead(scope, view: "settings", request: nil, path: request.uri.path)
        return Self.json(scope.tenant, current).response()
    }

    /// Who asks, as the setting change records it.
    static func actor(_ scope: ReadScope) -> String {
        switch scope.caller {
        case .viewer(let claims): return claims.actorID
        case .publisher(let key): return "key_\(key.id)"
        }
    }

    /// `PUT /v1/tenant/settings`: `retention_days` (owner or publisher), `legal_hold` (publisher,
    /// with a `reason`). Placing a hold and lengthening a retention take effect at once; lifting a
    /// hold and shortening a retention are pending for the grace period (SPEC §7, sql/0014).
    func changeSettings(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: \.canChangeSettings)
        try ReadRequest.refuseUnknown(request, allowing: ["tenant"])
        var request = request
        let body = try await request.readBody(upTo: 64 * 1024, context: context)
        guard case .object(let members)? = JSONValue.parse(Array(body.readableBytesView)) else {
            throw APIError(.badRequest, code: "invalid_json", message: "The body must be a JSON object.")
        }
        var problems: [APIError.Detail] = []
        var retention: Int?
        var legalHold: Bool?
        var reason: String?
        var redactKeys: [String]?
        for (key, value) in members {
            switch (key, value) {
            case ("redact_keys", .array(let items)):
                let keys = items.compactMap { if case .string(let text) = $0 { text } else { nil } }
                if keys.count == items.count, keys.count <= 100, keys.allSatisfy({ (1...128).contains($0.count) && !$0.utf8.contains(0) }) {
                    redactKeys = keys
                } else {
                    problems.append(.init(field: key, message: "must be up to 100 keys of 1 to 128 characters"))
                }
            case ("redact_keys", _): problems.append(.init(field: key, message: "must be an array of keys"))
            case ("retention_days", .number(let days)):
                if days == days.rounded(), (1...Double(services.retentionDays)).contains(days) { retention = Int(days) }
                else { problems.append(.init(field: key, message: "must be a whole number from 1 to \(services.retentionDays)")) }
            case ("legal_hold", .bool(let hold)): legalHold = hold
            case ("reason", .string(let text)):
                if (1...1000).contains(text.count), !text.utf8.contains(0), !text.allSatisfy(\.isWhitespace) { reason = text }
                else { problems.append(.init(field: key, message: "must be 1 to 1000 characters, not blank, without NUL")) }
            case ("retention_days", _): problems.append(.init(field: key, message: "must be a whole number of days"))
            case ("legal_hold", _): problems.append(.init(field: key, message: "must be true or false"))
            case ("reason", _): problems.append(.init(field: key, message: "must be a string"))
            default: problems.append(.init(field: key, message: "is not a setting"))
            }
        }
        if legalHold != nil, reason == nil, !problems.contains(where: { $0.field == "reason" }) {
            problems.append(.init(field: "reason", message: "is required to place or lift a legal hold"))
        }
        guard problems.isEmpty else {
            throw APIError(.unprocessableContent, code: "invalid_settings", message: "The settings are invalid; nothing was changed.", details: problems)
        }
        if legalHold != nil, scope.role != .publisher {
            throw APIError(.forbidden, code: "publisher_only", message: "Only the publisher places or lifts a legal hold.")
        }
        if redactKeys != nil, scope.role != .publisher {
            throw APIError(.forbidden, code: "publisher_only", message: "Only the publisher sets a tenant's redaction keys.")
        }
        // One store call, one transaction: the request's changes all happen or none does.
        let (changes, before, after) = try await services.database.changeSettings(
            tenant: scope.tenant, role: scope.role, actor: Self.actor(scope), retentionDays: retention, legalHold: legalHold, reason: reason,
            redactKeys: redactKeys)
        let recorder = AccessRecorder(services: services)
        if let redactKeys, let before {
            await services.tenantRedaction.forget(scope.tenant)
            if before != redactKeys {
                try await recorder.record(
                    "organization.settings_updated", category: "organization", template: "redact_keys_changed", scope: scope,
                    changes: ["redact_keys": Change(old: .array(before.map(JSONValue.string)), new: .array(redactKeys.map(JSONValue.string)))])
            }
        }
        for change in changes where change.oldValue != change.newValue || !change.applied {
            var metadata: [String: JSONValue] = ["change_id": .string(change.changeID)]
            if let reason { metadata["reason"] = .string(reason) }
            let hold = change.setting == "legal_hold"
            if change.applied {
                let template = hold ? (change.newValue == "true" ? "legal_hold_placed" : "legal_hold_lifted") : "retention_changed"
                try await recorder.record("organization.settings_updated", category: "organization", template: template,
                                          scope: scope, metadata: metadata,
                                          changes: [change.setting: Change(old: Self.value(change.setting, change.oldValue),
                                                                           new: Self.value(change.setting, change.newValue))])
            } else {
                metadata["setting"] = .string(change.setting)
                metadata["from"] = Self.value(change.setting, change.oldValue)
                metadata["to"] = Self.value(change.setting, change.newValue)
                metadata["effective_at"] = .string(Timestamp.format(change.effectiveAt))
                metadata["effective_on"] = .string(Self.readable(change.effectiveAt))
                try await recorder.record("organization.setting_change_requested", category: "organization",
                                          template: hold ? "legal_hold_lift_requested" : "retention_change_requested",
                                          scope: scope, metadata: metadata)
            }
        }
        return Self.json(scope.tenant, after).response()
    }

    /// `DELETE /v1/tenant/settings/pending/{id}`: the publisher withdraws a pending change.
    func cancelPending(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: \.canChangeSettings)
        try ReadRequest.refuseUnknown(request, allowing: ["tenant"])
        guard scope.role == .publisher else {
            throw APIError(.forbidden, code: "publisher_only", message: "Only the publisher cancels a pending setting change.")
        }
        let id = try ReadController.pathParameter("id", context)
        let notFound = APIError(.notFound, code: "not_found", message: "No such pending setting change.")
        guard id.count <= 64, id.allSatisfy({ $0.isHexDigit || $0 == "-" }) else { throw notFound }
        guard let cancelled = try await services.database.cancelSettingChange(
            tenant: scope.tenant, role: scope.role, changeID: id, actor: Self.actor(scope)) else { throw notFound }
        try await AccessRecorder(services: services).record(
            "organization.setting_change_cancelled", category: "organization",
            template: cancelled.setting == "legal_hold" ? "legal_hold_lift_cancelled" : "retention_change_cancelled", scope: scope,
            metadata: ["change_id": .string(id), "setting": .string(cancelled.setting),
                       "from": Self.value(cancelled.setting, cancelled.oldValue), "to": Self.value(cancelled.setting, cancelled.newValue)])
        let after = try await services.database.settings(tenant: scope.tenant, role: scope.role)
        return Self.json(scope.tenant, after).response()
    }

    static func value(_ setting: String, _ text: String) -> JSONValue { SettingChange.value(of: setting, text) }

    /// A moment as a sentence writes it: `2026-12-15 10:00 UTC`.
    static func readable(_ date: Date) -> String {
        let text = Timestamp.format(date)
        return "\(text.prefix(10)) \(text.dropFirst(11).prefix(5)) UTC"
    }

    static func json(_ tenant: TenantID, _ settings: TenantSettings) -> JSONValue {
        .object([
            "tenant": .string(tenant.rawValue), "retention_days": .number(Double(settings.retentionDays)), "legal_hold": .bool(settings.legalHold),
            "pending": .array(settings.pending.map(json)),
            "redact_keys": .array(settings.redactKeys.map(JSONValue.string)),
        ])
    }

    /// A pending setting change as the API shows it.
    static func json(_ change: SettingChange) -> JSONValue {
        .object([
            "change_id": .string(change.changeID), "setting": .string(change.setting),
            "from": value(change.setting, change.oldValue), "to": value(change.setting, change.newValue),
            "effective_at": .string(Timestamp.format(change.effectiveAt)), "requested_by": .string(change.requestedBy),
            "requested_by_name": change.requestedByName.map(JSONValue.string) ?? .null,
            "reason": change.reason.map(JSONValue.string) ?? .null,
        ])
    }

    func mintToken(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        guard let key = context.caller?.publisher else {
            throw APIError(.forbidden, code: "publisher_only", message: "Only a publisher API key may mint viewer tokens.")
        }
        try ReadRequest.refuseUnknown(request)
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
