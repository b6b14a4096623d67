import Synchronization

/// Replaces secrets with `"[redacted]"`, at any depth of `context`, `metadata` and `changes`,
/// before anything is stored or logged (README "Redaction").
///
/// **By key.** A key is split into words (camelCase, snake_case, kebab-case, dots and spaces:
/// `clientSecret`, `refresh_tokens`, `Set-Cookie` → client secret, refresh tokens, set cookie),
/// lowercased, plurals read as singular, and it is sensitive when one of its words is a secret
/// word (`password`, `token`, `cookie`, …), two neighbouring words form a secret phrase
/// (`api key`, `card number`, `session id`, …), or its words are one of the configured keys
/// (`AUDITLOG_REDACT_KEYS`). So `accessToken` and `client_secret` are caught; `company`,
/// `tokenizer_version` and `passage` are not (no word of theirs is a secret word).
///
/// **By value.** A string that looks like a well-known secret is redacted whatever its key:
/// `Bearer …`, a JWT, Stripe/GitHub/Slack/AWS key formats, a PEM private key, and a card
/// number (13–19 digits passing the Luhn check).
///
/// Not redacted: free text (the message, actor and target names) and values under ordinary keys
/// that do not have a secret's shape.
public struct Redactor: Sendable {
    public static let marker = JSONValue.string("[redacted]")

    /// Words that make any key holding them sensitive (singular; plurals are read as these).
    static let secretWords: Set<String> = [
        "password", "passwd", "pwd", "passphrase", "passcode", "secret", "credential", "token", "authorization",
        "cookie", "bearer", "jwt", "otp", "totp", "csrf", "xsrf", "cvv", "cvc", "cvv2", "pan", "iban", "ssn",
        "card", "creditcard", "cardnumber", "apikey", "privatekey", "sessionid",
    ]
    /// Two neighbouring words that make a key sensitive.
    static let secretPhrases: Set<String> = [
        "api key", "private key", "secret key", "access key", "signing key", "encryption key", "session id",
        "session key", "card number", "credit card", "debit card", "account number", "routing number",
        "sort code", "bank account", "national id", "tax id", "social security", "security code", "mfa code",
        "recovery code", "backup code", "verification code", "auth code", "pin code",
    ]

    /// The configured keys (`AUDITLOG_REDACT_KEYS`), each as its words joined by a space.
    public private(set) var keys: Set<String>
    /// What `isSensitive` decided for keys seen before (events repeat their keys): this
    /// redactor's own, started afresh when keys are added.
    private var sensitiveKeys = KeyDecisions()

    /// `extraKeys` comes from `AUDITLOG_REDACT_KEYS` (comma-separated).
    public init(extraKeys: [String] = []) {
        keys = Set(extraKeys.map { Self.words($0).joined(separator: " ") }.filter { !$0.isEmpty })
    }

    /// This redactor with more keys (a tenant's own, from its settings).
    public func adding(_ extraKeys: [String]) -> Redactor {
        var copy = self
        copy.keys.formUnion(extraKeys.map { Self.words($0).joined(separator: " ") }.filter { !$0.isEmpty })
        copy.sensitiveKeys = KeyDecisions()
        return copy
    }

    /// A bounded memo of key decisions, shared by the copies of one redactor.
    final class KeyDecisions: Sendable {
        let decisions = Mutex<[String: Bool]>([:])
        static let limit = 4096

        func known(_ key: String) -> Bool? {
            decisions.withLock { $0[key] }
        }

        func remember(_ key: String, _ sensitive: Bool) {
            guard key.utf8.count <= 64 else { return }
            decisions.withLock { decisions in
                if decisions.count >= Self.limit { decisions.removeAll(keepingCapacity: true) }
                decisions[key] = sensitive
            }
        }
    }

