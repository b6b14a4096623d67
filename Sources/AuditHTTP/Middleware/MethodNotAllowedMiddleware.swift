import Hummingbird

/// A known path asked with a method it does not take is 405 `method_not_allowed` with an `Allow`
/// header naming the methods it does take (RFC 9110 §15.5.6), not a 404 that says the address
/// does not exist. Added after every route, so it wraps only the router's not-found answer.
struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Each route's path split into segments (`nil` for a capture), with its methods.
    let routes: [(segments: [Substring?], methods: [String])]

    init(routes: [Router<Context>.RouteDescription]) {
        var byPath: [String: [String]] = [:]
        for route in routes {
            let path = route.path.description.hasPrefix("/") ? route.path.description : "/" + route.path.description
            byPath[path, default: []].append(route.method.rawValue)
        }
        self.routes = byPath.map { path, methods in
            (path.split(separator: "/").map { $0.hasPrefix("{") && $0.hasSuffix("}") ? nil : $0 }, methods.sorted())
        }
    }

    /// The methods `path` takes; empty when no route has that shape.
    func methods(for path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true)
        var methods: Set<String> = []
        for route in routes where route.segments.count == segments.count {
            if zip(route.segments, segments).allSatisfy({ pattern, segment in pattern.map { $0 == segment } ?? true }) {
                methods.formUnion(route.methods)
            }
        }
        return methods.sorted()
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = methods(for: request.uri.path)
            guard !allowed.isEmpty else { throw error }
            throw APIError(.methodNotAllowed, code: "method_not_allowed",
                           message: "\(request.method.rawValue) is not allowed here; this address takes \(allowed.joined(separator: ", ")).",
                           headers: [.allow: allowed.joined(separator: ", ")])
        }
    }
}
