import AuditCore
internal import PostgresLibPQ

/// The two export formats: RFC 4180 CSV with a header row, or one JSON object per line.
public enum ExportFormat: String, Sendable {
    case csv, ndjson

    public var contentType: String {
        self == .csv ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8"
    }

    static let columns = [
        "id", "occurred_at", "received_at", "tenant", "category", "action", "outcome", "actor_type", "actor_id",
        "actor_name", "actor_email", "targets", "message", "changes", "context", "metadata", "hash",
    ]

    /// The CSV header row (nothing for NDJSON).
    public var header: String {
        self == .csv ? Self.columns.joined(separator: ",") + "\r\n" : ""
    }

    /// One exported line for a result row of `EventReader.columns`.
    func write(_ row: PostgresRow, to output: inout [UInt8]) {
        switch self {
        case .ndjson:
            EventEncoding.writeJSON(row, to: &output)
            output.append(10)
        case .csv:
            EventEncoding.writeCSV(row, to: &output)
        }
    }
}
