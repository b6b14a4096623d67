import Foundation
import Hummingbird
import Yams

/// `GET /openapi.yaml` and `GET /openapi.json`: the API's contract (`openapi/auditlog.yaml`,
/// carried in the binary as a resource). The JSON form is converted from the YAML once, at start.
struct OpenAPIController: Sendable {
    let yaml: ByteBuffer
    let json: ByteBuffer

    init() {
        let text = Self.document() ?? "openapi: 3.1.0\ninfo: {title: auditlog, version: unknown}\npaths: {}\n"
        yaml = ByteBuffer(string: text)
        let object = (try? Yams.load(yaml: text)).flatMap { Self.jsonCompatible($0) } ?? [String: Any]()
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        json = ByteBuffer(bytes: data)
    }

    /// The document's text, from this build's resources.
    static func document() -> String? {
        let url = Bundle.module.url(forResource: "OpenAPI/auditlog", withExtension: "yaml")
            ?? Bundle.module.resourceURL?.appendingPathComponent("OpenAPI/auditlog.yaml")
        return url.flatMap { try? String(contentsOf: $0, encoding: .utf8) }
    }

    /// Yams' values as JSONSerialization takes them (keys as strings, numbers and booleans kept).
    static func jsonCompatible(_ value: Any) -> Any? {
        switch value {
        case let map as [AnyHashable: Any]:
            var result: [String: Any] = [:]
            for (key, item) in map { result["\(key)"] = jsonCompatible(item) ?? NSNull() }
            return result
        case let list as [Any]:
            return list.map { jsonCompatible($0) ?? NSNull() }
        case is String, is Int, is Double, is Bool:
            return value
        default:
            return NSNull()
        }
    }

    func addRoutes(to router: Router<AuditRequestContext>) {
        let yaml = self.yaml, json = self.json
        router.get("/openapi.yaml") { request, _ in
            try ReadRequest.refuseUnknown(request)
            return Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"], body: .init(byteBuffer: yaml))
        }
        router.get("/openapi.json") { request, _ in
            try ReadRequest.refuseUnknown(request)
            return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: json))
        }
    }
}
