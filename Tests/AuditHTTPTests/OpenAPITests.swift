import AuditCore
@testable import AuditHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

@Suite("the OpenAPI document: served, and the same routes as the router")
struct OpenAPITests {
    let database: TestDatabase

    init() async throws {
        database = try await TestCluster.shared.database("openapi")
    }

    /// "GET /v1/events/{id}" for every operation of the document.
    static func documentedOperations(_ document: JSONValue) -> Set<String> {
        guard case .object(let paths)? = document.objectValue?["paths"] else { return [] }
        var operations: Set<String> = []
        for (path, item) in paths {
            for method in item.objectValue?.keys ?? [:].keys
            where ["get", "put", "post", "delete", "patch", "head", "options"].contains(method) {
                operations.insert("\(method.uppercased()) \(path)")
            }
        }
        return operations
    }

    @Test("every route of the router is in the document, and every operation of the document is routed")
    func routesMatchDocument() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        let routed = Set(buildRouter(services: app.services).routes.map { route in
            // Hummingbird writes captures as {name}; the document's paths do too.
            "\(route.method) \(route.path.description.hasPrefix("/") ? "" : "/")\(route.path)"
        })
        let document = try #require(JSONValue.parse(Array(OpenAPIController().json.readableBytesView)))
        let documented = Self.documentedOperations(document)
        #expect(documented.count >= 20)
        #expect(routed.subtracting(documented).isEmpty, "routed but not in openapi/auditlog.yaml: \(routed.subtracting(documented).sorted())")
        #expect(documented.subtracting(routed).isEmpty, "in openapi/auditlog.yaml but not routed: \(documented.subtracting(routed).sorted())")
    }

    @Test("GET /openapi.yaml serves the document; /openapi.json the same as JSON; no credentials needed")
    func served() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        try await app.test { client in
            let yaml = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(yaml.status == .ok)
            #expect(yaml.headers[.contentType]?.hasPrefix("application/yaml") == true)
            let text = String(buffer: yaml.body)
            #expect(text.hasPrefix("openapi: 3.1.0\n"))
            #expect(text == OpenAPIController.document())
            let json = try await client.execute(uri: "/openapi.json", method: .get)
            #expect(json.status == .ok)
            let document = try #require(JSONValue.parse(Array(json.body.readableBytesView)))
            #expect(document.objectValue?["openapi"] == .string("3.1.0"))
            #expect(Self.documentedOperations(document).contains("POST /v1/events"))
            #expect(Self.documentedOperations(document).contains("DELETE /v1/tenant/settings/pending/{id}"))
        }
    }

    @Test("a method a known path does not take is 405 with Allow; an unknown path stays 404")
    func methodNotAllowed() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        try await app.test { client in
            for (method, uri, allow) in [(HTTPRequest.Method.delete, "/v1/events", "GET, POST"), (.patch, "/v1/tenant/settings", "GET, PUT"),
                                         (.post, "/v1/events/e_1", "GET"), (.put, "/healthz", "GET"), (.delete, "/openapi.yaml", "GET")] {
                let response = try await client.execute(uri: uri, method: method)
                #expect(response.status == .methodNotAllowed, "\(method) \(uri)")
                #expect(response.headers[.allow] == allow, "\(method) \(uri)")
                #expect(String(buffer: response.body).contains(#""code":"method_not_allowed""#))
            }
            let missing = try await client.execute(uri: "/v1/nothing/here", method: .delete)
            #expect(missing.status == .notFound)
            #expect(missing.headers[.allow] == nil)
        }
    }
}
