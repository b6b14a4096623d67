import AuditCore
import AuditStore
import Foundation

/// Writes reads that must leave a trace into the tenant's own log: every read by
/// `support`, every export (SPEC §4), and settings changes.
struct AccessRecorder: Sendable {
    let services: AppServices

    /// Records `action` (category `audit` unless given) by the caller, with `metadata`.
    /// `template` names the sentence (`Templates/service/<template>.mustache`, SPEC §6.4).
    func record(_ action: String, category: String = "audit", template: String, scope: ReadScope,
                metadata given: [String: JSONValue] = [:], changes: [String: Change] = [:]) async throws {
        let actor: Actor
        var metadata = given
        switch scope.caller {
        case .viewer(let claims):
            actor = Actor(type: claims.role == .support ? "support" : "user", id: claims.actorID, name: claims.actorName, email: nil)
        case .publisher(let key):
            // The vendor as its customers know it; which of its keys acted stays in the metadata.
            actor = Actor(type: "service", id: "service_provider", name: services.database.configuration.vendorName, email: nil)
            metadata["publisher_key"] = .string("key_\(key.id)")
        }
        let draft = EventDraft(
            tenant: scope.tenant, id: nil, occurredAt: nil, action: action, category: category, actor: actor, targets: [],
            message: nil, changes: services.redactor.redact(changes), context: [:], metadata: services.redactor.redact(metadata),
            outcome: .success)
        var messages = services.messages
        messages.vendorName = services.database.configuration.vendorName
        let event = StoredEvent(draft: draft, receivedAt: Date(), message: messages.renderOwn(draft, template: template))
        _ = try await services.ingestor.ingest([event])
    }
}
