import CLibPQ
import Foundation

/// An error from libpq, the server, or decoding a result.
///
/// `description` is deliberately generic (kind and SQLSTATE only): server messages can
/// quote bound values, so they appear only in `debugDescription`, which callers must
/// keep out of responses and logs that leave the operator's hands.
public struct PostgresError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What went wrong, independent of the server's wording.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let raw: String
        /// The server could not be reached or the connection was lost.
        public static let connectionFailed = Code(raw: "connection_failed")
        /// No pooled connection became free within the pool's wait limit.
        public static let unavailable = Code(raw: "unavailable")
        /// The server answered with an error; see `sqlState`.
        public static let server = Code(raw: "server")
        /// A column was NULL where a non-optional value was requested.
        public static let unexpectedNull = Code(raw: "unexpected_null")
        /// A column's text could not be decoded into the requested type.
        public static let decoding = Code(raw: "decoding")
        /// A column name or index does not exist in the result.
        public static let missingColumn = Code(raw: "missing_column")
        /// The pool was shut down.
        public static let poolClosed = Code(raw: "pool_closed")
        /// COPY protocol failure on the client side.
        public static let copyFailed = Code(raw: "copy_failed")
        public var description: String { raw }
    }

    public var code: Code
    /// Five-character SQLSTATE, when the server sent one.
    public var sqlState: String?
    public var message: String
    public var detail: String?
    public var hint: String?

    public init(code: Code, sqlState: String? = nil, message: String, detail: String? = nil, hint: String? = nil) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.detail = detail
        self.hint = hint
    }

    public var description: String {
        if let sqlState { return "PostgresError(\(code), sqlState: \(sqlState))" }
        return "PostgresError(\(code))"
    }

    public var debugDescription: String {
        var text = "\(description): \(message)"
        if let detail { text += " DETAIL: \(detail)" }
        if let hint { text += " HINT: \(hint)" }
        return text
    }

    /// True when the failure means the server is unreachable rather than the request wrong.
    public var isConnectionProblem: Bool {
        if code == .connectionFailed || code == .unavailable || code == .poolClosed { return true }
        guard let sqlState else { return false }
        // Class 08: connection exception; 57P01-57P03: admin shutdown, crash shutdown, cannot connect now.
        return sqlState.hasPrefix("08") || ["57P01", "57P02", "57P03"].contains(sqlState)
    }
}

extension PostgresError {
    /// Builds an error from a failed result, reading the diagnostic fields.
    static func fromResult(_ result: OpaquePointer?, connection: OpaquePointer?) -> PostgresError {
        func field(_ code: Int32) -> String? {
            guard let result, let value = PQresultErrorField(result, code) else { return nil }
            return String(cString: value)
        }
        let sqlState = field(Int32(UInt8(ascii: "C")))  // PG_DIAG_SQLSTATE
        let primary = field(Int32(UInt8(ascii: "M")))    // PG_DIAG_MESSAGE_PRIMARY
        let detail = field(Int32(UInt8(ascii: "D")))     // PG_DIAG_MESSAGE_DETAIL
        let hint = field(Int32(UInt8(ascii: "H")))       // PG_DIAG_MESSAGE_HINT
        let connectionLost = connection.map { PQstatus($0) != CONNECTION_OK } ?? true
        if primary == nil, sqlState == nil {
            return PostgresError(
                code: connectionLost ? .connectionFailed : .server,
                message: connectionMessage(connection) ?? "the server returned an error without a message")
        }
        let code: Code = (sqlState == nil && connectionLost) ? .connectionFailed : .server
        return PostgresError(code: code, sqlState: sqlState, message: primary ?? "", detail: detail, hint: hint)
    }

    static func connectionMessage(_ connection: OpaquePointer?) -> String? {
        guard let connection, let raw = PQerrorMessage(connection) else { return nil }
        let text = String(cString: raw).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }
}
