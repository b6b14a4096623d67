import AuditCore
import AuditDemo
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresLibPQ
import Testing
import TestSupport

@Suite("the viewer page: served from the binary, locked down by CSP; the demo data")
struct ViewerTests {
    let database: TestDatabase

    init() async throws {
        database = try await TestCluster.shared.database("viewer")
    }

    @Test("GET / needs no token and carries CSP, no-referrer and nosniff; its script and style are same-origin files")
    func page() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            let csp = page.headers[.contentSecurityPolicy] ?? ""
            #expect(csp.contains("default-src 'none'"))
            #expect(csp.contains("script-src 'self'"))
            #expect(csp.contains("frame-ancestors 'none'"))
            #expect(!csp.contains("unsafe-inline"))
            #expect(page.headers[HTTPFields.Element.Name("Referrer-Policy")!] == "no-referrer")
            let html = String(buffer: page.body)
            #expect(html.contains("<script src=\"/viewer.js\""))
            #expect(!html.contains("<script>"))
            #expect(!html.contains("style=\""))
            #expect(!html.contains("http://") && !html.contains("https://"))

            let script = try await client.execute(uri: "/viewer.js", method: .get)
            #expect(script.status == .ok)
            #expect(script.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(String(buffer: script.body).contains("textContent"))
            #expect(!String(buffer: script.body).contains("innerHTML"))
            let style = try await client.execute(uri: "/viewer.css", method: .get)
            #expect(style.headers[.contentType] == "text/css; charset=utf-8")
        }
    }

    @Test("AUDITLOG_FRAME_ANCESTORS takes CSP sources and refuses anything that could break out of the header")
    func frameAncestors() throws {
        #expect(try FrameAncestors.parse(nil) == "'none'")
        #expect(try FrameAncestors.parse("'self' https://app.example.com") == "'self' https://app.example.com")
        for hostile in ["https://a.example; script-src *", "https://a.example\r\nSet-Cookie: x=1", "'unsafe-inline'", "\"x\""] {
            #expect(throws: FrameAncestorsError.self) { try FrameAncestors.parse(hostile) }
        }
    }

    @Test("serve --demo's data: two organisations across the SPEC's categories, written once, the hostile name kept as text")
    func demo() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        let first = try await DemoData.seed(app.database, messages: app.services.messages, redactor: app.services.redactor)
        let second = try await DemoData.seed(app.database, messages: app.services.messages, redactor: app.services.redactor)
        #expect(first == 481)
        #expect(second == 0)
        let (categories, hostile, redacted) = try await database.asAdmin { connection in
            (try connection.query("SELECT count(DISTINCT category) FROM audit.event WHERE tenant_id = 'acme_msp'").rows[0].decode(Int.self, at: 0),
             try connection.query("SELECT message FROM audit.event WHERE tenant_id = 'acme_msp' AND id = 'demo_hostile'").rows[0].decode(String.self, at: 0),
             try connection.query("""
                SELECT count(*) FROM audit.event WHERE action = 'payment_method.changed' AND changes -> 'card_number' ->> 'new' <> '[redacted]'
                """).rows[0].decode(Int.self, at: 0))
        }
        #expect(categories == 7)
        #expect(hostile == "<img src=x onerror=alert(1)>")
        #expect(redacted == 0)
        await app.database.close()
    }
}
