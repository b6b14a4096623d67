/// Replaces values under sensitive keys with `"[redacted]"`, at any depth, before anything
/// is stored or logged.
///
/// A key is sensitive when, lowercased with `-` read as `_`, it is one of the configured
/// keys, or one of its `_`-separated words is a sensitive word (`password`, `secret`,
/// `token`, …): so `access_token` and `client_secret` are caught, `company` is not.
public struct Redactor: Sendable {
    public static let marker = JSONValue.string("[redacted]")
    public static let defaultKeys: Set<String> = [
        "password", "secret", "token", "card", "card_number", "pan", "cvv", "iban", "api_key",
    ]
    static let sensitiveWords: Set<String> = ["password", "passwd", "passphrase", "secret", "token", "cvv", "cvc", "iban", "pan"]
    static let sensitivePhrases = ["api_key", "apikey", "card_number", "cardnumber", "private_key"]

    public let keys: Set<String>

    /// `extraKeys` comes from `AUDITLOG_REDACT_KEYS` (comma-separated).
    public init(extraKeys: [String] = []) {
        keys = Self.defaultKeys.union(extraKeys.map { Self.normalize($0.trimmingCharacters(in: .whitespaces)) }.filter { !$0.isEmpty })
    }

    /// ASCII-lowercased, `-` and spaces read as `_` (checked for every key of every event, so no Foundation here).
    static func normalize(_ key: String) -> String {
        var bytes = Array(key.utf8)
        for index in bytes.indices {
            switch bytes[index] {
            case 65...90: bytes[index] += 32
            case UInt8(ascii: "-"), UInt8(ascii: " "): bytes[index] = UInt8(ascii: "_")
            default: break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    public func isSensitive(_ key: String) -> Bool {
        let normalized = Self.normalize(key)
        if keys.contains(normalized) { return true }
        if normalized.utf8.split(separator: UInt8(ascii: "_")).contains(where: { Self.sensitiveWords.contains(String(decoding: $0, as: UTF8.self)) }) {
            return true
        }
        return Self.sensitivePhrases.contains { phrase in
            let needle = Array(phrase.utf8), haystack = Array(normalized.utf8)
            guard haystack.count >= needle.count else { return false }
            return (0...(haystack.count - needle.count)).contains { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
        }
    }

    /// The value with every member under a sensitive key replaced, at any depth.
    public func redact(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var result: [String: JSONValue] = [:]
            for (key, member) in members {
                result[key] = isSensitive(key) ? (member.isNull ? .null : Self.marker) : redact(member)
            }
            return .object(result)
        case .array(let items):
            return .array(items.map(redact))
        default:
            return value
        }
    }

    public func redact(_ object: [String: JSONValue]) -> [String: JSONValue] {
        redact(.object(object)).objectValue ?? [:]
    }

    /// Changes whose path has a sensitive component keep the fact of the change, not the values.
    public func redact(_ changes: [String: Change]) -> [String: Change] {
        var result: [String: Change] = [:]
        for (path, change) in changes {
            if path.split(separator: ".").contains(where: { isSensitive(String($0)) }) {
                result[path] = Change(old: change.old.isNull ? .null : Self.marker, new: change.new.isNull ? .null : Self.marker)
            } else {
                result[path] = Change(old: redact(change.old), new: redact(change.new))
            }
        }
        return result
    }
}

import Foundation
