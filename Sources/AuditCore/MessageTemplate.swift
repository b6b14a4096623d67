/// A message template compiled once, at load, into text and resolved lookups, so rendering an
/// event's message reads the draft's fields directly: no dictionaries of `Any` built per event
/// and no dynamic casts (issue 17: Mustache's per-event context cost a quarter of ingest CPU).
///
/// It covers what the shipped templates use: `{{{path}}}`, `{{#path}}…{{/path}}` and
/// `{{^path}}…{{/path}}` on one line. A template with anything else does not compile. Values
/// are scalars or objects (written as their canonical JSON, as `TemplateObject` gives them to
/// Mustache); a list, or a name that an enclosing section's object could answer, makes `render`
/// answer nil, and `MessageRenderer` then renders with Mustache itself. Either way the message
/// is exactly what Mustache writes (`MessageRendererTests` compares the two).
struct MessageTemplate: Sendable {
    indirect enum Node: Sendable {
        case text(String)
        case value(Name)
        case section(Name, [Node], inverted: Bool)
    }

    /// A name in the template: its first part (what Mustache looks for up the context stack)
    /// and where it points in the draft.
    struct Name: Sendable {
        var root: Substring
        var lookup: Lookup
        /// As written, for matching a section's closing tag.
        var text: String
    }

    /// Where a name points in an `EventDraft` (the values `MessageRenderer.templateValues` gives Mustache).
    enum Lookup: Sendable {
        case action, category
        case actor(String)
        case target(index: Int, field: String)
        case before(ChangePath), after(ChangePath)
        case metadata([String])
        /// A name the template values do not have: Mustache renders nothing for it.
        case absent
        /// A name whose value is an object or a list: left to Mustache.
        case unsupported
    }

    /// What a lookup found: a scalar's text, `true`/`false`, an object, or nothing.
    enum Found {
        case text(String)
        case bool(Bool)
        case object([String: JSONValue])
        case missing
    }

    let nodes: [Node]

    /// Nil when the template uses more than this compiler covers.
    init?(_ source: String) {
        var body = Substring(source)
        if body.hasSuffix("\n") { body = body.dropLast() }
        guard !body.contains("\n"), !body.contains("\r") else { return nil }
        var stack: [(name: Name, inverted: Bool, nodes: [Node])] = []
        var current: [Node] = []
        var rest = body
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { current.append(.text(String(rest[..<open.lowerBound]))) }
            rest = rest[open.upperBound...]
            if rest.hasPrefix("{") {
                guard let close = rest.range(of: "}}}") else { return nil }
                let name = rest[rest.index(after: rest.startIndex)..<close.lowerBound].trimmingCharacters(in: .whitespaces)
                current.append(.value(Self.name(name)))
                rest = rest[close.upperBound...]
                continue
            }
            guard let close = rest.range(of: "}}"), let sigil = rest.first else { return nil }
            let name = rest[rest.index(after: rest.startIndex)..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            rest = rest[close.upperBound...]
            switch sigil {
            case "#", "^":
                stack.append((Self.name(name), sigil == "^", current))
                current = []
            case "/":
                guard let section = stack.popLast(), section.name.text == name else { return nil }
                let node = Node.section(section.name, current, inverted: section.inverted)
                current = section.nodes + [node]
            default:
                return nil  // escaped variables, comments, partials, delimiters: Mustache's
            }
        }
        guard stack.isEmpty else { return nil }
        if !rest.isEmpty { current.append(.text(String(rest))) }
        nodes = current
    }

