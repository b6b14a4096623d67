import AuditCore
import AuditStore
import Foundation
import Hummingbird

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
        guard let format = ExportFormat(rawValue: formatText) else {
            throw ReadRequest.bad("format", "must be csv or ndjson")
        }
        let now = Date()
        let retention = services.retentionDays
        var bounded = read.filter
        // Up to this moment: the export's own audit_log.exported event comes after it.
        if bounded.to == nil { bounded.to = now }
        let requested = bounded
        let (from, to) = try await services.database.withTenant(scope.tenant, role: scope.role) { connection in
            try EventReader.window(requested, on: connection, now: now, defaultRetentionDays: retention)
        }
        var filter = requested
        filter.from = from
        filter.to = to
        try await AccessRecorder(services: services).record("audit_log.exported", scope: scope, metadata: [
            "format": .string(format.rawValue), "filters": .object(read.echo),
            "from": .string(Timestamp.format(from)), "to": .string(Timestamp.format(to)),
        ])

        let database = services.database
        let frozen = filter
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: format.header))
            @Sendable func fetch(after cursor: PageCursor?) async throws -> EventPage {
                try await database.withTenant(scope.tenant, role: scope.role) { connection in
                    try EventReader.page(frozen, after: cursor, limit: Self.pageSize, on: connection, now: now, defaultRetentionDays: retention)
                }
            }
            // The next page is read while this one is encoded and sent: PostgreSQL and the
            // encoder work on different cores, so the export runs at the slower one's pace.
            var pending = Task { try await fetch(after: nil) }
            while true {
                let page = try await pending.value
                if let cursor = page.nextCursor { pending = Task { try await fetch(after: cursor) } }
                var bytes = [UInt8]()
                bytes.reserveCapacity(page.rows.count * 700)
                for row in page.rows { format.write(row, to: &bytes) }
                do {
                    try await writer.write(ByteBuffer(bytes: bytes))
                } catch {
                    pending.cancel()
                    throw error
                }
                if page.nextCursor == nil { break }
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
}
