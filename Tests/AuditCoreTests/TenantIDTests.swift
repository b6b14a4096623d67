import AuditCore
import Testing

@Suite("tenant keys")
struct TenantIDTests {
    @Test("accepted keys", arguments: ["org_42", "a", "Org-1.eu:west_2", String(repeating: "x", count: 128)])
    func accepted(_ key: String) {
        #expect(TenantID(key)?.rawValue == key)
    }

    @Test("refused keys", arguments: [
        "", String(repeating: "x", count: 129), "org 42", "org'42", "org/42", "ørg", "org\u{0}", "org;drop",
    ])
    func refused(_ key: String) {
        #expect(TenantID(key) == nil)
    }

    @Test("roles: members read nothing, only owners and publishers change settings")
    func roles() {
        #expect(AccessRole.allCases.filter(\.canRead) == [.owner, .admin, .support, .publisher])
        #expect(AccessRole.allCases.filter(\.canChangeSettings) == [.owner, .publisher])
        #expect(AccessRole.allCases.filter(\.canExport) == [.owner, .admin, .publisher])
    }
}
