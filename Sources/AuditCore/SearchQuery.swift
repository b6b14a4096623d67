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
/// before:2026-11-20 changed:plan "payment method" -sync acme* ConnectWise OR HubSpot`.
///
/// - `key:value` filters; `-key:value` excludes. A key repeated means any of its values;
///   different keys all apply.
/// - Free text: words, `word*` prefixes, quoted phrases, each negatable with `-`; uppercase
///   `OR` between two of them means either.
/// - Anything else (an unknown key, a bad value, parentheses, a `*` where no prefix is
///   allowed, a word with nothing to search for) is a `QueryError` naming the token.
public enum SearchQuery {
    public static let maxLength = 1000
    static let keys = ["actor", "action", "category", "target", "after", "before", "from", "to", "changed", "outcome", "late"]

    /// Adds what `q` says to `filter`: its clauses and window apply on top of what the filter
    /// already holds (a parameter and a `q` term of one key both apply).
    public static func apply(_ q: String, to filter: inout EventFilter) throws(QueryError) {
        guard q.count <= maxLength else {
            throw QueryError(parameter: "q", message: "q is longer than \(maxLength) characters")
        }
        guard !q.utf8.contains(0) else { throw QueryError(parameter: "q", message: "q contains a NUL character") }
        let parsed = try parse(tokenize(q))
        for clause in parsed.clauses { filter.clauses.append(clause) }
        filter.narrow(from: parsed.from, to: parsed.to)
        filter.text += parsed.text
    }

    /// A query parameter's values (a repeated parameter means any of them), added to `filter`.
    public static func applyParameter(_ key: String, _ values: [String], to filter: inout EventFilter) throws(QueryError) {
        var source = Source()
        for value in values {
            try source.add(key: key, value: value, negated: false, shown: "\(key)=\(value.prefix(64))", parameter: key)
        }
        for clause in source.clauses { filter.clauses.append(clause) }
        filter.narrow(from: source.from, to: source.to)
    }

    // MARK: Tokens

    enum Token: Equatable {
        /// A word or `key:value`, as written (without a leading `-`).
        case word(String, negated: Bool)
        /// `key:"quoted value"`.
        case keyValue(String, String, negated: Bool, shown: String)
        case phrase(String, negated: Bool)
        /// An uppercase `OR`.
        case or

        var shown: String {
            switch self {
            case let .word(text, negated): (negated ? "-" : "") + text
            case let .keyValue(_, _, _, shown): shown
            case let .phrase(text, negated): (negated ? "-" : "") + "\"\(text)\""
            case .or: "OR"
            }
        }
    }

    static func tokenize(_ q: String) throws(QueryError) -> [Token] {
        var tokens: [Token] = []
        var current = ""
        var inQuote = false
        var quoteStart = ""
        func bad(_ message: String) -> QueryError { QueryError(parameter: "q", message: message) }
        func flush() throws(QueryError) {
            defer { current = "" }
            guard !current.isEmpty else { return }
            if current == "OR" { tokens.append(.or); return }
            var negated = false
            var text = current
            if text.hasPrefix("-") {
                negated = true
                text.removeFirst()
                guard !text.isEmpty else { throw bad("'-' stands alone; put it right before what to exclude, as in -sync") }
            }
            tokens.append(.word(text, negated: negated))
        }
        let characters = Array(q)
        for (index, character) in characters.enumerated() {
            if inQuote {
                if character == "\"" {
                    inQuote = false
                    var start = quoteStart
                    let negated = start.hasPrefix("-")
                    if negated { start.removeFirst() }
                    if start.isEmpty {
                        guard !current.isEmpty else { throw bad("'\(quoteStart)\"\"' is an empty phrase") }
                        tokens.append(.phrase(current, negated: negated))
                    } else if start.hasSuffix(":"), start.count > 1 {
                        guard !current.isEmpty else { throw bad("'\(quoteStart)\"\"' needs a value in the quotes") }
                        tokens.append(.keyValue(String(start.dropLast()), current, negated: negated,
                                                shown: "\(quoteStart)\"\(current.prefix(64))\""))
                    } else {
                        throw bad("'\(quoteStart)\"\(current.prefix(64))\"': a quote starts a phrase or a key's value (actor:\"Eve Ng\")")
                    }
                    current = ""
                    quoteStart = ""
                } else {
                    current.append(character)
                }
            } else if character == "\"" {
                inQuote = true
                quoteStart = current
                current = ""
            } else if character.isWhitespace {
                try flush()
            } else if character == "(" || character == ")" {
                let rest = characters[index...].prefix { !$0.isWhitespace && $0 != "\"" }
                throw bad("'\(current)\(String(rest).prefix(64))': parentheses are not part of the search language; quote them in a phrase")
            } else {
                current.append(character)
            }
        }
        if inQuote {
            throw bad("q has an unbalanced quote: \(quoteStart)\"\(current.prefix(40))")
        }
        try flush()
        return tokens
    }

