import AuditStore
import Hummingbird

/// Requires `Authorization: Bearer alk_…` with a valid, unrevoked publisher key.
struct PublisherAuthMiddleware: RouterMiddleware {
    typealias Context = AuditRequestContext
    let keys: PublisherKeyAuthenticator

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            throw APIError(.unauthorized, code: "missing_credentials",
                           message: "Send a publisher API key as Authorization: Bearer alk_….",
                           headers: [.wwwAuthenticate: "Bearer"])
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer",
              let key = try await keys.authenticate(String(parts[1]).trimmingCharacters(in: .whitespaces)) else {
            throw APIError(.unauthorized, code: "invalid_credentials",
                           message: "The API key is not valid.", headers: [.wwwAuthenticate: "Bearer"])
        }
        var context = context
        context.publisher = key
        return try await next(request, context)
    }
}

import Foundation
