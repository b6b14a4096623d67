import Foundation
import Hummingbird

/// `GET /`: the audit log viewer — one HTML page with its CSS and JavaScript, all served from
/// the binary (`Sources/AuditHTTP/Viewer`, a SwiftPM resource). No CDN, no inline script or
/// style, so the Content-Security-Policy allows same-origin files only. The viewer token
/// arrives in the URL fragment, which browsers never send to a server.
struct ViewerController: Sendable {
    struct Asset: Sendable {
        let body: ByteBuffer
        let contentType: String
    }

    let assets: [String: Asset]
    let headers: HTTPFields

    /// `frameAncestors`: the CSP `frame-ancestors` sources (`AUDITLOG_FRAME_ANCESTORS`), `'none'` by default.
    init(frameAncestors: String) {
        var assets: [String: Asset] = [:]
        let types = ["index.html": "text/html; charset=utf-8", "viewer.css": "text/css; charset=utf-8",
                     "viewer.js": "text/javascript; charset=utf-8"]
        for (name, type) in types {
            let url = Bundle.module.url(forResource: "Viewer/" + name, withExtension: nil)
                ?? Bundle.module.resourceURL?.appendingPathComponent("Viewer/" + name)
            let data = url.flatMap { try? Data(contentsOf: $0) } ?? Data("viewer file \(name) is missing from this build".utf8)
            assets[name] = Asset(body: ByteBuffer(bytes: data), contentType: type)
        }
        self.assets = assets
        var headers: HTTPFields = [:]
        headers[.contentSecurityPolicy] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
            + "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors \(frameAncestors)"
        headers[HTTPFields.Element.Name("Referrer-Policy")!] = "no-referrer"
        headers[HTTPFields.Element.Name("X-Content-Type-Options")!] = "nosniff"
        if frameAncestors == "'none'" { headers[HTTPFields.Element.Name("X-Frame-Options")!] = "DENY" }
        headers[.cacheControl] = "no-cache"
        self.headers = headers
    }

    func addRoutes(to router: Router<AuditRequestContext>) {
        for (path, name) in [("/", "index.html"), ("/viewer.css", "viewer.css"), ("/viewer.js", "viewer.js")] {
            router.get(RouterPath(path)) { _, _ in response(name) }
        }
    }

    func response(_ name: String) -> Response {
        let asset = assets[name]!
        var headers = self.headers
        headers[.contentType] = asset.contentType
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: asset.body))
    }
}