    // MARK: Parsing

    /// What one source (one `q`, or one parameter's values) says: its clauses, one for each key
    /// and sign (a key repeated means any of its values), its window, its text groups.
    struct Source {
        var clauses: [EventFilter.Clause] = []
        /// `after:` values (any: the earliest), `before:` values (any: the latest).
        var after: Date?
        var before: Date?
        /// Negated `before:`/`after:`, each of which applies.
        var notBefore: Date?
        var notAfter: Date?
        var text: [[EventFilter.TextTerm]] = []

        var from: Date? { [after, notBefore].compactMap { $0 }.max() }
        var to: Date? { [before, notAfter].compactMap { $0 }.min() }

        mutating func add(key: String, value: String, negated: Bool, shown: String, parameter: String) throws(QueryError) {
            func bad(_ message: String) -> QueryError { QueryError(parameter: parameter, message: message) }
            guard !value.utf8.contains(0) else { throw bad("'\(key)' contains a NUL character") }
            guard !value.isEmpty else { throw bad("'\(shown)' needs a value after the colon") }
            switch key {
            case "after", "from", "before", "to":
                let lower = key == "after" || key == "from"
                guard let date = SearchQuery.parseDate(value) else {
                    throw bad("'\(shown)' is not a date (2026-11-01) or an RFC 3339 time in the years 0001-9999")
                }
                switch (lower, negated) {
                case (true, false): after = min(after ?? date, date)
                case (false, false): before = max(before ?? date, date)
                case (true, true): notAfter = min(notAfter ?? date, date)
                case (false, true): notBefore = max(notBefore ?? date, date)
                }
                return
            default:
                break
            }
            let values = try SearchQuery.values(key, value, shown: shown, parameter: parameter)
            let clause = EventFilter.Clause(values, negated: negated)
            if let index = clauses.firstIndex(where: { $0.negated == negated && $0.values.key == key }),
               let merged = clauses[index].values.merged(with: values) {
                clauses[index].values = merged
            } else {
                clauses.append(clause)
            }
        }
    }

    static func parse(_ tokens: [Token]) throws(QueryError) -> Source {
        var source = Source()
        func bad(_ message: String) -> QueryError { QueryError(parameter: "q", message: message) }
        var index = 0
        while index < tokens.count {
            let token = tokens[index]
            if token == .or {
                throw bad("'OR' needs a word or phrase on each side, as in ConnectWise OR HubSpot")
            }
            if let (key, value, negated) = try keyValue(token) {
                if index + 1 < tokens.count, tokens[index + 1] == .or {
                    throw bad("'\(token.shown) OR': OR joins words and phrases; for any of several values repeat the key (\(key):a \(key):b)")
                }
                try source.add(key: key, value: value, negated: negated, shown: token.shown, parameter: "q")
                index += 1
                continue
            }
            // Free text: this term and any joined to it by OR.
            var group = [try textTerm(token)]
            index += 1
            while index < tokens.count, tokens[index] == .or {
                guard index + 1 < tokens.count else { throw bad("'OR' at the end needs a word or phrase after it") }
                let next = tokens[index + 1]
                if try keyValue(next) != nil || next == .or {
                    throw bad("'OR \(next.shown)': OR joins words and phrases; for any of several values repeat the key")
                }
                group.append(try textTerm(next))
                index += 2
            }
            source.text.append(group)
        }
        return source
    }

    /// The key, value and sign of a `key:value` token, nil for free text.
    static func keyValue(_ token: Token) throws(QueryError) -> (String, String, Bool)? {
        switch token {
        case let .keyValue(key, value, negated, shown):
            let lowered = key.lowercased()
            guard keys.contains(lowered) else { throw unknownKey(lowered, shown) }
            return (lowered, value, negated)
        case let .word(word, negated):
            guard let colon = word.firstIndex(of: ":"), colon != word.startIndex else { return nil }
            let key = String(word[..<colon]).lowercased()
            let value = String(word[word.index(after: colon)...])
            if keys.contains(key) { return (key, value, negated) }
            // A word with a colon that is not a key (10:30, https://…) is free text; only one
            // shaped like a key is an unknown key.
            if key.allSatisfy({ $0.isLetter || $0 == "_" }), !value.hasPrefix("//") {
                throw unknownKey(key, (negated ? "-" : "") + word)
            }
            return nil
        case .phrase, .or:
            return nil
        }
    }

    static func unknownKey(_ key: String, _ shown: String) -> QueryError {
        QueryError(parameter: "q", message: "unknown search key '\(key.prefix(64)):' in '\(shown.prefix(80))'; known keys: \(keys.joined(separator: ", "))")
    }

