import Foundation

/// Every filter a reader can ask for (SPEC §6.2), from query parameters and the `q` language.
public struct EventFilter: Sendable, Hashable {
    public enum ActionMatch: Sendable, Hashable {
        case exact(String)
        case prefix(String)
    }

    public var categories: [String] = []
    public var action: ActionMatch?
    public var actor: String?
    public var targetType: String?
    public var targetID: String?
    public var from: Date?
    public var to: Date?
    /// Field paths that must have changed (all of them).
    public var changed: [String] = []
    public var outcome: Outcome?
    /// `late:true`: only events that arrived after their hour was first sealed by a digest.
    public var lateOnly = false
    /// Full-text terms from `q`.
    public var text: [TextTerm] = []

    public init() {}

    public enum TextTerm: Sendable, Hashable {
        case word(String)
        case prefix(String)
        case phrase(String)
        case exclude(String)
    }

    /// The `tsquery` text for the full-text terms, every lexeme quoted, or nil when there are none.
    ///
    /// Words are split like the `simple` parser splits them (on anything but letters and
    /// digits) and lowercased, so no input can change the query's structure.
    public var textQuery: String? {
        var parts: [String] = []
        for term in text {
            switch term {
            case .word(let word):
                let lexemes = Self.lexemes(word)
                if !lexemes.isEmpty { parts.append("(" + lexemes.map(Self.quote).joined(separator: " <-> ") + ")") }
            case .prefix(let word):
                var lexemes = Self.lexemes(word).map(Self.quote)
                if !lexemes.isEmpty {
                    lexemes[lexemes.count - 1] += ":*"
                    parts.append("(" + lexemes.joined(separator: " <-> ") + ")")
                }
            case .phrase(let phrase):
                let lexemes = Self.lexemes(phrase)
                if !lexemes.isEmpty { parts.append("(" + lexemes.map(Self.quote).joined(separator: " <-> ") + ")") }
            case .exclude(let word):
                let lexemes = Self.lexemes(word)
                if !lexemes.isEmpty { parts.append("!(" + lexemes.map(Self.quote).joined(separator: " <-> ") + ")") }
            }
        }
        return parts.isEmpty ? nil : parts.joined(separator: " & ")
    }

    static func lexemes(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init).filter { !$0.isEmpty }.prefix(32).map { $0 }
    }

    static func quote(_ lexeme: String) -> String {
        "'" + lexeme.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
    }
}
