import Foundation

/// A problem with a reader's query, naming the offending token (answered as 400).
public struct QueryError: Error, Sendable, Equatable {
    public var parameter: String
    public var message: String

    public init(parameter: String, message: String) {
        self.parameter = parameter
        self.message = message
    }
}

/// The search language of `q` (SPEC §6.2):
/// `actor:u_7 action:client.* category:billing target:client/c_1478 after:2026-11-01
/// before:2026-11-20 changed:plan outcome:failure "payment method" -sync acme*`.
public enum SearchQuery {
    public static let maxLength = 1000
    static let keys = ["actor", "action", "category", "target", "after", "before", "from", "to", "changed", "outcome", "late"]

    /// Adds what `q` says to `filter`.
    public static func apply(_ q: String, to filter: inout EventFilter) throws(QueryError) {
        guard q.count <= maxLength else {
            throw QueryError(parameter: "q", message: "q is longer than \(maxLength) characters")
        }
        guard !q.utf8.contains(0) else { throw QueryError(parameter: "q", message: "q contains a NUL character") }
        for token in try tokenize(q) {
            switch token {
            case .phrase(let text): filter.text.append(.phrase(text))
            case .word(let word): try applyWord(word, to: &filter)
            }
        }
    }

    enum Token: Equatable {
        case word(String)
        case phrase(String)
    }

    static func tokenize(_ q: String) throws(QueryError) -> [Token] {
        var tokens: [Token] = []
        var current = ""
        var inQuote = false
        var quoteStart = ""
        for character in q {
            if inQuote {
                if character == "\"" {
                    inQuote = false
                    if current.hasSuffix(":") || quoteStart.contains(":") {
                        tokens.append(.word(quoteStart + current))
                    } else if !current.isEmpty {
                        tokens.append(.phrase(current))
                    }
                    current = ""
                    quoteStart = ""
                } else {
                    current.append(character)
                }
            } else if character == "\"" {
                inQuote = true
                quoteStart = current  // e.g. actor:"Alice Smith" keeps its key
                current = ""
            } else if character.isWhitespace {
                if !current.isEmpty { tokens.append(.word(current)) }
                current = ""
            } else {
                current.append(character)
            }
        }
        if inQuote {
            throw QueryError(parameter: "q", message: "q has an unbalanced quote: \"\(quoteStart)\"\(current.prefix(40))")
        }
        if !current.isEmpty { tokens.append(.word(current)) }
        return tokens
    }

    static func applyWord(_ word: String, to filter: inout EventFilter) throws(QueryError) {
        if word.hasPrefix("-"), word.count > 1 {
            filter.text.append(.exclude(String(word.dropFirst())))
            return
        }
        if let colon = word.firstIndex(of: ":"), colon != word.startIndex {
            let key = String(word[..<colon]).lowercased()
            let value = String(word[word.index(after: colon)...])
            guard keys.contains(key) else {
                // A word with a colon that is not a key (e.g. "10:30") is an unknown key only if it looks like one.
                if key.allSatisfy({ $0.isLetter || $0 == "_" }) {
                    throw QueryError(parameter: "q", message: "unknown search key '\(key):' in '\(word)'; known keys: \(keys.joined(separator: ", "))")
                }
                filter.text.append(.word(word))
                return
            }
            guard !value.isEmpty else {
                throw QueryError(parameter: "q", message: "'\(word)' needs a value after the colon")
            }
            try applyKey(key, value, token: word, to: &filter)
            return
        }
        if word.hasSuffix("*"), word.count > 1 {
            filter.text.append(.prefix(String(word.dropLast())))
        } else {
            filter.text.append(.word(word))
        }
    }

    /// Applies one `key:value`; also used for the plain query parameters.
    public static func applyKey(_ key: String, _ value: String, token: String, to filter: inout EventFilter) throws(QueryError) {
        func bad(_ message: String) -> QueryError { QueryError(parameter: key == token ? key : "q", message: message) }
        // The offending text as given: the `q` term, or for a query parameter its name and value.
        let shown = key == token ? "\(key)=\(value.prefix(64))" : token
        guard !value.utf8.contains(0) else { throw bad("'\(key)' contains a NUL character") }
        switch key {
        case "actor":
            guard value.count <= 256 else { throw bad("'\(shown)': actor ids are at most 256 characters") }
            filter.actor = value
        case "action":
            if value.hasSuffix("*") {
                let prefix = String(value.dropLast())
                guard prefix.isEmpty || prefix.allSatisfy({ $0.isLowercase || $0.isNumber || $0 == "_" || $0 == "." }), prefix.count <= 128 else {
                    throw bad("'\(shown)': an action is lowercase dotted words, optionally ending in *")
                }
                if !prefix.isEmpty { filter.action = .prefix(prefix) }
            } else {
                guard EventValidator.isAction(value) else { throw bad("'\(shown)': an action is lowercase dotted words such as client.renamed") }
                filter.action = .exact(value)
            }
        case "category":
            guard EventValidator.isWord(value, limit: 64) else { throw bad("'\(shown)': a category is a lowercase word such as billing") }
            if !filter.categories.contains(value) { filter.categories.append(value) }
        case "target":
            let parts = value.split(separator: "/", maxSplits: 1)
            guard parts.count == 2, EventValidator.isWord(String(parts[0]), limit: 64), (1...256).contains(parts[1].count) else {
                throw bad("'\(shown)': a target is type/id, such as client/c_1478")
            }
            filter.targetType = String(parts[0])
            filter.targetID = String(parts[1])
        case "after", "from":
            guard let date = parseDate(value) else { throw bad("'\(shown)' is not a date (2026-11-01) or an RFC 3339 time in the years 0001-9999") }
            filter.from = date
        case "before", "to":
            guard let date = parseDate(value) else { throw bad("'\(shown)' is not a date (2026-11-20) or an RFC 3339 time in the years 0001-9999") }
            filter.to = date
        case "changed":
            guard !value.isEmpty, value.count <= 256, !value.hasPrefix("."), !value.hasSuffix(".") else {
                throw bad("'\(shown)': changed takes a field path such as plan or plan.name")
            }
            if !filter.changed.contains(value) { filter.changed.append(value) }
        case "outcome":
            guard let outcome = Outcome(rawValue: value) else { throw bad("'\(shown)': outcome is success or failure") }
            filter.outcome = outcome
        case "late":
            guard value == "true" else { throw bad("'\(shown)': late takes true (events that arrived after their hour was sealed)") }
            filter.lateOnly = true
        default:
            throw bad("unknown filter '\(key)'")
        }
    }

    /// `2026-11-01` (midnight UTC) or a full RFC 3339 time.
    public static func parseDate(_ text: String) -> Date? {
        if text.count == 10, let date = Timestamp.parse(text + "T00:00:00Z") { return date }
        return Timestamp.parse(text)
    }
}