    static func name(_ text: String) -> Name {
        Name(root: text.prefix { $0 != "." }, lookup: lookup(text), text: text)
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
            return root == "before" ? .before(ChangePath(Array(rest))) : .after(ChangePath(Array(rest)))
        case "metadata":
            return .metadata(Array(rest))
        case "targets":
            return .unsupported
        default:
            return .absent
        }
    }

    /// The message, or nil when a lookup needs Mustache.
    func render(_ draft: EventDraft) -> String? {
        var output = ""
        var state = RenderState()
        return Self.render(nodes, draft, &state, into: &output) ? output : nil
    }

    /// What one render keeps: the objects of the sections being rendered, innermost last (Mustache
    /// looks a name up in them before the top-level values, so a name one of them has is left to
    /// it), and the nested before/after values, made at most once.
    private struct RenderState {
        var scopes: [[String: JSONValue]] = []
        var nested: [Bool: [String: JSONValue]] = [:]

        mutating func nested(_ draft: EventDraft, old: Bool) -> [String: JSONValue] {
            if let made = nested[old] { return made }
            let made = Changes.nest(draft.changes.mapValues { old ? $0.old : $0.new })
            nested[old] = made
            return made
        }
    }

    private static func render(_ nodes: [Node], _ draft: EventDraft, _ state: inout RenderState, into output: inout String) -> Bool {
        for node in nodes {
            switch node {
            case .text(let text):
                output += text
            case .value(let name):
                guard let found = resolve(name, draft, &state) else { return false }
                switch found {
                case .text(let text): output += text
                case .bool(let value): output += value ? "true" : "false"
                case .object(let members): output += MessageRenderer.text(of: members)
                case .missing: break
                }
            case .section(let name, let children, let inverted):
                guard let found = resolve(name, draft, &state) else { return false }
                switch found {
                case .text, .bool(true), .object:
                    guard !inverted else { continue }
                    if case .object(let members) = found { state.scopes.append(members) }
                    let rendered = render(children, draft, &state, into: &output)
                    if case .object = found { state.scopes.removeLast() }
                    if !rendered { return false }
                case .bool(false), .missing:
                    if inverted, !render(children, draft, &state, into: &output) { return false }
                }
            }
        }
        return true
    }

    /// The value Mustache would find, or nil when it would be a list or a section's object answers the name.
    private static func resolve(_ name: Name, _ draft: EventDraft, _ state: inout RenderState) -> Found? {
        for scope in state.scopes where scope[String(name.root)] != nil { return nil }
        switch name.lookup {
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
        case .before(let path): return change(path, draft, old: true, &state)
        case .after(let path): return change(path, draft, old: false, &state)
        case .metadata(let path): return walk(draft.metadata, path)
        case .absent: return .missing
        case .unsupported: return nil
        }
    }

    /// A changed field's path in a template (`plan.name`), with what finding overlapping changed
    /// paths needs made once, when the template compiles.
    struct ChangePath: Sendable {
        var parts: [String]
        var path: String
        /// `path` and a dot: a changed path starting with it runs below this one.
        var below: String
        /// The paths this one runs below (`plan` for `plan.name`).
        var above: Set<String>

        init(_ parts: [String]) {
            self.parts = parts
            path = parts.joined(separator: ".")
            below = path + "."
            above = Set((1..<parts.count).map { parts[..<$0].joined(separator: ".") })
        }

        /// True when `key` is another changed path through or below this one.
        func overlaps(_ key: String) -> Bool {
            key.hasPrefix(below) || above.contains(key)
        }
    }

    /// `before.<path>` / `after.<path>` as `Changes.nest` builds them: the changed path's value
    /// when no other changed path runs through or below it, else the path walked through the nest.
    private static func change(_ path: ChangePath, _ draft: EventDraft, old: Bool, _ state: inout RenderState) -> Found? {
        guard draft.changes.keys.contains(where: path.overlaps) else {
            guard let change = draft.changes[path.path] else { return .missing }
            return scalar(old ? change.old : change.new)
        }
        return walk(state.nested(draft, old: old), path.parts)
    }

    /// A path through nested objects: missing where a part is absent or runs through a scalar
    /// (Mustache finds no member there), nil where it runs through a list.
    static func walk(_ root: [String: JSONValue], _ path: [String]) -> Found? {
        var value = JSONValue.object(root)
        for key in path {
            if case .array = value { return nil }
            guard case .object(let members) = value, let next = members[key] else { return .missing }
            value = next
        }
        return scalar(value)
    }

    static func scalar(_ value: JSONValue) -> Found? {
        switch value {
        case .null: return .text("")
        case .bool(let flag): return .bool(flag)
        case .number(let number): return .text(JSONValue.format(number))
        case .string(let text): return .text(text)
        case .object(let members): return .object(members)
        case .array: return nil
        }
    }
}
