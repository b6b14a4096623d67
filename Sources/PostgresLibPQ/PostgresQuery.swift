/// SQL text with its bound values kept apart.
///
/// Interpolating a value (`"… WHERE id = \(id)"`) appends a `$n` placeholder and records
/// the value as a bind; SQL fragments are only spliced with the explicit `unsafeSQL:` label,
/// which callers reserve for identifiers chosen from fixed lists.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public var sql: String
    public var binds: [String?]
    /// False for a statement whose text is one of many (`SET LOCAL` with a quoted literal): sent
    /// unnamed, so it never takes a place in the connection's cache of prepared statements.
    public var prepared = true

    public init(unsafeSQL sql: String, binds: [String?] = []) {
        self.sql = sql
        self.binds = binds
    }

    /// The same statement, sent unnamed (see `prepared`).
    public static func unprepared(unsafeSQL sql: String) -> PostgresQuery {
        var query = PostgresQuery(unsafeSQL: sql)
        query.prepared = false
        return query
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, binds: stringInterpolation.binds)
    }

    /// Appends another query, renumbering its placeholders.
    public mutating func append(_ other: PostgresQuery) {
        var interpolation = StringInterpolation(literalCapacity: 0, interpolationCount: 0)
        interpolation.sql = sql
        interpolation.binds = binds
        interpolation.appendInterpolation(other)
        self = PostgresQuery(stringInterpolation: interpolation)
    }

    /// The SQL only; bound values are never printed.
    public var description: String { "\(sql) [\(binds.count) bind(s)]" }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql: String
        var binds: [String?]

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql = ""
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds = []
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            sql += literal
        }

        public mutating func appendInterpolation(_ value: some PostgresEncodable) {
            binds.append(value.postgresText)
            sql += "$\(binds.count)"
        }

        /// An optional value: nil is sent as SQL NULL.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            binds.append(value?.postgresText ?? nil)
            sql += "$\(binds.count)"
        }

        /// Splices SQL text as is. Only for identifiers and fragments from fixed lists.
        public mutating func appendInterpolation(unsafeSQL fragment: String) {
            sql += fragment
        }

        /// Splices a sub-query, renumbering its `$n` placeholders after the current binds.
        public mutating func appendInterpolation(_ query: PostgresQuery) {
            let offset = binds.count
            binds += query.binds
            guard offset > 0 else { sql += query.sql; return }
            // On the UTF-8 bytes: `$` followed by 1 to 9 digits is a placeholder; a longer run of
            // digits (no placeholder of ours) is copied as it is.
            var renumbered: [UInt8] = []
            renumbered.reserveCapacity(query.sql.utf8.count + 8)
            let source = Array(query.sql.utf8)
            var index = 0
            while index < source.count {
                guard source[index] == UInt8(ascii: "$") else {
                    renumbered.append(source[index])
                    index += 1
                    continue
                }
                var end = index + 1
                while end < source.count, (48...57).contains(source[end]) { end += 1 }
                let digits = source[(index + 1)..<end]
                if (1...9).contains(digits.count) {
                    let number = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
                    renumbered.append(UInt8(ascii: "$"))
                    renumbered.append(contentsOf: String(number + offset).utf8)
                } else {
                    renumbered.append(contentsOf: source[index..<end])
                }
                index = end
            }
            sql += String(decoding: renumbered, as: UTF8.self)
        }
    }
}