    /// The key's words, lowercased, singular: `refreshTokens` → [refresh, token].
    static func words(_ key: String) -> [String] {
        var words: [String] = []
        var current: [UInt8] = []
        let bytes = Array(key.utf8)
        func flush() {
            guard !current.isEmpty else { return }
            var word = String(decoding: current, as: UTF8.self)
            if word.utf8.count > 3, word.hasSuffix("s"), !word.hasSuffix("ss") { word.removeLast() }
            words.append(word)
            current.removeAll(keepingCapacity: true)
        }
        for (index, byte) in bytes.enumerated() {
            let isUpper = (65...90).contains(byte), isLower = (97...122).contains(byte), isDigit = (48...57).contains(byte)
            guard isUpper || isLower || isDigit || byte >= 0x80 else { flush(); continue }
            if isUpper, !current.isEmpty {
                let last = bytes[index - 1]  // as written (current holds it lowercased)
                let lastIsLower = (97...122).contains(last) || (48...57).contains(last)
                let nextIsLower = index + 1 < bytes.count && (97...122).contains(bytes[index + 1])
                // fooBar → foo Bar; HTTPHeader → HTTP Header
                if lastIsLower || ((65...90).contains(last) && nextIsLower) { flush() }
            }
            current.append(isUpper ? byte + 32 : byte)
        }
        flush()
        return words
    }

    public func isSensitive(_ key: String) -> Bool {
        if let known = sensitiveKeys.known(key) { return known }
        let sensitive = decideSensitive(key)
        sensitiveKeys.remember(key, sensitive)
        return sensitive
    }

    private func decideSensitive(_ key: String) -> Bool {
        let words = Self.words(key)
        if words.contains(where: Self.secretWords.contains) { return true }
        for index in words.indices.dropFirst() where Self.secretPhrases.contains(words[index - 1] + " " + words[index]) { return true }
        return !keys.isEmpty && keys.contains(words.joined(separator: " "))
    }

    /// True when `text` has the shape of a well-known secret, whatever key holds it.
    public static func looksSecret(_ text: String) -> Bool {
        guard (13...16_384).contains(text.utf8.count) else { return false }
        var text = text
        return text.withUTF8 { looksSecret(bytes: $0) }
    }

    /// The prefixes of well-known API keys; an AWS key (`AKIA`, `ASIA`) must also be 20
    /// upper-case letters and digits. Made once, not per string.
    static let keyPrefixes: [(bytes: [UInt8], isAWS: Bool)] = [
        "sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_", "ghp_", "gho_", "ghs_", "ghu_", "github_pat_",
        "xoxb-", "xoxp-", "xoxa-", "glpat-", "AKIA", "ASIA",
    ].map { (Array($0.utf8), $0.hasPrefix("A")) }
    static let bearerPrefix = Array("bearer ".utf8), basicPrefix = Array("basic ".utf8), jwtPrefix = Array("eyJ".utf8)
    static let pemHeader = Array("-----BEGIN".utf8), privateKey = Array("PRIVATE KEY".utf8)

    /// `looksSecret` on the string's bytes (13 or more), without copying them.
    static func looksSecret(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        // Most strings are ruled out by their first byte: none of the prefixes below, not a
        // digit (a card number), and no PEM header anywhere.
        switch bytes[0] {
        case UInt8(ascii: "b"), UInt8(ascii: "B"), UInt8(ascii: "s"), UInt8(ascii: "r"), UInt8(ascii: "w"), UInt8(ascii: "g"),
             UInt8(ascii: "x"), UInt8(ascii: "A"), UInt8(ascii: "e"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            break
        default:
            if !contains(pemHeader, in: bytes) { return false }
        }
        func hasPrefix(_ start: [UInt8], caseInsensitive: Bool = false) -> Bool {
            guard bytes.count > start.count else { return false }
            for index in start.indices {
                let matches = caseInsensitive ? (bytes[index] | 0x20) == (start[index] | 0x20) : bytes[index] == start[index]
                if !matches { return false }
            }
            return true
        }
        if hasPrefix(bearerPrefix, caseInsensitive: true) || hasPrefix(basicPrefix, caseInsensitive: true) { return true }
        for prefix in keyPrefixes where hasPrefix(prefix.bytes) {
            return prefix.isAWS ? bytes.count == 20 && bytes.allSatisfy { (65...90).contains($0) || (48...57).contains($0) } : true
        }
        if contains(pemHeader, in: bytes), contains(privateKey, in: bytes) { return true }
        // A JWT: three base64url parts, the first a JSON header.
        if hasPrefix(jwtPrefix) {
            let parts = bytes.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
            if parts.count == 3, parts.allSatisfy({ part in part.allSatisfy { isBase64URL($0) } }), parts[1].count >= 4 { return true }
        }
        return isCardNumber(bytes)
    }

    /// True when `needle` occurs in `bytes` (a plain byte search).
    static func contains(_ needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !needle.isEmpty, bytes.count >= needle.count else { return needle.isEmpty }
        var start = 0
        while start + needle.count <= bytes.count {
            if bytes[start] == needle[0] {
                var matched = 1
                while matched < needle.count, bytes[start + matched] == needle[matched] { matched += 1 }
                if matched == needle.count { return true }
            }
            start += 1
        }
        return false
    }

    static func isBase64URL(_ byte: UInt8) -> Bool {
        (65...90).contains(byte) || (97...122).contains(byte) || (48...57).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "=")
    }

