import AuditCore
import Testing

@Suite("redaction: by words of the key, and by the shape of the value")
struct RedactorTests {
    static let redactedKeys = [
        "password", "Password", "PASSWORD", "passwords", "user_password", "newPassword", "password-confirmation", "passwd", "pwd",
        "passphrase", "secret", "secrets", "secretKey", "client_secret", "clientSecret", "webhook.secret", "token", "tokens",
        "accessToken", "access_token", "refresh_tokens", "refreshToken", "id_token", "idToken", "bearer", "bearer_token",
        "session_token", "sessionId", "session_id", "SESSIONID", "csrf", "csrf_token", "xsrfToken", "authorization",
        "Authorization", "proxy-authorization", "cookie", "Cookie", "cookies", "set-cookie", "Set-Cookie", "credentials",
        "credential", "aws_credentials", "privateKey", "private_key", "PRIVATE-KEY", "apiKey", "api_key", "APIKey", "x-api-key",
        "credit_card", "creditCardNumber", "card", "card_number", "cardNumber", "pan", "cvv", "cvc", "iban", "account_number",
        "accountNumber", "routing_number", "sort_code", "ssn", "SSN", "national_id", "taxId", "otp", "otp_code", "totp",
        "mfa_code", "mfaCode", "recovery_codes", "jwt", "signing_key", "encryptionKey", "internal_note",
    ]
    static let keptKeys = [
        "company", "tokenizer_version", "passage", "author", "authority", "cardinality", "panel", "expand", "compass",
        "account", "account_id", "session_count", "sessions", "key_count", "keyboard", "email", "name", "ip", "user_agent",
        "request_id", "plan", "seats", "address", "secretary_name", "mfa_enabled", "sent_at", "id", "country",
    ]

    @Test("at least 60 keys are redacted, at any depth and in changes", arguments: redactedKeys)
    func redactedKey(_ key: String) {
        #expect(Self.redactedKeys.count >= 60)
        let redactor = Redactor(extraKeys: ["internal note"])
        #expect(redactor.isSensitive(key), "\(key)")
        let nested = redactor.redact(.object(["outer": .object([key: .string("value-123")])]))
        #expect(nested == .object(["outer": .object([key: Redactor.marker])]))
        let changes = redactor.redact([key: Change(old: .string("a"), new: .string("b"))])
        #expect(changes[key] == Change(old: Redactor.marker, new: Redactor.marker))
        let path = "settings.\(key)"
        let nestedChanges = redactor.redact([path: Change(old: .null, new: .string("b")), "settings.plan": Change(old: "a", new: "b")])
        #expect(nestedChanges == [path: Change(old: .null, new: Redactor.marker), "settings.plan": Change(old: "a", new: "b")])
    }

    @Test("ordinary keys are kept", arguments: keptKeys)
    func keptKey(_ key: String) {
        let redactor = Redactor(extraKeys: ["internal note"])
        #expect(!redactor.isSensitive(key), "\(key)")
        #expect(redactor.redact(.object([key: .string("Acme Ltd")])) == .object([key: .string("Acme Ltd")]))
    }

    @Test("values shaped like well-known secrets are redacted whatever their key", arguments: [
        ("Bearer abc.def.ghi-jkl", true),
        ("bearer 0123456789abcdef", true),
        ("Basic dXNlcjpwYXNzd29yZA==", true),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1XzEifQ.c2lnbmF0dXJlLWJ5dGVz", true),
        ("sk_live_51H8xYzAbCdEfGhIjKlMn", true),
        ("rk_test_abcdefghijklmnop", true),
        ("ghp_0123456789abcdefghijklmnopqrstuvwxyz", true),
        ("xoxb-1234-5678-abcdefghijkl", true),
        ("AKIAIOSFODNN7EXAMPLE", true),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", true),
        ("-----BEGIN PRIVATE KEY-----\nMC4CAQ\n-----END PRIVATE KEY-----", true),
        ("key follows: ------BEGIN EC PRIVATE KEY-----\nMHcCAQ", true),
        ("Note: ----- BEGIN PRIVATE KEY is not a header", false),
        ("4242 4242 4242 4242", true),
        ("4111-1111-1111-1111", true),
        ("5555555555554444", true),
        ("4242 4242 4242 4241", false),
        ("2026-11-21T10:00:00Z", false),
        ("+1 555 123 4567", false),
        ("Acme Ltd subscription", false),
        ("a bearer of good news", false),
        ("AKIA is a prefix", false),
        ("1234567", false),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1XzEifQ", false),
        ("eyJhbGciOiJIUzI1NiJ9.eyJ.c2ln", false),
        ("4242 4242 4242 424x", false),
        ("-----BEGIN CERTIFICATE-----\nMIIB", false),
        ("ASIAIOSFODNN7EXAMPLE", true),
        ("ASIAIOSFODNN7EXAMPLEX", false),
    ])
    func valueShape(_ text: String, _ secret: Bool) {
        let redacted = Redactor().redact(.object(["note": .array([.string(text)])]))
        #expect(redacted == .object(["note": .array([secret ? Redactor.marker : .string(text)])]), "\(text)")
    }
}
