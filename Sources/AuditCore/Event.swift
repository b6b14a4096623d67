import Foundation

/// Who acted.
public struct Actor: Sendable, Hashable {
    public var type: String
    public var id: String
    public var name: String?
    public var email: String?

    public init(type: String, id: String, name: String?, email: String?) {
        self.type = type
        self.id = id
        self.name = name
        self.email = email
    }

    var json: JSONValue {
        var members: [String: JSONValue] = ["type": .string(type), "id": .string(id)]
        if let name { members["name"] = .string(name) }
        if let email { members["email"] = .string(email) }
        return .object(members)
    }

    /// `json.canonicalText`'s bytes, written directly (keys in their sorted order).
    func writeCanonical(to output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        if let email { output.append(contentsOf: #""email":"#.utf8); JSONValue.writeString(email, to: &output); output.append(UInt8(ascii: ",")) }
        output.append(contentsOf: #""id":"#.utf8); JSONValue.writeString(id, to: &output)
        if let name { output.append(contentsOf: #","name":"#.utf8); JSONValue.writeString(name, to: &output) }
        output.append(contentsOf: #","type":"#.utf8); JSONValue.writeString(type, to: &output)
        output.append(UInt8(ascii: "}"))
    }
}

/// What was acted on: a client, a subscription, a user…
public struct Target: Sendable, Hashable {
    public var type: String
    public var id: String
    public var name: String?

    var json: JSONValue {
        var members: [String: JSONValue] = ["type": .string(type), "id": .string(id)]
        if let name { members["name"] = .string(name) }
        return .object(members)
    }

    /// `json.canonicalText`'s bytes, written directly (keys in their sorted order).
    func writeCanonical(to output: inout [UInt8]) {
        output.append(contentsOf: #"{"id":"#.utf8); JSONValue.writeString(id, to: &output)
        if let name { output.append(contentsOf: #","name":"#.utf8); JSONValue.writeString(name, to: &output) }
        output.append(contentsOf: #","type":"#.utf8); JSONValue.writeString(type, to: &output)
        output.append(UInt8(ascii: "}"))
    }
}

public enum Outcome: String, Sendable, Hashable {
    case success, failure
}

/// An event as validated from a publisher's JSON, before the server fills in what it adds.
public struct EventDraft: Sendable, Hashable {
    public var tenant: TenantID
    public var id: String?
    public var occurredAt: Date?
    public var action: String
    public var category: String
    public var actor: Actor
    public var targets: [Target]
    public var message: String?
    /// Already diffed and redacted.
    public var changes: [String: Change]
    /// Already redacted.
    public var context: [String: JSONValue]
    /// Already redacted.
    public var metadata: [String: JSONValue]
    public var outcome: Outcome

    public init(tenant: TenantID, id: String?, occurredAt: Date?, action: String, category: String, actor: Actor,
                targets: [Target], message: String?, changes: [String: Change], context: [String: JSONValue],
                metadata: [String: JSONValue], outcome: Outcome) {
        self.tenant = tenant
        self.id = id
        self.occurredAt = occurredAt
        self.action = action
        self.category = category
        self.actor = actor
        self.targets = targets
        self.message = message
        self.changes = changes
        self.context = context
        self.metadata = metadata
        self.outcome = outcome
    }
}

/// An event as stored: every field final, hashed.
///
/// A class: an event passes through the ingest queue, the writer's grouping by tenant and its
/// row encoding, and each copy of a struct this wide retained and released some twenty fields
/// (about 5 % of the server's samples under batch ingest); a reference is one count.
public final class StoredEvent: Sendable {
    public let tenant: TenantID
    public let id: String
    public let occurredAt: Date
    public let receivedAt: Date
    public let action: String
    public let category: String
    public let actor: Actor
    public let targets: [Target]
    public let message: String
    public let changes: [String: Change]
    public let changedFields: [String]
    public let context: [String: JSONValue]
    public let metadata: [String: JSONValue]
    public let outcome: Outcome
    public let hash: String
    /// The canonical JSON of the structured fields, written once: the hash covers them and the
    /// row stores the same bytes.
    public let canonical: CanonicalParts

    /// Canonical JSON text (`JSONValue.canonicalText`'s bytes) of an event's structured fields.
    public struct CanonicalParts: Sendable, Hashable {
        public let actor: [UInt8]
        public let targets: [UInt8]
        public let changes: [UInt8]
        public let context: [UInt8]
        public let metadata: [UInt8]
        public let occurredAt: String
    }

    /// Fills in the id (a time-ordered UUID, `EventID`, when the publisher gave none), the time, the message and the hash.
    public init(draft: EventDraft, receivedAt: Date, message renderedMessage: String) {
        tenant = draft.tenant
        id = draft.id ?? EventID.generate(at: receivedAt)
        occurredAt = Timestamp.truncatedToMicroseconds(draft.occurredAt ?? receivedAt)
        self.receivedAt = Timestamp.truncatedToMicroseconds(receivedAt)
        action = draft.action
        category = draft.category
        actor = draft.actor
        targets = draft.targets
        message = draft.message ?? renderedMessage
        changes = draft.changes
        changedFields = Changes.changedFields(draft.changes)
        context = draft.context
        metadata = draft.metadata
        outcome = draft.outcome
        canonical = CanonicalParts(
            actor: Self.canonical(draft.actor.writeCanonical), targets: Self.canonical { output in
                output.append(UInt8(ascii: "["))
                for (index, target) in draft.targets.enumerated() {
                    if index > 0 { output.append(UInt8(ascii: ",")) }
                    target.writeCanonical(to: &output)
                }
                output.append(UInt8(ascii: "]"))
            },
            changes: Self.canonical { Changes.writeCanonical(draft.changes, to: &$0) }, context: JSONValue.object(draft.context).canonicalBytes,
            metadata: JSONValue.object(draft.metadata).canonicalBytes, occurredAt: Timestamp.format(occurredAt))
        var document: [UInt8] = []
        Self.writeHashedDocument(tenant: tenant, id: id, action: action, category: category, message: message, outcome: outcome,
                                 canonical: canonical, to: &document)
        hash = Crypto.hex(Crypto.sha256(document))
    }

    private static func canonical(_ write: (inout [UInt8]) -> Void) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(128)
        write(&output)
        return output
    }

    /// `hashedDocument.canonicalText`, written from the parts (keys in their canonical order).
    static func writeHashedDocument(tenant: TenantID, id: String, action: String, category: String, message: String, outcome: Outcome,
                                    canonical: CanonicalParts, to output: inout [UInt8]) {
        output.reserveCapacity(256 + canonical.actor.count + canonical.targets.count + canonical.changes.count
                               + canonical.context.count + canonical.metadata.count + message.utf8.count)
        output.append(contentsOf: #"{"action":"#.utf8); JSONValue.writeString(action, to: &output)
        output.append(contentsOf: #","actor":"#.utf8); output.append(contentsOf: canonical.actor)
        output.append(contentsOf: #","category":"#.utf8); JSONValue.writeString(category, to: &output)
        output.append(contentsOf: #","changes":"#.utf8); output.append(contentsOf: canonical.changes)
        output.append(contentsOf: #","context":"#.utf8); output.append(contentsOf: canonical.context)
        output.append(contentsOf: #","id":"#.utf8); JSONValue.writeString(id, to: &output)
        output.append(contentsOf: #","message":"#.utf8); JSONValue.writeString(message, to: &output)
        output.append(contentsOf: #","metadata":"#.utf8); output.append(contentsOf: canonical.metadata)
        output.append(contentsOf: #","occurred_at":"#.utf8); JSONValue.writeString(canonical.occurredAt, to: &output)
        output.append(contentsOf: #","outcome":"#.utf8); JSONValue.writeString(outcome.rawValue, to: &output)
        output.append(contentsOf: #","targets":"#.utf8); output.append(contentsOf: canonical.targets)
        output.append(contentsOf: #","tenant":"#.utf8); JSONValue.writeString(tenant.rawValue, to: &output)
        output.append(UInt8(ascii: "}"))
    }

    /// The bytes the hash is computed over (the same as `hashedDocument.canonicalText`).
    public var hashedBytes: [UInt8] {
        var document: [UInt8] = []
        Self.writeHashedDocument(tenant: tenant, id: id, action: action, category: category, message: message, outcome: outcome,
                                 canonical: canonical, to: &document)
        return document
    }

    /// What the hash covers: every field the event was sent with (all stored fields but the hash
    /// and `received_at`, which the database sets), times as `Timestamp.format` (UTC, six
    /// fraction digits), serialised by `JSONValue.canonicalText`. The same event sent twice has
    /// the same hash, which is how a retry is told from a different event with the same id.
    /// (Events stored before 0013_integrity.sql also hashed `received_at`; see `ChainVerifier`.)
    public var hashedDocument: JSONValue {
        .object([
            "tenant": .string(tenant.rawValue),
            "id": .string(id),
            "occurred_at": .string(Timestamp.format(occurredAt)),
            "action": .string(action),
            "category": .string(category),
            "actor": actor.json,
            "targets": .array(targets.map(\.json)),
            "message": .string(message),
            "changes": Changes.json(changes),
            "context": .object(context),
            "metadata": .object(metadata),
            "outcome": .string(outcome.rawValue),
        ])
    }

    public var targetsJSON: JSONValue { .array(targets.map(\.json)) }
    public var changesJSON: JSONValue { Changes.json(changes) }
}
