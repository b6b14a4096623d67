import AuditCore
import AuditStore
import Foundation

/// Writes reads that must leave a trace into the tenant's own log: every read by
/// `support`, every export (SPEC §4), and settings changes.
struct AccessRecorder: Sendable {
    let services: AppServices

    /// Records `action` (category `audit` unless given) by the caller, with `metadata`.
    func record(_ action: String, category: String = "audit", scope: ReadScope, metadata: [String: JSONValue] = [:],
                changes: [String: Change] = [:]) async throws {
        let actor: Actor
        switch scope.caller {
        case .viewer(let claims):
            actor = Actor(type: claims.role == .support ? "support" : "user", id: claims.actorID, name: claims.actorName, email: nil)
        case .publisher(let key):
            actor = Actor(type: "api_key", id: "key_\(key.id)", name: key.name, email: nil)
        }
        let draft = EventDraft(
            tenant: scope.tenant, id: nil, occurredAt: nil, action: action, category: category, actor: actor, targets: [],
            message: nil, changes: services.redactor.redact(changes), context: [:], metadata: services.redactor.redact(metadata),
            outcome: .success)
        let event = StoredEvent(draft: draft, receivedAt: Date(), message: services.messages.render(draft))
        _ = try await services.ingestor.ingest([event])
    }
}
