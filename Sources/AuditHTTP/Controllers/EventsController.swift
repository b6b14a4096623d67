import AuditCore
import AuditStore
import Foundation
import Hummingbird

/// `POST /v1/events`: one event, or `{"events": […]}` with up to 1000 (SPEC §6.1).
struct EventsController: Sendable {
    static let maxBodyBytes = 4 * 1024 * 1024
    static let maxBatch = 1000

    let services: AppServices

    func addRoutes(to group: RouterGroup<AuditRequestContext>) {
        group.post("/events") { request, context in try await ingest(request, context: context) }
    }

    /// The 201 body, `{"duplicates":n,"ids":[…]}`, written directly (its keys in canonical order).
    static func created(ids: [String], duplicates: Int) -> Response {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32 + ids.count * 40)
        bytes.append(contentsOf: #"{"duplicates":"#.utf8)
        bytes.append(contentsOf: String(duplicates).utf8)
        bytes.append(contentsOf: #","ids":["#.utf8)
        for (index, id) in ids.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            JSONValue.writeString(id, to: &bytes)
        }
        bytes.append(contentsOf: "]}".utf8)
        return Response(status: .created, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    func ingest(_ request: Request, context: AuditRequestContext) async throws -> Response {
        guard let publisher = context.caller?.publisher else {
            throw APIError(.forbidden, code: "publisher_only", message: "Only a publisher API key may send events.")
        }
        try ReadRequest.refuseUnknown(request)
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/json") else {
            throw APIError(.badRequest, code: "invalid_content_type", message: "Send events as Content-Type: application/json.")
        }
        var request = request
        let body = try await request.readBody(upTo: Self.maxBodyBytes, context: context)
        guard let document = JSONValue.parse(Array(body.readableBytesView)) else {
            throw APIError(.badRequest, code: "invalid_json", message: "The body is not valid JSON.")
        }
        let rawEvents = try Self.events(in: document)

        let now = Date()
        // Each event is redacted with its tenant's own keys too (read once per tenant and request).
        var validators: [TenantID: EventValidator] = [:]
        for raw in rawEvents {
            guard case .string(let text)? = raw.objectValue?["tenant"], let tenant = TenantID(text), validators[tenant] == nil,
                  publisher.allows(tenant) else { continue }
            validators[tenant] = EventValidator(now: now, retentionDays: services.retentionDays,
                                                redactor: try await services.tenantRedaction.redactor(for: tenant))
        }
        let fallback = EventValidator(now: now, retentionDays: services.retentionDays, redactor: services.redactor)
        var drafts: [EventDraft] = []
        var problems: [EventProblem] = []
        for (index, raw) in rawEvents.enumerated() {
            let tenant: TenantID? = if case .string(let text)? = raw.objectValue?["tenant"] { TenantID(text) } else { nil }
            let validator = tenant.flatMap { validators[$0] } ?? fallback
            switch validator.validate(raw, index: index) {
            case .success(let draft): drafts.append(draft)
            case .failure(let found): problems += found.list
            }
        }
        guard problems.isEmpty else { throw APIError.invalidEvents(problems, total: rawEvents.count) }
        let refused = drafts.enumerated().filter { !publisher.allows($0.element.tenant) }
        guard refused.isEmpty else {
            throw APIError(.forbidden, code: "tenant_not_allowed",
                           message: "This API key may only write its own tenant; nothing was written.",
                           details: refused.map { .init(index: $0.offset, field: "tenant", message: "is not this key's tenant") })
        }

        let events = drafts.map { StoredEvent(draft: $0, receivedAt: now, message: services.messages.render($0)) }
        do {
            let result = try await services.ingestor.ingest(events)
            return Self.created(ids: result.ids, duplicates: result.duplicates)
        } catch let rejection as IngestRejection {
            switch rejection.kind {
            case .invalid: throw APIError.invalidEvents(rejection.problems, total: rawEvents.count)
            case .idConflict:
                throw APIError(.conflict, code: "id_conflict",
                               message: "An event id is already stored with different content (an id names one event, whatever its occurred_at); nothing was written.",
                               details: rejection.problems.map { .init(index: $0.index, field: $0.field, message: $0.message) })
            }
        }
    }

    /// The events of a body: a single event object, or `{"events": [...]}`.
    static func events(in document: JSONValue) throws -> [JSONValue] {
        guard case .object(let members) = document else {
            throw APIError(.unprocessableContent, code: "invalid_events",
                           message: "The body must be an event object or {\"events\": [...]}.")
        }
        guard let batch = members["events"] else { return [document] }
        guard members.count == 1, case .array(let items) = batch else {
            throw APIError(.unprocessableContent, code: "invalid_events",
                           message: "A batch is {\"events\": [...]} with nothing else beside it.")
        }
        guard (1...maxBatch).contains(items.count) else {
            throw APIError(.unprocessableContent, code: "invalid_events",
                           message: "A batch holds 1 to \(maxBatch) events; this one has \(items.count).")
        }
        return items
    }
}

extension APIError {
    static func invalidEvents(_ problems: [EventProblem], total: Int) -> APIError {
        let bad = Set(problems.map(\.index)).count
        return APIError(.unprocessableContent, code: "invalid_events",
                        message: total == 1 ? "The event is invalid; nothing was written."
                                            : "\(bad) of \(total) events are invalid; nothing was written.",
                        details: problems.map { .init(index: $0.index, field: $0.field, message: $0.message) })
    }
}
