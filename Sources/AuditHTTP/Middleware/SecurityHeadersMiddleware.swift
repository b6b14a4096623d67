import Hummingbird

/// Headers every answer carries, outermost, so errors get them too: `nosniff` everywhere (a
/// browser never guesses a JSON body into HTML), and for everything but the viewer's own files
/// `Cache-Control: no-store` (audit data stays out of caches and history) and a CSP that lets a
/// response load nothing and be framed nowhere.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = AuditRequestContext
    static let noSniff = HTTPFields.Element.Name("X-Content-Type-Options")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            // Errors are rendered here, so they carry the headers too.
            response = try error.response(from: request, context: context)
        }
        response.headers[Self.noSniff] = "nosniff"
        if response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'"
        }
        return response
    }
}