    /// 13 to 19 digits, spaces or dashes between them allowed, passing the Luhn check.
    static func isCardNumber(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var count = 0
        for byte in bytes {
            if (48...57).contains(byte) { count += 1 }
            else if byte != UInt8(ascii: " "), byte != UInt8(ascii: "-") { return false }
        }
        guard (13...19).contains(count) else { return false }
        var sum = 0, offset = 0
        for byte in bytes.reversed() where (48...57).contains(byte) {
            let digit = Int(byte - 48)
            let doubled = offset % 2 == 1 ? digit * 2 : digit
            sum += doubled > 9 ? doubled - 9 : doubled
            offset += 1
        }
        return sum % 10 == 0
    }

    /// The value with every member under a sensitive key, and every secret-shaped string, replaced.
    public func redact(_ value: JSONValue) -> JSONValue {
        needsRedaction(value) ? redacting(value) : value
    }

    /// True when `redact` would change something (a walk that builds nothing).
    func needsRedaction(_ value: JSONValue) -> Bool {
        switch value {
        case .object(let members):
            return members.contains { key, member in isSensitive(key) ? member != (member.isNull ? .null : Self.marker) : needsRedaction(member) }
        case .array(let items):
            return items.contains(where: needsRedaction)
        case .string(let text):
            return Self.looksSecret(text) && value != Self.marker
        default:
            return false
        }
    }

    private func redacting(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var result: [String: JSONValue] = [:]
            for (key, member) in members {
                result[key] = isSensitive(key) ? (member.isNull ? .null : Self.marker) : redacting(member)
            }
            return .object(result)
        case .array(let items):
            return .array(items.map(redacting))
        case .string(let text):
            return Self.looksSecret(text) ? Self.marker : value
        default:
            return value
        }
    }

    public func redact(_ object: [String: JSONValue]) -> [String: JSONValue] {
        redact(.object(object)).objectValue ?? [:]
    }

    /// Changes whose path has a sensitive component keep the fact of the change, not the values.
    public func redact(_ changes: [String: Change]) -> [String: Change] {
        // Most events have nothing to redact: then the changes are kept as they are, not rebuilt.
        guard changes.contains(where: { isSensitivePath($0.key) || needsRedaction($0.value.old) || needsRedaction($0.value.new) }) else {
            return changes
        }
        var result: [String: Change] = [:]
        for (path, change) in changes {
            if isSensitivePath(path) {
                result[path] = Change(old: change.old.isNull ? .null : Self.marker, new: change.new.isNull ? .null : Self.marker)
            } else {
                result[path] = Change(old: redact(change.old), new: redact(change.new))
            }
        }
        return result
    }

    func isSensitivePath(_ path: String) -> Bool {
        // Most paths are one key (`name`): looked up as they are, without splitting.
        guard path.utf8.contains(UInt8(ascii: ".")) else { return !path.isEmpty && isSensitive(path) }
        return path.split(separator: ".").contains { isSensitive(String($0)) }
    }
}
