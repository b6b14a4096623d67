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
        return JSONValue.object(["digests": .array(chain.map(Self.json)), "late_arrivals": .array(late)]).response()
    }

    /// A digest as the API and the export bundle show it: every signed field, and what is
    /// known besides (when it was written, when retention removed its events).
    static func json(_ stored: StoredDigest) -> JSONValue {
        let digest = stored.digest
        return .object([
            "tenant": .string(digest.tenant),
            "hour": .string(Timestamp.format(digest.hour)),
            "hour_end": .string(Timestamp.format(digest.hourEnd)),
            "sequence": .number(Double(digest.sequence)),
            "position": .number(Double(digest.position)),
            "event_count": .number(Double(digest.eventCount)),
            "late_count": .number(Double(digest.lateCount)),
            "events_sha256": .string(digest.eventsSHA256),
            "covered_until": .string(Timestamp.format(digest.coveredUntil)),
            "previous_signature": .string(digest.previousSignature),
            "signature": .string(digest.signature),
            "key_id": digest.keyID.map(JSONValue.string) ?? .null,
            "format": .number(Double(digest.format)),
            "sealed_at": .string(Timestamp.format(stored.createdAt)),
            "retention_removed_at": stored.retentionRemovedAt.map { .string(Timestamp.format($0)) } ?? .null,
        ])
    }
}
