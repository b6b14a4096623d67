/// One changed field: its value before and after (`null` when added or removed).
public struct Change: Sendable, Hashable {
    public var old: JSONValue
    public var new: JSONValue

    public init(old: JSONValue, new: JSONValue) {
        self.old = old
        self.new = new
    }

    var json: JSONValue { .object(["old": old, "new": new]) }
}

/// The diff of SPEC §6.1: only what changed, keyed by dotted path.
public enum Changes {
    /// Flattens nested objects to dotted paths (arrays are values, compared whole) and
    /// keeps the paths whose values differ.
    public static func diff(before: [String: JSONValue], after: [String: JSONValue]) -> [String: Change] {
        let old = flatten(before), new = flatten(after)
        var changes: [String: Change] = [:]
        for (path, previous) in old {
            let next = new[path] ?? .null
            if previous != next { changes[path] = Change(old: previous, new: next) }
        }
        for (path, next) in new where next != .null && old[path] == nil {
            changes[path] = Change(old: .null, new: next)
        }
        return changes
    }

    static func flatten(_ object: [String: JSONValue]) -> [String: JSONValue] {
        // Nothing nested (the usual `before`/`after`): the object is already its own flattening.
        if !object.values.contains(where: { if case .object(let nested) = $0 { !nested.isEmpty } else { false } }) {
            return object
        }
        var flat: [String: JSONValue] = [:]
        flat.reserveCapacity(object.count)
        var collided = false
        flatten(object, prefix: "", sorted: false, into: &flat, collided: &collided)
        if collided {
            // Two spellings of one path (a key "a.b" beside {"a": {"b": …}}): walked again in sorted
            // key order, so the same one wins in every process (the change is part of the hash).
            flat.removeAll(keepingCapacity: true)
            flatten(object, prefix: "", sorted: true, into: &flat, collided: &collided)
        }
        return flat
    }

    private static func flatten(_ object: [String: JSONValue], prefix: String, sorted: Bool, into flat: inout [String: JSONValue],
                                collided: inout Bool) {
        func visit(_ key: String, _ value: JSONValue) {
            let path = prefix.isEmpty ? key : prefix + "." + key
            if case .object(let nested) = value, !nested.isEmpty {
                flatten(nested, prefix: path, sorted: sorted, into: &flat, collided: &collided)
            } else if flat.updateValue(value, forKey: path) != nil {
                collided = true
            }
        }
        if sorted {
            for key in object.keys.sorted(by: JSONValue.utf8Precedes) { visit(key, object[key]!) }
        } else {
            for (key, value) in object { visit(key, value) }
        }
    }

    /// Every changed path with all its prefixes (`plan.name` gives `plan` and `plan.name`),
    /// sorted: what `changed:` searches.
    public static func changedFields(_ changes: [String: Change]) -> [String] {
        if !changes.keys.contains(where: { $0.utf8.contains(UInt8(ascii: ".")) }) {
            return changes.keys.sorted()  // no nesting: the paths themselves
        }
        var fields = Set<String>()
        for path in changes.keys {
            fields.insert(path)
            var index = path.utf8.startIndex
            while let dot = path.utf8[index...].firstIndex(of: UInt8(ascii: ".")) {
                fields.insert(String(path[..<dot]))
                index = path.utf8.index(after: dot)
            }
        }
        return fields.sorted()
    }

    public static func json(_ changes: [String: Change]) -> JSONValue {
        .object(changes.mapValues(\.json))
    }

    /// `json(changes).canonicalText`'s bytes, written directly: paths sorted, `new` before `old`.
    static func writeCanonical(_ changes: [String: Change], to output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        for (index, change) in changes.sorted(by: { JSONValue.utf8Precedes($0.key, $1.key) }).enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONValue.writeString(change.key, to: &output)
            output.append(contentsOf: #":{"new":"#.utf8)
            change.value.new.write(to: &output)
            output.append(contentsOf: #","old":"#.utf8)
            change.value.old.write(to: &output)
            output.append(UInt8(ascii: "}"))
        }
        output.append(UInt8(ascii: "}"))
    }

    /// Rebuilds nested objects from dotted paths, for message templates. Paths are taken in
    /// sorted order, so a path and one below it (`plan`, `plan.name`) nest the same way every time.
    static func nest(_ flat: [String: JSONValue]) -> [String: JSONValue] {
        var root: [String: JSONValue] = [:]
        for path in flat.keys.sorted(by: JSONValue.utf8Precedes) {
            let parts = path.split(separator: ".").map(String.init)
            insert(&root, parts[...], flat[path]!)
        }
        return root
    }

    private static func insert(_ node: inout [String: JSONValue], _ parts: ArraySlice<String>, _ value: JSONValue) {
        guard let first = parts.first else { return }
        if parts.count == 1 {
            node[first] = value
        } else {
            var child = node[first]?.objectValue ?? [:]
            insert(&child, parts.dropFirst(), value)
            node[first] = .object(child)
        }
    }
}

extension JSONValue {
    /// The value as Mustache reads it: scalars as text (numbers in their canonical form, null
    /// as ""), objects as `TemplateObject`, arrays as arrays.
    var templateValue: Any {
        switch self {
        case .null: return ""
        case .bool(let value): return value
        case .number(let value): return JSONValue.format(value)
        case .string(let value): return value
        case .array(let items): return items.map(\.templateValue)
        case .object(let members): return TemplateObject(members: members)
        }
    }
}
