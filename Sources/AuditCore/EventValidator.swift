import Foundation

/// Checks a publisher's event against every rule of SPEC §6.1 and turns it into an
/// `EventDraft` (diffed, redacted), or lists every problem found.
public struct EventValidator: Sendable {
    public static let maxEventBytes = 64 * 1024
    public static let maxStringCharacters = 4096
    public static let maxNesting = 8
    public static let maxMetadataKeys = 50
    public static let maxTargets = 20
    public static let maxFutureSkew: TimeInterval = 300
    static let knownFields: Set<String> = [
        "tenant", "id", "occurred_at", "action", "category", "actor", "targets", "message",
        "before", "after", "changes", "context", "metadata", "outcome",
    ]

    public var now: Date
    /// The longest retention of any tenant (`AUDITLOG_RETENTION_DAYS`); a tenant's own,
    /// shorter retention is checked where its settings are read.
    public var retentionDays: Int
    public var redactor: Redactor

    public init(now: Date, retentionDays: Int, redactor: Redactor) {
        self.now = now
        self.retentionDays = retentionDays
        self.redactor = redactor
    }

    public func validate(_ value: JSONValue, index: Int) -> Result<EventDraft, Problems> {
        var problems = Problems(index: index)
        guard case .object(let event) = value else {
            problems.add("(event)", "must be a JSON object")
            return .failure(problems)
        }
        var sizeBound = 0
        let stringsValid = Self.stringsWithinLimits(value, sizeBound: &sizeBound)
        if !stringsValid {
            checkStrings(value, path: "", problems: &problems)  // names each offender (the slow walk)
        }
        // The exact canonical size is counted only when the bound (complete if the walk was) does not rule it out.
        if !stringsValid || sizeBound > Self.maxEventBytes, value.canonicalByteCount > Self.maxEventBytes {
            problems.add("(event)", "is larger than 64 KiB")
        }
        if !event.keys.allSatisfy(Self.knownFields.contains) {
            for key in event.keys.sorted() where !Self.knownFields.contains(key) {
                problems.add(key, "is not a known field")
            }
        }

        let tenant = requiredString(event, "tenant", &problems).flatMap { raw -> TenantID? in
            guard let tenant = TenantID(raw) else {
                problems.add("tenant", "must be 1-128 characters of A-Z, a-z, 0-9, _ . : -")
                return nil
            }
            return tenant
        }
        let id = optionalString(event, "id", &problems)
        if let id, !Self.isIdentifier(id) {
            problems.add("id", "must be 1-128 characters of A-Z, a-z, 0-9, _ . : -")
        }
        let occurredAt = occurredAt(event, &problems)
        if id != nil, event["occurred_at"] == nil {
            problems.add("occurred_at", "is required when id is given (together they make retries idempotent)")
        }
        let action = requiredString(event, "action", &problems)
        if let action, !Self.isAction(action) {
            problems.add("action", "must be lowercase dotted words such as client.renamed (at most 128 characters)")
        }
        var category = optionalString(event, "category", &problems)
        if let given = category {
            if !Self.isWord(given, limit: 64) { problems.add("category", "must be a lowercase word such as billing") }
        } else if let action, Self.isAction(action) {
            let first = String(action.prefix { $0 != "." })
            if Self.isWord(first, limit: 64) {
                category = first
            } else {
                problems.add("action", "its first word becomes the category, which is at most 64 characters; send a category or a shorter first word")
            }
        }
        let actor = actor(event, &problems)
        let targets = targets(event, &problems)
        let message = optionalString(event, "message", &problems)
        if let message, message.isEmpty { problems.add("message", "must not be empty when given") }
        let changes = changes(event, &problems)
        let context = freeformObject(event, "context", &problems)
        let metadata = freeformObject(event, "metadata", &problems)
        if let metadata, metadata.count > Self.maxMetadataKeys {
            problems.add("metadata", "has \(metadata.count) keys; at most \(Self.maxMetadataKeys) are allowed")
        }
        var outcome = Outcome.success
        if let raw = optionalString(event, "outcome", &problems) {
            if let parsed = Outcome(rawValue: raw) { outcome = parsed } else { problems.add("outcome", "must be success or failure") }
        }

        guard problems.isEmpty, let tenant, let action, let category, let actor, let targets, let changes, let context, let metadata else {
            return .failure(problems)
        }
        return .success(EventDraft(
            tenant: tenant, id: id, occurredAt: occurredAt, action: action, category: category, actor: actor,
            targets: targets, message: message, changes: redactor.redact(changes), context: redactor.redact(context),
            metadata: redactor.redact(metadata), outcome: outcome))
    }

    /// The problems of one event, in the order found.
    public struct Problems: Error, Sendable {
        public var index: Int
        public var list: [EventProblem] = []
        mutating func add(_ field: String, _ message: String) {
            list.append(EventProblem(index: index, field: field, message: message))
        }
        var isEmpty: Bool { list.isEmpty }
    }

    // MARK: Fields

    private func requiredString(_ event: [String: JSONValue], _ field: String, _ problems: inout Problems) -> String? {
        guard let value = event[field], !value.isNull else {
            problems.add(field, "is required")
            return nil
        }
        guard let text = value.stringValue else {
            problems.add(field, "must be a string")
            return nil
        }
        return text
    }

