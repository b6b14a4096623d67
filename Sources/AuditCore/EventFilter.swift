import Foundation

/// Every filter a reader can ask for (SPEC §6.2), from query parameters and the `q` language.
///
/// A filter is a conjunction: every clause, the time window and every text group apply. A
/// clause holds one key's values, any of which may match (a key repeated in `q`, or a
/// repeated parameter); a negated clause matches when none does. A parameter and a `q` term
/// of the same key are two clauses, so both apply.
public struct EventFilter: Sendable, Hashable {
    /// A value matched whole, or (`value*`) as a prefix.
    public enum Match: Sendable, Hashable {
        case exact(String)
        case prefix(String)
    }

    /// A target: its type, and its id whole or as a prefix.
    public struct TargetMatch: Sendable, Hashable {
        public var type: String
        public var id: Match

        public init(type: String, id: Match) {
            self.type = type
            self.id = id
        }
    }

    /// One key's values (any of them matches).
    public enum Values: Sendable, Hashable {
        /// Actor ids or emails.
        case actor([String])
        case action([Match])
        case category([String])
        case target([TargetMatch])
        /// Field paths that changed (with all their prefixes: `plan` finds `plan.name`).
        case changed([Match])
        case outcome([Outcome])
        /// Arrived after its hour was first sealed by a digest.
        case late

        /// The search key this is written with.
        public var key: String {
            switch self {
            case .actor: "actor"
            case .action: "action"
            case .category: "category"
            case .target: "target"
            case .changed: "changed"
            case .outcome: "outcome"
            case .late: "late"
            }
        }

        /// The same key's values together (a key repeated means any of them).
        func merged(with other: Values) -> Values? {
            switch (self, other) {
            case let (.actor(a), .actor(b)): .actor(Self.union(a, b))
            case let (.action(a), .action(b)): .action(Self.union(a, b))
            case let (.category(a), .category(b)): .category(Self.union(a, b))
            case let (.target(a), .target(b)): .target(Self.union(a, b))
            case let (.changed(a), .changed(b)): .changed(Self.union(a, b))
            case let (.outcome(a), .outcome(b)): .outcome(Self.union(a, b))
            case (.late, .late): .late
            default: nil
            }
        }

        static func union<T: Equatable>(_ a: [T], _ b: [T]) -> [T] {
            a + b.filter { !a.contains($0) }
        }
    }

    /// One key's values, or (negated) none of them.
    public struct Clause: Sendable, Hashable {
        public var values: Values
        public var negated: Bool

        public init(_ values: Values, negated: Bool = false) {
            self.values = values
            self.negated = negated
        }
    }

    /// One free-text term: a word, a `word*` prefix or a quoted phrase, possibly negated.
    public struct TextTerm: Sendable, Hashable {
        public enum Kind: Sendable, Hashable {
            case word
            case prefix
            case phrase
        }

        public var kind: Kind
        public var text: String
        public var negated: Bool

        public init(_ kind: Kind, _ text: String, negated: Bool = false) {
            self.kind = kind
            self.text = text
            self.negated = negated
        }
    }

    public var clauses: [Clause] = []
    /// The window: `occurred_at >= from` and `occurred_at < to`.
    public var from: Date?
    public var to: Date?
    /// Full-text groups, all of which apply; each is terms joined by `OR` (any applies).
    public var text: [[TextTerm]] = []

    public init() {}

    /// Narrows the window to `[from, to)` as well (both apply).
    public mutating func narrow(from lower: Date?, to upper: Date?) {
        if let lower { from = max(from ?? lower, lower) }
        if let upper { to = min(to ?? upper, upper) }
    }

    /// The filter without any clause of `key` (the category counts of a view).
    public func without(_ key: String) -> EventFilter {
        var filter = self
        filter.clauses.removeAll { $0.values.key == key }
        return filter
    }

    // MARK: The shape the database's search function takes

    /// The filter as `audit.search_events` and `audit.target_events` take it (one value per
    /// key, nothing negated), or nil when it says more than they can.
    public struct Simple: Sendable, Hashable {
        public var categories: [String] = []
        public var action: Match?
        public var actor: String?
        public var targetType: String?
        public var targetID: String?
        /// Field paths that must all have changed.
        public var changed: [String] = []
        public var outcome: Outcome?
        public var lateOnly = false
    }

    /// See `Simple`. An actor value with an `@` may be an email, which the function does not match.
    public var simple: Simple? {
        var simple = Simple()
        var seen: Set<String> = []
        for clause in clauses {
            guard !clause.negated else { return nil }
            let key = clause.values.key
            if key != "changed" {
                guard !seen.contains(key) else { return nil }
                seen.insert(key)
            }
            switch clause.values {
            case .actor(let ids):
                guard ids.count == 1, !ids[0].contains("@") else { return nil }
                simple.actor = ids[0]
            case .action(let matches):
                guard matches.count == 1 else { return nil }
                simple.action = matches[0]
            case .category(let names):
                simple.categories = names
            case .target(let targets):
                guard targets.count == 1, case .exact(let id) = targets[0].id else { return nil }
                (simple.targetType, simple.targetID) = (targets[0].type, id)
            case .changed(let paths):
                guard paths.count == 1, case .exact(let path) = paths[0] else { return nil }
                if !simple.changed.contains(path) { simple.changed.append(path) }
            case .outcome(let outcomes):
                guard outcomes.count == 1 else { return nil }
                simple.outcome = outcomes[0]
            case .late:
                simple.lateOnly = true
            }
        }
        return simple
    }

    /// True when the filter names a single whole target and nothing else but dates.
    public var isTargetAndDatesOnly: Bool {
        text.isEmpty && clauses.count == 1 && simple?.targetType != nil
    }

    // MARK: Full text

    /// The lexemes of a text as the `simple` configuration makes them.
    public static func lexemes(_ text: String) -> [String] {
        text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init).filter { !$0.isEmpty }.prefix(32).map { $0 }
    }

    /// A word as one whole lowercased token (how identifiers are indexed), or nil for a word too
    /// long to be one.
    public static func wholeToken(_ word: String) -> String? {
        let token = word.lowercased()
        return token.utf8.count <= 256 ? token : nil
    }

    /// A lexeme quoted for `tsquery` input.
    public static func quote(_ lexeme: String) -> String {
        "'" + lexeme.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
    }
}
