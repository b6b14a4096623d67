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
public struct StoredEvent: Sendable, Hashable {
    public var tenant: TenantID
    public var id: String
    public var occurredAt: Date
    public var receivedAt: Date
    public var action: String
    public var category: String
    public var actor: Actor
    public var targets: [Target]
    public var message: String
    public var changes: [String: Change]
    public var changedFields: [String]
    public var context: [String: JSONValue]
    public var metadata: [String: JSONValue]
    public var outcome: Outcome
    public var hash: String

    /// Fills in the id (a random UUID when the publisher gave none), the time, the message and the hash.
    public init(draft: EventDraft, receivedAt: Date, message renderedMessage: String) {
        tenant = draft.tenant
        id = draft.id ?? UUID().uuidString.lowercased()
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
        hash = ""
        hash = Crypto.hex(Crypto.sha256(Array(hashedDocument.canonicalText.utf8)))
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