    private func optionalString(_ event: [String: JSONValue], _ field: String, _ problems: inout Problems) -> String? {
        guard let value = event[field], !value.isNull else { return nil }
        guard let text = value.stringValue else {
            problems.add(field, "must be a string")
            return nil
        }
        return text
    }

    private func occurredAt(_ event: [String: JSONValue], _ problems: inout Problems) -> Date? {
        guard let raw = optionalString(event, "occurred_at", &problems) else { return nil }
        guard let date = Timestamp.parse(raw) else {
            problems.add("occurred_at", "must be an RFC 3339 time such as 2026-11-21T10:00:00Z")
            return nil
        }
        if date > now.addingTimeInterval(Self.maxFutureSkew) {
            problems.add("occurred_at", "is more than 5 minutes in the future")
        } else if date < now.addingTimeInterval(-Double(retentionDays) * 86_400) {
            problems.add("occurred_at", "is older than the retention period (\(retentionDays) days)")
        }
        return date
    }

    private func actor(_ event: [String: JSONValue], _ problems: inout Problems) -> Actor? {
        guard let value = event["actor"], !value.isNull else {
            problems.add("actor", "is required")
            return nil
        }
        guard case .object(let members) = value else {
            problems.add("actor", "must be an object with at least an id")
            return nil
        }
        for key in members.keys.sorted() where !["type", "id", "name", "email"].contains(key) {
            problems.add("actor.\(key)", "is not a known field")
        }
        let id = requiredString(members, "id", &problems, prefix: "actor")
        if let id, id.isEmpty || id.count > 256 { problems.add("actor.id", "must be 1-256 characters") }
        let type = optionalString(members, "type", &problems, prefix: "actor") ?? "user"
        if !Self.isWord(type, limit: 64) { problems.add("actor.type", "must be a lowercase word such as user") }
        let name = optionalString(members, "name", &problems, prefix: "actor")
        let email = optionalString(members, "email", &problems, prefix: "actor")
        guard let id else { return nil }
        return Actor(type: type, id: id, name: name, email: email)
    }

    private func targets(_ event: [String: JSONValue], _ problems: inout Problems) -> [Target]? {
        guard let value = event["targets"], !value.isNull else { return [] }
        guard case .array(let items) = value else {
            problems.add("targets", "must be an array")
            return nil
        }
        if items.count > Self.maxTargets {
            problems.add("targets", "has \(items.count) entries; at most \(Self.maxTargets) are allowed")
            return nil
        }
        var targets: [Target] = []
        for (position, item) in items.enumerated() {
            let prefix = "targets[\(position)]"
            guard case .object(let members) = item else {
                problems.add(prefix, "must be an object with type and id")
                continue
            }
            for key in members.keys.sorted() where !["type", "id", "name"].contains(key) {
                problems.add("\(prefix).\(key)", "is not a known field")
            }
            let type = requiredString(members, "type", &problems, prefix: prefix)
            if let type, !Self.isWord(type, limit: 64) { problems.add("\(prefix).type", "must be a lowercase word such as client") }
            let id = requiredString(members, "id", &problems, prefix: prefix)
            if let id, id.isEmpty || id.count > 256 { problems.add("\(prefix).id", "must be 1-256 characters") }
            let name = optionalString(members, "name", &problems, prefix: prefix)
            if let type, let id { targets.append(Target(type: type, id: id, name: name)) }
        }
        return targets
    }

    private func changes(_ event: [String: JSONValue], _ problems: inout Problems) -> [String: Change]? {
        let before = freeformObject(event, "before", &problems)
        let after = freeformObject(event, "after", &problems)
        guard let given = event["changes"], !given.isNull else {
            guard let before, let after else { return nil }
            return Changes.diff(before: before, after: after)
        }
        if event["before"] != nil || event["after"] != nil {
            problems.add("changes", "give either changes or before/after, not both")
            return nil
        }
        guard case .object(let members) = given else {
            problems.add("changes", "must be an object of {\"path\": {\"old\": …, \"new\": …}}")
            return nil
        }
        if given.depth > Self.maxNesting { problems.add("changes", "nests deeper than \(Self.maxNesting) levels") }
        var changes: [String: Change] = [:]
        for (path, change) in members {
            guard !path.isEmpty, !path.hasPrefix("."), !path.hasSuffix("."), !path.contains("..") else {
                problems.add("changes", "has an empty or malformed field path")
                continue
            }
            guard case .object(let pair) = change, pair.keys.allSatisfy({ $0 == "old" || $0 == "new" }), !pair.isEmpty else {
                problems.add("changes.\(path)", "must be an object with old and/or new")
                continue
            }
            let old = pair["old"] ?? .null, new = pair["new"] ?? .null
            if old != new { changes[path] = Change(old: old, new: new) }
        }
        return changes
    }

