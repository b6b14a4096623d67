import Hummingbird
import Logging
import PostgresLibPQ

/// Turns every error into SPEC §6.3's JSON body, the one place errors meet HTTP
/// (as PostgREST's `Error.hs` does).
///
/// Database errors are mapped by kind, never by their text: a lost connection is 503
/// with `Retry-After`; anything unexpected is logged with its details here and answered
/// as a bare 500, so no SQL or row data leaves the server.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            throw Self.map(error)
        } catch let error as any HTTPResponseError {
            throw Self.map(HTTPError(error.status))
        } catch let error as PostgresError {
            if error.isConnectionProblem {
                context.logger.warning("database unavailable", metadata: ["error": "\(error)"])
                throw APIError.databaseUnavailable()
            }
            context.logger.error("database error", metadata: ["error": "\(error.debugDescription)"])
            throw APIError.internalError()
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError.internalError()
        }
    }

    static func map(_ error: HTTPError) -> APIError {
        switch error.status {
        case .notFound:
            return APIError(.notFound, code: "not_found", message: "There is nothing at this address.")
        case .methodNotAllowed:
            return APIError(.methodNotAllowed, code: "method_not_allowed", message: "This address does not accept that method.")
        case .contentTooLarge:
            return APIError.bodyTooLarge()
        case .badRequest:
            return APIError(.badRequest, code: "bad_request", message: error.body ?? "The request could not be read.")
        default:
            return APIError(error.status, code: error.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"),
                            message: error.body ?? error.status.reasonPhrase)
        }
    }
}
