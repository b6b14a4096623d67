import AuditCore
import AuditStore
import Hummingbird
import Logging

/// Reads `Authorization: Bearer …`: a publisher key (`alk_…`) or a viewer token (JWT).
struct AuthMiddleware: RouterMiddleware {
    typealias Context = AuditRequestContext
    let keys: PublisherKeyAuthenticator
    let tokens: ViewerTokenCodec

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, code: "missing_credentials",
                           message: "Send a publisher API key or a viewer token as Authorization: Bearer ….",
                           headers: [.wwwAuthenticate: "Bearer"])
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw Self.invalid("not a Bearer credential", context) }
        // Optional whitespace around the credential (RFC 9110 OWS: spaces and tabs).
        var trimmed = parts[1]
        while let first = trimmed.first, first == " " || first == "\t" { trimmed.removeFirst() }
        while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
        let credential = String(trimmed)
        var context = context
        if credential.hasPrefix(PublisherKeys.prefix) {
            guard let key = try await keys.authenticate(credential) else { throw Self.invalid("unknown or revoked API key", context) }
            context.caller = .publisher(key)
        } else {
            do {
                context.caller = .viewer(try tokens.verify(credential))
            } catch {
                throw error == .expired
                    ? APIError(.unauthorized, code: "token_expired", message: "The viewer token has expired; ask for a new link.",
                               headers: [.wwwAuthenticate: "Bearer"])
                    : Self.invalid("viewer token refused: \(error)", context)
            }
        }
        return try await next(request, context)
    }

    /// 401 with one message for every reason (which is logged, never told to the caller).
    static func invalid(_ reason: String, _ context: Context) -> APIError {
        context.logger.info("credentials refused", metadata: ["reason": "\(reason)"])
        return APIError(.unauthorized, code: "invalid_credentials", message: "The credentials are not valid.",
                 headers: [.wwwAuthenticate: "Bearer"])
    }
}