    static func textTerm(_ token: Token) throws(QueryError) -> EventFilter.TextTerm {
        func bad(_ message: String) -> QueryError { QueryError(parameter: "q", message: message) }
        switch token {
        case let .phrase(text, negated):
            guard !text.contains("*") else {
                throw bad("'\(token.shown.prefix(80))': a phrase is searched as written; a prefix goes on a word outside quotes (acme*)")
            }
            guard !EventFilter.lexemes(text).isEmpty else { throw nothingToSearch(token) }
            return EventFilter.TextTerm(.phrase, text, negated: negated)
        case let .word(word, negated):
            var kind = EventFilter.TextTerm.Kind.word
            var text = word
            if text.hasSuffix("*") {
                kind = .prefix
                text.removeLast()
            }
            guard !text.contains("*") else {
                throw bad("'\(token.shown.prefix(80))': '*' only ends a word, as in acme*, or a value of action:, changed: or target:")
            }
            guard !EventFilter.lexemes(text).isEmpty else { throw nothingToSearch(token) }
            return EventFilter.TextTerm(kind, text, negated: negated)
        case .keyValue, .or:
            throw bad("'\(token.shown.prefix(80))' is not free text")
        }
    }

    static func nothingToSearch(_ token: Token) -> QueryError {
        QueryError(parameter: "q", message: "'\(token.shown.prefix(80))' has no letters or digits to search for")
    }

    // MARK: Values

    /// One key's value as a filter, checked as strictly as ingest checks what it stores.
    /// `shown` is the offending text as given: the `q` term, or a parameter's name and value.
    static func values(_ key: String, _ value: String, shown: String, parameter: String) throws(QueryError) -> EventFilter.Values {
        func bad(_ message: String) -> QueryError { QueryError(parameter: parameter, message: message) }
        func noPrefix() -> QueryError {
            bad("'\(shown)': \(key) takes no '*'; a prefix works for action:, changed: and target: ids")
        }
        guard !value.utf8.contains(0) else { throw bad("'\(key)' contains a NUL character") }
        switch key {
        case "actor":
            guard !value.contains("*") else { throw noPrefix() }
            guard value.count <= 256 else { throw bad("'\(shown)': an actor id or email is at most 256 characters") }
            return .actor([value])
        case "action":
            if value.hasSuffix("*") {
                let prefix = String(value.dropLast())
                guard !prefix.isEmpty, prefix.count <= 128,
                      prefix.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_" || $0 == ".") }) else {
                    throw bad("'\(shown)': an action is lowercase dotted words, optionally ending in * (client.*)")
                }
                return .action([.prefix(prefix)])
            }
            guard EventValidator.isAction(value) else { throw bad("'\(shown)': an action is lowercase dotted words such as client.renamed") }
            return .action([.exact(value)])
        case "category":
            guard !value.contains("*") else { throw noPrefix() }
            guard EventValidator.isCategory(value) else { throw bad("'\(shown)': a category is a lowercase word such as billing") }
            return .category([value])
        case "target":
            let parts = value.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, EventValidator.isWord(String(parts[0]), limit: 64), (1...257).contains(parts[1].count) else {
                throw bad("'\(shown)': a target is type/id, such as client/c_1478 (or client/c_14* for ids starting c_14)")
            }
            var id = String(parts[1])
            if id.hasSuffix("*") {
                id.removeLast()
                guard !id.isEmpty, !id.contains("*") else { throw bad("'\(shown)': a target id prefix needs a start, as in client/c_14*") }
                return .target([.init(type: String(parts[0]), id: .prefix(id))])
            }
            guard id.count <= 256, !id.contains("*") else { throw bad("'\(shown)': a target id is at most 256 characters, '*' only at its end") }
            return .target([.init(type: String(parts[0]), id: .exact(id))])
        case "changed":
            var path = value
            let prefix = path.hasSuffix("*")
            if prefix { path.removeLast() }
            guard !path.isEmpty, path.count <= 256, !path.hasPrefix("."), !path.contains("*"), prefix || !path.hasSuffix(".") else {
                throw bad("'\(shown)': changed takes a field path such as plan or plan.name, or a prefix such as settings.*")
            }
            return .changed([prefix ? .prefix(path) : .exact(path)])
        case "outcome":
            guard let outcome = Outcome(rawValue: value) else { throw bad("'\(shown)': outcome is success or failure") }
            return .outcome([outcome])
        case "late":
            guard value == "true" else {
                throw bad("'\(shown)': late takes true (events that arrived after their hour was sealed); -late:true excludes them")
            }
            return .late
        default:
            throw bad("unknown filter '\(key)'")
        }
    }

    /// One `key:value` clause, for a view's own narrowing (`/actors/{id}/events`).
    public static func clause(_ key: String, _ value: String, parameter: String) throws(QueryError) -> EventFilter.Clause {
        EventFilter.Clause(try values(key, value, shown: "\(parameter)=\(value.prefix(64))", parameter: parameter))
    }

    /// `2026-11-01` (midnight UTC) or a full RFC 3339 time.
    public static func parseDate(_ text: String) -> Date? {
        if text.count == 10, let date = Timestamp.parse(text + "T00:00:00Z") { return date }
        return Timestamp.parse(text)
    }
}
