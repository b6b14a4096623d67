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

    func digests(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: \.canRead)
        let rows = try await services.database.withTenant(scope.tenant, role: scope.role) { connection in
            try connection.query("""
                SELECT hour, sequence, position, event_count, events_sha256, covered_until, coalesce(previous_signature, ''),
                       signature, retention_removed_at
                FROM audit.digest WHERE tenant_id = current_setting('auditlog.tenant', true) ORDER BY position
                """).rows.map { row -> JSONValue in
                .object([
                    "tenant": .string(scope.tenant.rawValue),
                    "hour": .string(Timestamp.format(try row.decode(Date.self, at: 0))),
                    "sequence": .number(Double(try row.decode(Int.self, at: 1))),
                    "position": .number(Double(try row.decode(Int64.self, at: 2))),
                    "event_count": .number(Double(try row.decode(Int.self, at: 3))),
                    "events_sha256": .string(try row.decode(String.self, at: 4)),
                    "covered_until": .string(Timestamp.format(try row.decode(Date.self, at: 5))),
                    "previous_signature": .string(try row.decode(String.self, at: 6)),
                    "signature": .string(try row.decode(String.self, at: 7)),
                    "retention_removed_at": try row.decode(Date?.self, at: 8).map { .string(Timestamp.format($0)) } ?? .null,
                ])
            }
        }
        try await ReadController(services: services).recordSupportRead(scope, view: "digests", request: nil, path: request.uri.path)
        return JSONValue.object(["digests": .array(rows)]).response()
    }
}
