/// SQL text with its bound values kept apart.
///
/// Interpolating a value (`"… WHERE id = \(id)"`) appends a `$n` placeholder and records
/// the value as a bind; SQL fragments are only spliced with the explicit `unsafeSQL:` label,
/// which callers reserve for identifiers chosen from fixed lists.
public struct PostgresQuery: Sendable, ExpressibleByStringInterpolation, CustomStringConvertible {
    public var sql: String
    public var binds: [String?]

    public init(unsafeSQL sql: String, binds: [String?] = []) {
        self.sql = sql
        self.binds = binds
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
            var scalars = query.sql.unicodeScalars[...]
            while let dollar = scalars.firstIndex(of: "$") {
                sql.unicodeScalars += scalars[..<dollar]
                var digitsEnd = scalars.index(after: dollar)
                while digitsEnd < scalars.endIndex, ("0"..."9").contains(scalars[digitsEnd]) {
                    digitsEnd = scalars.index(after: digitsEnd)
                }
                let digits = String(String.UnicodeScalarView(scalars[scalars.index(after: dollar)..<digitsEnd]))
                if let number = Int(digits) {
                    sql += "$\(number + offset)"
                } else {
                    sql += "$"
                }
                scalars = scalars[digitsEnd...]
            }
            sql.unicodeScalars += scalars
        }
    }
}
