import Hummingbird
import NIOCore

/// Ends the connection after an answer that says `Connection: close` (a body past 4 MiB, a
/// body that could not be read): once the answer is written, the server half-closes its side,
/// so a client still sending gets the answer and the end of the stream instead of a silent wait.
/// What the client still sends is read and dropped until it closes too.
struct CloseAfterResponseMiddleware: RouterMiddleware {
    typealias Context = AuditRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError where error.headers[.connection] == "close" {
            response = try error.response(from: request, context: context)
        }
        guard response.headers[.connection] == "close", let channel = context.channel, channel.localAddress != nil else {
            return response
        }
        let body = response.body
        response.body = ResponseBody(contentLength: body.contentLength) { writer in
            try await body.write(writer)
            try? await channel.close(mode: .output).get()
        }
        return response
    }
}
