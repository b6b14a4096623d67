/// A message template compiled once, at load, into text and resolved lookups, so rendering an
/// event's message reads the draft's fields directly: no dictionaries of `Any` built per event
/// and no dynamic casts (issue 17: Mustache's per-event context cost a quarter of ingest CPU).
///
/// It covers what the shipped templates use: `{{{path}}}`, `{{#path}}…{{/path}}` and
/// `{{^path}}…{{/path}}` on one line. A template with anything else does not compile, and a
/// lookup whose value is not a plain scalar (an object, a list, a path through a changed value)
/// makes `render` answer nil; `MessageRenderer` then renders with Mustache itself, so every
/// message is exactly what Mustache writes (`MessageRendererTests` compares the two).
struct MessageTemplate: Sendable {
    indirect enum Node: Sendable {
        case text(String)
        case value(Lookup)
        case section(Lookup, [Node], inverted: Bool)
    }

    /// Where a name points in an `EventDraft` (the values `MessageRenderer.templateValues` gives Mustache).
    enum Lookup: Sendable {
        case action, category
        case actor(String)
        case target(index: Int, field: String)
        case before(String), after(String)
        case metadata([String])
        /// A name the template values do not have: Mustache renders nothing for it.
        case absent
        /// A name whose value is an object or a list: left to Mustache.
        case unsupported
    }

    /// What a lookup found: a scalar's text, `true`/`false`, or nothing.
    enum Found {
        case text(String)
        case bool(Bool)
        case missing
    }

    let nodes: [Node]

    /// Nil when the template uses more than this compiler covers.
    init?(_ source: String) {
        var body = Substring(source)
        if body.hasSuffix("\n") { body = body.dropLast() }
        guard !body.contains("\n"), !body.contains("\r") else { return nil }
        var stack: [(name: String, lookup: Lookup, inverted: Bool, nodes: [Node])] = []
        var current: [Node] = []
        var rest = body
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { current.append(.text(String(rest[..<open.lowerBound]))) }
            rest = rest[open.upperBound...]
            if rest.hasPrefix("{") {
                guard let close = rest.range(of: "}}}") else { return nil }
                let name = rest[rest.index(after: rest.startIndex)..<close.lowerBound].trimmingCharacters(in: .whitespaces)
                current.append(.value(Self.lookup(name)))
                rest = rest[close.upperBound...]
                continue
            }
            guard let close = rest.range(of: "}}"), let sigil = rest.first else { return nil }
            let name = rest[rest.index(after: rest.startIndex)..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            rest = rest[close.upperBound...]
            switch sigil {
            case "#", "^":
                stack.append((name, Self.lookup(name), sigil == "^", current))
                current = []
            case "/":
                guard let section = stack.popLast(), section.name == name else { return nil }
                let node = Node.section(section.lookup, current, inverted: section.inverted)
                current = section.nodes + [node]
            default:
                return nil  // escaped variables, comments, partials, delimiters: Mustache's
            }
        }
        guard stack.isEmpty else { return nil }
        if !rest.isEmpty { current.append(.text(String(rest))) }
        nodes = current
    }

    static func lookup(_ name: String) -> Lookup {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let root = parts.first, !parts.contains(where: \.isEmpty) else { return .unsupported }
        let rest = parts.dropFirst()
        switch root {
        case "action": return rest.isEmpty ? .action : .absent
        case "category": return rest.isEmpty ? .category : .absent
        case "actor":
            guard rest.count == 1 else { return rest.isEmpty ? .unsupported : .absent }
            return ["type", "id", "name", "email"].contains(rest.first!) ? .actor(rest.first!) : .absent
        case "target", "second_target":
            guard rest.count == 1 else { return rest.isEmpty ? .unsupported : .absent }
            return ["type", "id", "name"].contains(rest.first!) ? .target(index: root == "target" ? 0 : 1, field: rest.first!) : .absent
        case "before", "after":
            guard !rest.isEmpty else { return .unsupported }
            let path = rest.joined(separator: ".")
            return root == "before" ? .before(path) : .after(path)
        case "metadata":
            return rest.isEmpty ? .unsupported : .metadata(Array(rest))
        case "targets":
            return .unsupported
        default:
            return .absent
        }
    }

    /// The message, or nil when a lookup needs Mustache.
    func render(_ draft: EventDraft) -> String? {
        var output = ""
        return Self.render(nodes, draft, into: &output) ? output : nil
    }

    private static func render(_ nodes: [Node], _ draft: EventDraft, into output: inout String) -> Bool {
        for node in nodes {
            switch node {
            case .text(let text):
                output += text
            case .value(let lookup):
                guard let found = resolve(lookup, draft) else { return false }
                switch found {
                case .text(let text): output += text
                case .bool(let value): output += value ? "true" : "false"
                case .missing: break
                }
            case .section(let lookup, let children, let inverted):
                guard let found = resolve(lookup, draft) else { return false }
                let truthy: Bool
                switch found {
                case .text: truthy = true
                case .bool(let value): truthy = value
                case .missing: truthy = false
                }
                if truthy != inverted, !render(children, draft, into: &output) { return false }
            }
        }
        return true
    }

    /// The value Mustache would find, or nil when it would be an object or a list.
    static func resolve(_ lookup: Lookup, _ draft: EventDraft) -> Found? {
        switch lookup {
        case .action: return .text(draft.action)
        case .category: return .text(draft.category)
        case .actor(let field):
            switch field {
            case "type": return .text(draft.actor.type)
            case "id": return .text(draft.actor.id)
            case "name": return .text(draft.actor.name ?? draft.actor.id)
            default: return .text(draft.actor.email ?? "")
            }
        case .target(let index, let field):
            guard draft.targets.count > index else { return .missing }
            let target = draft.targets[index]
            switch field {
            case "type": return .text(target.type)
            case "id": return .text(target.id)
            default: return .text(target.name ?? target.id)
            }
        case .before(let path): return change(path, draft, old: true)
        case .after(let path): return change(path, draft, old: false)
        case .metadata(let path):
            guard let first = path.first, var value = draft.metadata[first] else { return .missing }
            for key in path.dropFirst() {
                guard case .object(let members) = value else { return value.isContainer ? nil : .missing }
                guard let next = members[key] else { return .missing }
                value = next
            }
            return scalar(value)
        case .absent: return .missing
        case .unsupported: return nil
        }
    }

    /// `before.<path>` / `after.<path>` as `Changes.nest` builds them: the changed path's value;
    /// nil (Mustache's) when the path runs through or above another changed path.
    static func change(_ path: String, _ draft: EventDraft, old: Bool) -> Found? {
        for key in draft.changes.keys where key != path && (key.hasPrefix(path + ".") || path.hasPrefix(key + ".")) {
            return nil
        }
        guard let change = draft.changes[path] else { return .missing }
        return scalar(old ? change.old : change.new)
    }

    static func scalar(_ value: JSONValue) -> Found? {
        switch value {
        case .null: return .text("")
        case .bool(let flag): return .bool(flag)
        case .number(let number): return .text(JSONValue.format(number))
        case .string(let text): return .text(text)
        case .array, .object: return nil
        }
    }
}

extension JSONValue {
    var isContainer: Bool {
        switch self {
        case .array, .object: true
        default: false
        }
    }
}
