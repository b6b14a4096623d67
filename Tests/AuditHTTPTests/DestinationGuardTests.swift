import AuditCore
@testable import AuditHTTP
@testable import AuditStreams
import Testing

/// AUDITLOG_STREAM_ALLOW_HOSTS and the guard, decided on parsed and resolved addresses: no
/// test here sends a packet (every host is an address literal, resolved without the network).
@Suite("stream destinations: what AUDITLOG_STREAM_ALLOW_HOSTS lets through, and what it never can")
struct DestinationGuardTests {
    @Test("the list takes hosts, hosts with ports, bracketed IPv6 and CIDR blocks")
    func parses() throws {
        let list = try DestinationAllowList.parse("127.0.0.1, hooks.internal:8088 [::1]:9000\n10.20.0.0/16,fd12::/64")
        #expect(list.allowsHost("127.0.0.1", port: 443))
        #expect(list.allowsHost("HOOKS.internal", port: 8088))
        #expect(!list.allowsHost("hooks.internal", port: 8089))
        #expect(list.allowsHost("::1", port: 9000) && !list.allowsHost("::1", port: 80))
        #expect(list.allowsAddress([10, 20, 255, 1]) && !list.allowsAddress([10, 21, 0, 1]))
        #expect(try DestinationAllowList.parse("").isEmpty)
    }

    @Test("link-local and metadata addresses can never be listed", arguments: [
        "169.254.169.254", "169.254.0.0/16", "169.254.1.0/24", "169.0.0.0/8", "0.0.0.0/0", "fe80::1", "fe80::/10", "::/0",
        "fd00:ec2::254", "[fd00:ec2::254]:80", "fd00::/8", "10.0.0.0/33", "host:99999", "a b/c", "[::1", "bad_host!",
    ])
    func refusesEntries(_ entry: String) {
        #expect(throws: DestinationAllowListError.self) { try DestinationAllowList.parse(entry) }
    }

    @Test("a listed host or block may be reached over http; link-local and metadata never; the rest stays refused")
    func decisions() async throws {
        let list = try DestinationAllowList.parse("127.0.0.1:9000,10.20.0.0/16")
        #expect(await DestinationGuard.problem(with: "http://127.0.0.1:9000/hook", allow: list) == nil)
        #expect(await DestinationGuard.problem(with: "http://10.20.3.4/hook", allow: list) == nil)
        #expect(await DestinationGuard.problem(with: "https://10.20.3.4/hook", allow: list) == nil)
        for (url, says) in [
            ("http://127.0.0.1:9001/hook", "loopback or private"),       // the port is not the listed one
            ("http://10.21.0.1/hook", "loopback or private"),
            ("http://169.254.169.254/latest/meta-data", "link-local or metadata"),
            ("https://[fe80::1]/x", "link-local or metadata"),
            ("https://[fd00:ec2::254]/x", "link-local or metadata"),
            ("https://[::ffff:169.254.169.254]/x", "link-local or metadata"),
            ("http://93.184.216.34/hook", "plain http"),
        ] {
            let problem = await DestinationGuard.problem(with: url, allow: list)
            #expect(problem?.contains(says) == true, "\(url): \(problem ?? "allowed")")
        }
        // Nothing listed: every private address refused, public https allowed (decided, not sent).
        #expect(await DestinationGuard.problem(with: "https://127.0.0.1/hook", allow: DestinationAllowList()) != nil)
        #expect(await DestinationGuard.problem(with: "https://93.184.216.34/hook", allow: DestinationAllowList()) == nil)
    }
}
