import AuditCore
import AuditStore
import Foundation
import Logging
import ServiceLifecycle

/// Turns captured changes of attached tables (`auditlog attach`, SPEC §10) into ordinary events
/// of their tenants' logs: validated, diffed, redacted and rendered as `POST /v1/events` does,
/// then hashed, sealed, searched and streamed like any other.
///
/// Exactly once: a capture's event has the id `cap.<capture id>`, so a capture drained twice
/// (by two replicas at once, or again after a crash between the event's commit and the
/// capture's removal) is a duplicate the second time, not a second event. Removed only after its
/// event committed.
public struct CaptureDrain: Service {
    let services: AppServices
    let logger: Logger
    var batchSize = 500
    var idle: Duration = .milliseconds(200)

    public init(services: AppServices, logger: Logger) {
        self.services = services
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let drained: Int
                do {
                    drained = try await drainOnce()
                } catch is CancellationError {
                    return
                } catch {
                    logger.warning("could not turn captured changes into events; retrying", metadata: ["error": "\(error)"])
                    drained = 0
                }
                if drained < batchSize { try? await Task.sleep(for: idle) }
            }
        }
    }

    /// One batch: returns how many captures it read.
    @discardableResult
    public func drainOnce() async throws -> Int {
        let captures = try await services.database.pendingCaptures(limit: batchSize)
        guard !captures.isEmpty else { return 0 }
        let now = Date()
        var events: [(capture: Int64, event: StoredEvent)] = []
        var unusable: [Int64] = []
        for capture in captures {
            guard let tenant = TenantID(capture.tenant) else {
                unusable.append(capture.id)  // the trigger refuses such rows; kept out of the way if one is there anyway
                logger.error("a captured change has no valid tenant; it cannot become an event", metadata: ["capture": "\(capture.id)", "table": "\(capture.table)"])
                continue
            }
            let validator = EventValidator(now: now, retentionDays: services.retentionDays,
                                           redactor: try await services.tenantRedaction.redactor(for: tenant))
            if let draft = Self.draft(capture, validator: validator) {
                events.append((capture.id, StoredEvent(draft: draft, receivedAt: now, message: services.messages.render(draft))))
            } else {
                unusable.append(capture.id)
                logger.error("a captured change cannot be written as an event", metadata: ["capture": "\(capture.id)", "table": "\(capture.table)"])
            }
        }
        var done = unusable
        do {
            _ = try await services.ingestor.ingest(events.map(\.event))
            done += events.map(\.capture)
        } catch is IngestRejection {
            // One of them is refused (an id stored as another event, a tenant's shorter
            // retention): each on its own, so the others are written.
            for (capture, event) in events {
                do {
                    _ = try await services.ingestor.ingest([event])
                } catch let rejection as IngestRejection {
                    logger.warning("a captured change was refused as an event", metadata: [
                        "capture": "\(capture)", "reason": "\(rejection.problems.first?.message ?? "\(rejection.kind)")"])
                }
                done.append(capture)
            }
        }
        try await services.database.forgetCaptures(done)
        return captures.count
    }

    /// The event a capture becomes: `<entity>.created|updated|deleted|truncated`, the row as its
    /// target, the old and new row as the diff (ignored columns left out), the application's actor
    /// or else the database role, and where it came from in the metadata. Nil when even the
    /// plainest form is invalid.
    static func draft(_ capture: PendingCapture, validator: EventValidator) -> EventDraft? {
        let entity = capture.entity ?? String(capture.table.split(separator: ".").last ?? "row").lowercased()
        let verb = ["INSERT": "created", "UPDATE": "updated", "DELETE": "deleted", "TRUNCATE": "truncated"][capture.operation] ?? "changed"
        func row(_ text: String?) -> [String: JSONValue]? {
            guard let text, var members = JSONValue.parse(Array(text.utf8))?.objectValue else { return nil }
            for column in capture.ignoreColumns { members.removeValue(forKey: column) }
            return members
        }
        let old = row(capture.old), new = row(capture.new)
        var target: [String: JSONValue] = ["type": .string(entity)]
        if let key = capture.rowKey { target["id"] = .string(key) }
        if let column = capture.displayColumn, let shown = (new ?? old)?[column], shown != .null {
            target["name"] = .string(shown.stringValue ?? shown.canonicalText)
        }
        var metadata: [String: JSONValue] = [
            "source": "database", "table": .string(capture.table), "operation": .string(capture.operation.lowercased()),
            "transaction": .string(capture.transaction), "database_role": .string(capture.databaseRole),
        ]
        if let application = capture.applicationName { metadata["application_name"] = .string(application) }
        let databaseActor: JSONValue = .object(["type": "database_role", "id": .string(capture.databaseRole)]
            .merging(capture.applicationName.map { ["name": .string($0)] } ?? [:]) { $1 })
        var actor = databaseActor
        if let text = capture.actor {
            if let parsed = JSONValue.parse(Array(text.utf8)), parsed.objectValue != nil { actor = parsed } else {
                metadata["actor_refused"] = .string(String(text.prefix(200)))
            }
        }
        var document: [String: JSONValue] = [
            "tenant": .string(capture.tenant), "id": .string("cap.\(capture.id)"),
            "occurred_at": .string(Timestamp.format(capture.capturedAt)),
            "action": .string("\(entity).\(verb)"), "category": .string(capture.category ?? entity),
            "actor": actor,
            "targets": capture.rowKey == nil ? .array([]) : .array([.object(target)]),
            "metadata": .object(metadata),
        ]
        if let context = capture.context.flatMap({ JSONValue.parse(Array($0.utf8)) }), context.objectValue != nil { document["context"] = context }
        if old != nil || new != nil {
            document["before"] = .object(old ?? [:])
            document["after"] = .object(new ?? [:])
        }
        // The application's actor or context may be malformed, a row too large: each fallback
        // keeps the event and says what it left out.
        if case .success(let draft) = validator.validate(.object(document), index: 0) { return draft }
        document["actor"] = databaseActor
        document.removeValue(forKey: "context")
        metadata["actor_refused"] = capture.actor.map { .string(String($0.prefix(200))) } ?? .null
        document["metadata"] = .object(metadata)
        if case .success(let draft) = validator.validate(.object(document), index: 0) { return draft }
        document.removeValue(forKey: "before")
        document.removeValue(forKey: "after")
        metadata["changes_omitted"] = "the row's values do not fit in an event"
        document["metadata"] = .object(metadata)
        if case .success(let draft) = validator.validate(.object(document), index: 0) { return draft }
        return nil
    }
}
