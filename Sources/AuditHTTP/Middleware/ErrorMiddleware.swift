import AuditStore
import Hummingbird
import Logging

/// Turns every error into SPEC §6.3's JSON body, the one place errors meet HTTP
/// (as PostgREST's `Error.hs` does).
///
/// Store errors are mapped by their code, never by their text: an unreachable database or a
/// statement past its time limit is 503 with `Retry-After`; anything unexpected is logged with
/// its details here and answered as a bare 500, so no SQL or row data leaves the server.
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
        } catch let error as StoreError {
            throw Self.map(error, logger: context.logger)
        } catch is CancellationError {
            context.logger.debug("request cancelled: the client went away")
            throw Self.map(StoreError(.cancelled, "The request was cancelled."), logger: context.logger)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            throw APIError.internalError()
        }
    }

    /// The one mapping from store codes to HTTP.
    static func map(_ error: StoreError, logger: Logger) -> APIError {
        switch error.code {
        case .invalidInput:
            logger.notice("database refused an input value", metadata: ["error": "\(error.debugDescription)"])
            return APIError(.badRequest, code: "invalid_input", message: error.message)
        case .conflict:
            return APIError(.conflict, code: "conflict", message: error.message)
        case .notFound:
            return APIError(.notFound, code: "not_found", message: error.message)
        case .forbidden:
            logger.warning("database refused the role", metadata: ["error": "\(error.debugDescription)"])
            return APIError(.forbidden, code: "forbidden", message: error.message)
        case .unavailable:
            logger.warning("database unavailable", metadata: ["error": "\(error.debugDescription)"])
            return APIError.databaseUnavailable()
        case .timeout:
            logger.warning("statement timed out", metadata: ["error": "\(error.debugDescription)"])
            return APIError(.serviceUnavailable, code: "timeout", message: error.message, headers: [.retryAfter: "5"])
        case .cancelled:
            // The client is gone; nobody reads this answer.
            return APIError(.serviceUnavailable, code: "cancelled", message: error.message, headers: [.retryAfter: "1"])
        case .internal:
            logger.error("database error", metadata: ["error": "\(error.debugDescription)"])
            return APIError.internalError()
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
