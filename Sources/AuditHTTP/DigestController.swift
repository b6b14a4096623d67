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
            ])
        }
        return JSONValue.object(["keys": .array(keys)]).response()
    }

    func digests(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: \.canRead)
        let database = services.database
        let rows = try await context.whileClientConnected { try await database.digests(tenant: scope.tenant, role: scope.role) }
            .map { stored -> JSONValue in
                let digest = stored.digest
                return .object([
                    "tenant": .string(digest.tenant),
                    "hour": .string(Timestamp.format(digest.hour)),
                    "sequence": .number(Double(digest.sequence)),
                    "position": .number(Double(digest.position)),
                    "event_count": .number(Double(digest.eventCount)),
                    "events_sha256": .string(digest.eventsSHA256),
                    "covered_until": .string(Timestamp.format(digest.coveredUntil)),
                    "previous_signature": .string(digest.previousSignature),
                    "signature": .string(digest.signature),
                    "retention_removed_at": stored.retentionRemovedAt.map { .string(Timestamp.format($0)) } ?? .null,
                    "key_id": digest.keyID.map(JSONValue.string) ?? .null,
                ])
            }
        try await ReadController(services: services).recordSupportRead(scope, view: "digests", request: nil, path: request.uri.path)
        return JSONValue.object(["digests": .array(rows)]).response()
    }
}
