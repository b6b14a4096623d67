import Hummingbird
import NIOCore

extension Request {
    /// The whole body, at most `limit` bytes. Past the limit: 413, and the connection is closed
    /// once the answer is out, so a client still writing stops rather than waits. A body the
    /// server could not read (a malformed chunk, a connection cut short) is the client's: 400.
    mutating func readBody(upTo limit: Int, context: AuditRequestContext) async throws -> ByteBuffer {
        if let length = headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError.bodyTooLarge()
        }
        do {
            return try await collectBody(upTo: limit)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            // HTTPError, or NIO's NIOTooManyBytesError for a chunked body that runs past the limit.
            throw APIError.bodyTooLarge()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            context.logger.info("request body could not be read", metadata: ["error": "\(error)"])
            throw APIError(.badRequest, code: "invalid_body", message: "The request body could not be read completely.",
                           headers: [.connection: "close"])
        }
    }
}

extension APIError {
    static func bodyTooLarge() -> APIError {
        APIError(.contentTooLarge, code: "body_too_large",
                 message: "The body is larger than 4 MiB; send at most 1000 events per request.",
                 headers: [.connection: "close"])
    }
}
