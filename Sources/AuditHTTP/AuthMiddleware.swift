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
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { throw Self.invalid("not a Bearer credential") }
        let credential = parts[1].trimmingCharacters(in: .whitespaces)
        var context = context
        if credential.hasPrefix(PublisherKeys.prefix) {
            guard let key = try await keys.authenticate(credential) else { throw Self.invalid("unknown API key") }
            context.caller = .publisher(key)
        } else {
            do {
                context.caller = .viewer(try tokens.verify(credential))
            } catch {
                context.logger.info("viewer token refused", metadata: ["reason": "\(error)"])
                throw error == .expired
                    ? APIError(.unauthorized, code: "token_expired", message: "The viewer token has expired; ask for a new link.",
                               headers: [.wwwAuthenticate: "Bearer"])
                    : Self.invalid("\(error)")
            }
        }
        return try await next(request, context)
    }

    static func invalid(_ reason: String) -> APIError {
        APIError(.unauthorized, code: "invalid_credentials", message: "The credentials are not valid.",
                 headers: [.wwwAuthenticate: "Bearer"])
    }
}
