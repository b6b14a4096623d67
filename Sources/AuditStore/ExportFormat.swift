import AuditCore
import PostgresLibPQ

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
    public func write(_ row: PostgresRow, to output: inout [UInt8]) {
        switch self {
        case .ndjson:
            EventEncoding.writeJSON(row, to: &output)
            output.append(10)
        case .csv:
            EventEncoding.writeCSV(row, to: &output)
        }
    }

    /// One exported line for an event as the API shows it.
    public func line(_ event: JSONValue) -> String {
        switch self {
        case .ndjson:
            return event.canonicalText + "\n"
        case .csv:
            let members = event.objectValue ?? [:]
            let actor = members["actor"]?.objectValue ?? [:]
            let cells: [String] = Self.columns.map { column in
                switch column {
                case "actor_type": return actor["type"]?.stringValue ?? ""
                case "actor_id": return actor["id"]?.stringValue ?? ""
                case "actor_name": return actor["name"]?.stringValue ?? ""
                case "actor_email": return actor["email"]?.stringValue ?? ""
                case "targets", "changes", "context", "metadata": return members[column]?.canonicalText ?? ""
                default: return members[column]?.stringValue ?? ""
                }
            }
            return cells.map(Self.csvCell).joined(separator: ",") + "\r\n"
        }
    }

    /// RFC 4180 quoting, and a leading `'` on cells a spreadsheet would run as a formula
    /// (those starting with `=`, `+`, `-`, `@`, tab or carriage return).
    static func csvCell(_ value: String) -> String {
        var text = value
        if let first = text.unicodeScalars.first, ["=", "+", "-", "@", "\t", "\r"].contains(first) {
            text = "'" + text
        }
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

import Foundation
