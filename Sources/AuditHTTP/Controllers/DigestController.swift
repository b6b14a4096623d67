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
        router.get("/v1/digests/keys") { request, _ in
            try ReadRequest.refuseUnknown(request)
            return try await keys()
        }
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

    /// Pages of the chain in position order: `from`/`to` keep the digests covering an hour of
    /// `[from, to)`, `limit` (1–1000, default 100) bounds a page, `cursor` goes on after a page.
    func digests(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: \.canRead)
        let page = try DigestPageRequest(request.uri.query ?? "")
        let database = services.database
        let found = try await context.whileClientConnected {
            try await database.digestPage(tenant: scope.tenant, role: scope.role, from: page.from, to: page.to, after: page.after, limit: page.limit)
        }
        // Late arrivals the page's follow-up digests report, against each hour's first seal.
        let late = LateArrival.from(found.digests.filter { $0.retentionRemovedAt == nil }.map(\.link),
                                    firstSeals: found.firstSeals).map { late -> JSONValue in
            .object([
                "hour": .string(Timestamp.format(late.hour)),
                "events": .number(Double(late.count)),
                "sealed_at": .string(Timestamp.format(late.sealedAt)),
                "message": .string(late.description),
            ])
        }
        let next = found.more ? found.digests.last.map { DigestPageRequest.cursor(after: $0.digest.position) } : nil
        try await ReadController(services: services).recordSupportRead(scope, view: "digests", request: nil, path: request.uri.path)
        return JSONValue.object([
            "digests": .array(found.digests.map(\.link.json)), "late_arrivals": .array(late),
            "next_cursor": next.map(JSONValue.string) ?? .null,
        ]).response()
    }
}

/// `GET /v1/digests`'s query: `tenant` (publishers), `from`, `to`, `limit`, `cursor`; anything else is 400.
struct DigestPageRequest {
    var from: Date?
    var to: Date?
    var limit = 100
    var after: Int64?

    init(_ query: String) throws {
        for (key, value) in try ReadRequest.parameters(query) {
            guard !value.utf8.contains(0) else { throw ReadRequest.bad(String(key.prefix(64)), "contains a NUL character") }
            switch key {
            case "tenant": break
            case "from", "to":
                guard let date = SearchQuery.parseDate(value) else {
                    throw ReadRequest.bad(key, "must be a date (2026-11-01) or an RFC 3339 time between the years 0001 and 9999")
                }
                if key == "from" { from = date } else { to = date }
            case "limit":
                guard let number = Int(value), (1...1000).contains(number) else { throw ReadRequest.bad("limit", "must be a whole number from 1 to 1000") }
                limit = number
            case "cursor":
                guard let position = Self.position(cursor: value) else { throw ReadRequest.bad("cursor", "is not a cursor from this service") }
                after = position
            default:
                throw ReadRequest.unknown(key)
            }
        }
        if let from, let to, from >= to { throw ReadRequest.bad("to", "must be after from") }
    }

    /// Opaque to clients: `d` and the last position, in URL-safe base64.
    static func cursor(after position: Int64) -> String {
        Crypto.base64URL(Array("d\(position)".utf8))
    }

    static func position(cursor: String) -> Int64? {
        guard cursor.utf8.count <= 40, let bytes = Crypto.base64URLDecode(cursor), bytes.first == UInt8(ascii: "d"),
              let position = Int64(String(decoding: bytes.dropFirst(), as: UTF8.self)), position >= 0 else { return nil }
        return position
    }
}