    /// A free-form object (`before`, `after`, `context`, `metadata`): absent means empty.
    private func freeformObject(_ event: [String: JSONValue], _ field: String, _ problems: inout Problems) -> [String: JSONValue]? {
        guard let value = event[field], !value.isNull else { return [:] }
        guard case .object(let members) = value else {
            problems.add(field, "must be an object")
            return nil
        }
        if value.depth > Self.maxNesting {
            problems.add(field, "nests deeper than \(Self.maxNesting) levels")
            return nil
        }
        return members
    }

    private func requiredString(_ object: [String: JSONValue], _ field: String, _ problems: inout Problems, prefix: String) -> String? {
        var inner = Problems(index: problems.index)
        let value = requiredString(object, field, &inner)
        for problem in inner.list { problems.add("\(prefix).\(problem.field)", problem.message) }
        return value
    }

    private func optionalString(_ object: [String: JSONValue], _ field: String, _ problems: inout Problems, prefix: String) -> String? {
        var inner = Problems(index: problems.index)
        let value = optionalString(object, field, &inner)
        for problem in inner.list { problems.add("\(prefix).\(problem.field)", problem.message) }
        return value
    }

    /// True when no string or key can break `checkStrings`'s rules: no NUL, and few enough bytes
    /// that the character limit cannot be reached (one walk, nothing allocated). Adds to `sizeBound`
    /// an upper bound of the value's canonical size (every string byte escaped as `\u00XX`, every
    /// number at its longest), which for most events is far below the 64 KiB limit.
    static func stringsWithinLimits(_ value: JSONValue, sizeBound: inout Int) -> Bool {
        switch value {
        case .string(let text):
            sizeBound += 2 + 6 * text.utf8.count
            return text.utf8.count <= maxStringCharacters && !containsNUL(text)
        case .array(let items):
            sizeBound += 2 + items.count
            return items.allSatisfy { stringsWithinLimits($0, sizeBound: &sizeBound) }
        case .object(let members):
            sizeBound += 2 + members.count
            return members.allSatisfy {
                sizeBound += 3 + 6 * $0.key.utf8.count
                return $0.key.utf8.count <= 256 && !containsNUL($0.key) && stringsWithinLimits($0.value, sizeBound: &sizeBound)
            }
        case .number:
            sizeBound += 32  // the longest of Swift's shortest round-trip forms is 24 bytes
            return true
        case .bool, .null:
            sizeBound += 5
            return true
        }
    }

    static func containsNUL(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { $0.isEmpty ? false : memchr($0.baseAddress!, 0, $0.count) != nil }
    }

    /// Every string and key: no NUL character, at most 4096 characters. Reports the first offender per field.
    private func checkStrings(_ value: JSONValue, path: String, problems: inout Problems) {
        func field(_ path: String) -> String { path.isEmpty ? "(event)" : path }
        switch value {
        case .string(let text):
            if text.utf8.contains(0) { problems.add(field(path), "contains a NUL character") }
            else if text.count > Self.maxStringCharacters { problems.add(field(path), "is longer than \(Self.maxStringCharacters) characters") }
        case .array(let items):
            for (position, item) in items.enumerated() { checkStrings(item, path: "\(path)[\(position)]", problems: &problems) }
        case .object(let members):
            for key in members.keys.sorted() {
                let child = path.isEmpty ? key : "\(path).\(key)"
                if key.utf8.contains(0) { problems.add(field(path), "has a key with a NUL character"); continue }
                if key.count > 256 { problems.add(field(path), "has a key longer than 256 characters"); continue }
                checkStrings(members[key]!, path: child, problems: &problems)
            }
        default:
            break
        }
    }

    // MARK: Formats

    static func isIdentifier(_ text: String) -> Bool {
        TenantID.isValid(text)
    }

    /// A lowercase word of ASCII letters, digits and `_`, starting with a letter, at most `limit` bytes.
    public static func isWord(_ text: String, limit: Int) -> Bool {
        let bytes = text.utf8
        guard let first = bytes.first, (1...limit).contains(bytes.count), (97...122).contains(first) else { return false }
        return bytes.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == UInt8(ascii: "_") }
    }

    /// A category: one lowercase word of at most 64 bytes (`billing`).
    public static func isCategory(_ text: String) -> Bool {
        isWord(text, limit: 64)
    }

    /// An action, or a prefix of one ending in `*` (`client.*`, `client.re*`), as stream filters
    /// and the search language take them.
    public static func isActionPattern(_ text: String) -> Bool {
        guard text.hasSuffix("*") else { return isAction(text) }
        var body = String(text.dropLast())
        if body.hasSuffix(".") { body.removeLast() }
        return isAction(body)
    }

    /// Lowercase words (`isWord`) joined by single dots, at most 128 bytes.
    public static func isAction(_ text: String) -> Bool {
        let bytes = text.utf8
        guard (1...128).contains(bytes.count) else { return false }
        var atWordStart = true
        for byte in bytes {
            if atWordStart {
                guard (97...122).contains(byte) else { return false }
                atWordStart = false
            } else if byte == UInt8(ascii: ".") {
                atWordStart = true
            } else {
                guard (97...122).contains(byte) || (48...57).contains(byte) || byte == UInt8(ascii: "_") else { return false }
            }
        }
        return !atWordStart
    }
}
