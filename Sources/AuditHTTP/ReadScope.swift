import AuditCore
import AuditStore
import Hummingbird

/// Whose log a read concerns and with which role: the token's tenant and role, or the
/// publisher key's `?tenant=`. The database transaction is opened with exactly these.
struct ReadScope: Sendable {
    var tenant: TenantID
    var role: AccessRole
    var caller: Caller

    /// Resolves the scope; `allowed` says which roles the route admits (403 otherwise).
    static func resolve(_ request: Request, _ context: AuditRequestContext, allowed: (AccessRole) -> Bool) throws -> ReadScope {
        switch context.caller {
        case .viewer(let claims)?:
            guard allowed(claims.role) else {
                throw APIError(.forbidden, code: "forbidden_role", message: "Your role (\(claims.role.rawValue)) may not do this.")
            }
            if let asked = try ReadRequest.parameters(request.uri.query ?? "").first(where: { $0.0 == "tenant" })?.1,
               asked != claims.tenant.rawValue {
                throw APIError(.forbidden, code: "tenant_not_allowed", message: "A viewer token reads only its own tenant.")
            }
            return ReadScope(tenant: claims.tenant, role: claims.role, caller: .viewer(claims))
        case .publisher(let key)?:
            let asked = try ReadRequest.parameters(request.uri.query ?? "").first(where: { $0.0 == "tenant" })?.1
            guard let raw = asked ?? key.tenant?.rawValue else {
                throw APIError(.badRequest, code: "tenant_required", message: "Say which tenant with ?tenant=…",
                               details: [.init(field: "tenant", message: "is required with a publisher key")])
            }
            guard let tenant = TenantID(raw) else {
                throw APIError(.badRequest, code: "invalid_tenant", message: "tenant must be 1-128 characters of A-Z, a-z, 0-9, _ . : -",
                               details: [.init(field: "tenant", message: "is not a valid tenant key")])
            }
            guard key.allows(tenant) else {
                throw APIError(.forbidden, code: "tenant_not_allowed", message: "This API key may not read that tenant.")
            }
            return ReadScope(tenant: tenant, role: .publisher, caller: .publisher(key))
        case nil:
            throw APIError(.unauthorized, code: "missing_credentials", message: "Credentials are required.")
        }
    }
}
