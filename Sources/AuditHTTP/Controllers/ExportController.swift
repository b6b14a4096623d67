import AuditCore
import AuditStore
import Foundation
import Hummingbird
import Logging

/// `GET /v1/events/export?format=csv|ndjson`: the whole filtered range, streamed page by
/// page (each page its own short RLS transaction), so memory stays flat whatever the range.
/// Owners, admins and publishers only; every export is recorded in the tenant's log.
struct ExportController: Sendable {
    static let pageSize = 5000
    let services: AppServices

    func addRoutes(to group: RouterGroup<AuditRequestContext>) {
        group.get("/events/export") { request, context in try await export(request, context) }
    }

    func export(_ request: Request, _ context: AuditRequestContext) async throws -> Response {
        let scope = try ReadScope.resolve(request, context, allowed: \.canExport)
        let read = try ReadRequest(request)
        let formatText = try ReadRequest.parameters(request.uri.query ?? "").first { $0.0 == "format" }?.1 ?? "csv"
        if formatText == "bundle" { return try await bundle(request, context, scope: scope, read: read) }
        guard let format = ExportFormat(rawValue: formatText) else {
            throw ReadRequest.bad("format", "must be csv, ndjson or bundle")
        }
        let now = Date()
        let database = services.database
        var bounded = read.filter
        // Up to this moment: the export's own audit_log.exported event comes after it.
        if bounded.to == nil { bounded.to = now }
        let requested = bounded
        let (from, to) = try await context.whileClientConnected {
            try await database.window(of: requested, tenant: scope.tenant, role: scope.role, now: now)
        }
        var filter = requested
        filter.from = from
        filter.to = to
        let frozen = filter
        @Sendable func fetch(after cursor: PageCursor?) async throws -> EventPage {
            try await database.exportPage(frozen, after: cursor, limit: Self.pageSize, tenant: scope.tenant, role: scope.role, now: now)
        }
        // Everything that can be refused is checked before the 200 goes out: the request, the
        // window, and the first page. A failure later can only end the stream (and is logged).
        let first = try await context.whileClientConnected { try await fetch(after: nil) }
        try await AccessRecorder(services: services).record("audit_log.exported", template: "exported", scope: scope, metadata: [
            "format": .string(format.rawValue), "filters": .object(read.echo),
            "from": .string(Timestamp.format(from)), "to": .string(Timestamp.format(to)),
        ])

        let logger = context.logger
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: format.header))
            try await Self.stream(from: first, fetch: fetch, to: &writer, tenant: scope.tenant, logger: logger) { page, bytes in
                page.write(format, to: &bytes)
            }
            try await writer.finish(nil)
        }
        let day = { (date: Date) in String(Timestamp.format(date).prefix(10)).replacingOccurrences(of: "-", with: "") }
        let filename = "auditlog-\(scope.tenant.rawValue)-\(day(from))-\(day(to)).\(format.rawValue)"
        return Response(status: .ok, headers: [
            .contentType: format.contentType,
            .contentDisposition: "attachment; filename=\"\(filename)\"",
            .cacheControl: "no-store",
        ], body: body)
    }

    /// `format=bundle`: every event of whole sealed hours with the digests covering them, the
    /// chain link before them and the public keys, for `auditlog verify --bundle` (see
    /// `ExportBundle`). Only `from` and `to` apply: a bundle is whole hours or it proves nothing.
    func bundle(_ request: Request, _ context: AuditRequestContext, scope: ReadScope, read: ReadRequest) async throws -> Response {
        if let other = read.echo.keys.sorted().first(where: { !["from", "to", "format"].contains($0) }) {
            throw ReadRequest.bad(other, "does not apply to a bundle, which holds every event of whole hours; give only from and to")
        }
        let database = services.database
        // A checkpoint first: the bundle then holds everything received up to it, all signed.
        var clock = Date()
        if let writer = services.digestWriter {
            // The database's clock, should it run ahead of this machine's.
            do {
                clock = max(clock, try await context.whileClientConnected { try await database.checkpoint(scope.tenant, with: writer) })
            } catch let error as DigestKeyError {
                // The bundle still says how far it is signed (signed_until): the hours sealed so far.
                context.logger.error("bundle export without a checkpoint", metadata: ["error": "\(error)"])
            }
        }
        let now = clock
        let (from, to) = try await context.whileClientConnected {
            try await database.window(of: read.filter, tenant: scope.tenant, role: scope.role, now: now)
        }
        guard let plan = try await context.whileClientConnected({
            try await database.bundlePlan(tenant: scope.tenant, role: scope.role, from: from, to: min(to, now), now: now)
        }) else {
            throw ReadRequest.bad("to", "no hour between from and to is sealed yet: an hour is sealed AUDITLOG_SEAL_DELAY after it ends")
        }
        @Sendable func fetch(after cursor: PageCursor?) async throws -> EventPage {
            try await database.bundlePage(tenant: scope.tenant, role: scope.role, from: plan.from, to: plan.to,
                                          receivedBefore: plan.signedUntil, after: cursor, limit: Self.pageSize)
        }
        let first = try await context.whileClientConnected { try await fetch(after: nil) }
        try await AccessRecorder(services: services).record("audit_log.exported", template: "exported", scope: scope, metadata: [
            "format": "bundle", "from": .string(Timestamp.format(plan.from)), "to": .string(Timestamp.format(plan.to)),
        ])
        var head = [UInt8]()
        for line in [ExportBundle.header(tenant: scope.tenant.rawValue, from: plan.from, to: plan.to, exportedAt: now,
                                         signedUntil: plan.signedUntil)]
            + plan.keys.map({ ExportBundle.key(id: $0.keyID, publicKey: $0.publicKey) })
            + (plan.link.map { [ExportBundle.link($0, first: true)] } ?? [])
            + plan.chain.map({ ExportBundle.link($0, first: false) }) {
            head += Array(line.canonicalText.utf8)
            head.append(10)
        }
        let logger = context.logger
        let body = ResponseBody { [head] writer in
            try await writer.write(ByteBuffer(bytes: head))
            let written = try await Self.stream(from: first, fetch: fetch, to: &writer, tenant: scope.tenant, logger: logger) { page, bytes in
                page.writeBundleLines(to: &bytes)
            }
            try await writer.write(ByteBuffer(string: ExportBundle.end(events: written).canonicalText + "\n"))
            try await writer.finish(nil)
        }
        let hour = { (date: Date) in String(Timestamp.format(date).prefix(13)).replacingOccurrences(of: "-", with: "") }
        return Response(status: .ok, headers: [
            .contentType: "application/x-ndjson",
            .contentDisposition: "attachment; filename=\"auditlog-\(scope.tenant.rawValue)-\(hour(plan.from))-\(hour(plan.to)).bundle.jsonl\"",
            .cacheControl: "no-store",
        ], body: body)
    }

    /// Writes `first` and every page after it, each encoded by `encode`; returns the events sent.
    /// The next page is read while this one is encoded and sent: PostgreSQL and the encoder work
    /// on different cores, so the export runs at the slower one's pace. A failure ends the stream
    /// (the 200 is out) and is logged.
    static func stream(
        from first: EventPage, fetch: @escaping @Sendable (PageCursor) async throws -> EventPage,
        to writer: inout any ResponseBodyWriter, tenant: TenantID, logger: Logger,
        encode: (EventPage, inout [UInt8]) -> Void
    ) async throws -> Int {
        var page = first
        var written = 0
        while true {
            let pending = page.nextCursor.map { cursor in Task { try await fetch(cursor) } }
            var bytes = [UInt8]()
            bytes.reserveCapacity(page.count * 800)
            encode(page, &bytes)
            do {
                try await writer.write(ByteBuffer(bytes: bytes))
                written += page.count
                guard let pending else { return written }
                page = try await pending.value
            } catch {
                pending?.cancel()
                logger.error("export ended early", metadata: [
                    "tenant": "\(tenant)", "events_sent": "\(written)", "error": "\(String(reflecting: error))",
                ])
                throw error
            }
        }
    }
}
