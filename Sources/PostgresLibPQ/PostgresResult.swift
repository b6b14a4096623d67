import CLibPQ

/// Owns one `PGresult`; rows keep it alive, and `deinit` clears it.
///
/// A result is read-only after libpq hands it over, so sharing it across threads is safe.
public final class PostgresResult: @unchecked Sendable {
    let handle: OpaquePointer
    public let rowCount: Int
    public let columnCount: Int
    /// Column names in order.
    public let columns: [String]

    init(handle: OpaquePointer) {
        self.handle = handle
        rowCount = Int(PQntuples(handle))
        columnCount = Int(PQnfields(handle))
        columns = (0..<columnCount).map { String(cString: PQfname(handle, Int32($0))) }
    }

    deinit { PQclear(handle) }

    /// Rows affected by INSERT/UPDATE/DELETE (`PQcmdTuples`), 0 when not applicable.
    public var affectedRows: Int {
        Int(String(cString: PQcmdTuples(handle))) ?? 0
    }

    public var rows: [PostgresRow] {
        (0..<rowCount).map { PostgresRow(result: self, index: $0) }
    }

    func columnIndex(named name: String) throws -> Int {
        guard let index = columns.firstIndex(of: name) else {
            throw PostgresError(code: .missingColumn, message: "no column named \(name) in the result")
        }
        return index
    }

    func text(row: Int, column: Int) -> String? {
        if PQgetisnull(handle, Int32(row), Int32(column)) == 1 { return nil }
        return String(cString: PQgetvalue(handle, Int32(row), Int32(column)))
    }
}

/// One row of a result.
public struct PostgresRow: Sendable {
    public let result: PostgresResult
    public let index: Int

    /// Decodes column `column`; NULL throws `unexpectedNull` unless `T` is optional.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at column: Int) throws -> T {
        guard column >= 0, column < result.columnCount else {
            throw PostgresError(code: .missingColumn, message: "no column \(column) in the result")
        }
        guard let text = result.text(row: index, column: column) else {
            throw PostgresError(code: .unexpectedNull, message: "column \(result.columns[column]) is NULL")
        }
        do {
            return try T.decode(postgresText: text)
        } catch {
            throw PostgresError(code: .decoding, message: "column \(result.columns[column]) cannot be read as \(T.self)")
        }
    }

    /// Decodes column `column`, mapping NULL to nil.
    public func decode<T: PostgresDecodable>(_ type: T?.Type = T?.self, at column: Int) throws -> T? {
        guard column >= 0, column < result.columnCount else {
            throw PostgresError(code: .missingColumn, message: "no column \(column) in the result")
        }
        if result.text(row: index, column: column) == nil { return nil }
        return try decode(T.self, at: column)
    }

    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, named name: String) throws -> T {
        try decode(type, at: result.columnIndex(named: name))
    }

    public func decode<T: PostgresDecodable>(_ type: T?.Type = T?.self, named name: String) throws -> T? {
        try decode(type, at: result.columnIndex(named: name))
    }

    /// The column's text as libpq holds it, without copying (nil for NULL); valid only inside `body`.
    public func withBytes<R>(at column: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard column >= 0, column < result.columnCount, !isNull(at: column) else { return try body(nil) }
        let length = Int(PQgetlength(result.handle, Int32(index), Int32(column)))
        let start = UnsafeRawPointer(PQgetvalue(result.handle, Int32(index), Int32(column))!)
        return try body(UnsafeRawBufferPointer(start: start, count: length))
    }

    /// True when the column is SQL NULL.
    public func isNull(at column: Int) -> Bool {
        PQgetisnull(result.handle, Int32(index), Int32(column)) == 1
    }
}
