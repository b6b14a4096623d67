import AuditCore
import AuditStore
import Foundation
import Hummingbird

/// `GET /v1/digests`: the tenant's signed, chained digests, oldest first, so a customer can
/// check them with their own tools (the signed bytes are described on `Digest.signedText`).
struct DigestController: Sendable {
    let services: AppServices

    func addRoutes(to group: RouterGroup<AuditRequestContext>) {
        group.get("/digests") { request, context in try await digests(request, context) }
    }

    /// `GET /v1/digests/keys`, outside authentication: the public keys are public.
    func addPublicRoutes(to router: Router<AuditRequestContext>) {
        router.get("/v1/digests/keys") { _, _ in try await keys() }
    }

    /// Every Ed25519 public key that signed a digest, current and retired (hex and base64).
    func keys() async throws -> Response {
        let keys = try await services.database.digestKeys().map { key -> JSONValue in
            .object([
                "key_id": .string(key.keyID),
                "algorithm": .string(key.algorithm),
                "public_key": .string(Crypto.hex(key.publicKey)),
                "public_key_base64": .string(Data(key.publicKey).base64EncodedString()),
                "created_at": .string(Timestamp.format(key.createdAt)),
                "retired_at": key.retiredAt.map { .string(Timestamp.format($0)) } ?? .null,
            ])
        }
        return JSONValue.object(["keys": .array(keys)]).response()
    }

    func digests(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: \.canRead)
        let database = services.database
        let chain = try await context.whileClientConnected { try await database.digests(tenant: scope.tenant, role: scope.role) }
        let late = LateArrival.from(chain.filter { $0.retentionRemovedAt == nil }.map(\.link)).map { late -> JSONValue in
            .object([
                "hour": .string(Timestamp.format(late.hour)),
                "events": .number(Double(late.count)),
                "sealed_at": .string(Timestamp.format(late.sealedAt)),
                "message": .string(late.description),
            ])
        }
        try await ReadController(services: services).recordSupportRead(scope, view: "digests", request: nil, path: request.uri.path)
        return JSONValue.object(["digests": .array(chain.map(\.link.json)), "late_arrivals": .array(late)]).response()
    }
}
