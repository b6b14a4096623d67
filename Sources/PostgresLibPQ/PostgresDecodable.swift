import Foundation

/// A Swift value that can be read from a result column in PostgreSQL's text format.
///
/// NULL is never passed here: a non-optional type read from a NULL column throws
/// `unexpectedNull`; read `Optional<T>` to accept NULL.
public protocol PostgresDecodable: Sendable {
    static func decode(postgresText text: String) throws -> Self
}

struct DecodingFailure: Error {
    let type: String
}

extension String: PostgresDecodable {
    public static func decode(postgresText text: String) throws -> String { text }
}

/// Numbers in PostgreSQL's text output parse with Swift's own initialisers.
extension PostgresDecodable where Self: LosslessStringConvertible {
    public static func decode(postgresText text: String) throws -> Self {
        guard let value = Self(text) else { throw DecodingFailure(type: "\(Self.self)") }
        return value
    }
}

extension Int: PostgresDecodable {}
extension Int64: PostgresDecodable {}
extension Int32: PostgresDecodable {}

extension Bool: PostgresDecodable {
    public static func decode(postgresText text: String) throws -> Bool {
        switch text {
        case "t": return true
        case "f": return false
        default: throw DecodingFailure(type: "Bool")
        }
    }
}

extension Double: PostgresDecodable {}

extension UUID: PostgresDecodable {
    public static func decode(postgresText text: String) throws -> UUID {
        guard let value = UUID(uuidString: text) else { throw DecodingFailure(type: "UUID") }
        return value
    }
}

extension Date: PostgresDecodable {
    public static func decode(postgresText text: String) throws -> Date {
        guard let value = PostgresTimestamp.parse(text) else { throw DecodingFailure(type: "Date") }
        return value
    }
}

extension Data: PostgresDecodable {
    /// `bytea` in hex output format (`\x…`), the server default since 9.0.
    public static func decode(postgresText text: String) throws -> Data {
        let utf8 = Array(text.utf8)
        guard utf8.count >= 2, utf8[0] == UInt8(ascii: "\\"), utf8[1] == UInt8(ascii: "x"), utf8.count % 2 == 0 else {
            throw DecodingFailure(type: "Data")
        }
        func nibble(_ c: UInt8) throws -> UInt8 {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: throw DecodingFailure(type: "Data")
            }
        }
        var bytes = [UInt8]()
        bytes.reserveCapacity((utf8.count - 2) / 2)
        var index = 2
        while index < utf8.count {
            bytes.append(try nibble(utf8[index]) << 4 | nibble(utf8[index + 1]))
            index += 2
        }
        return Data(bytes)
    }
}

extension Array: PostgresDecodable where Element == String {
    /// A one-dimensional `text[]`; a NULL element is a decoding error.
    public static func decode(postgresText text: String) throws -> [String] {
        guard let elements = PostgresArrayLiteral.parse(text) else { throw DecodingFailure(type: "[String]") }
        return try elements.map { element in
            guard let element else { throw DecodingFailure(type: "[String] (NULL element)") }
            return element
        }
    }
}

/// Parser for the text output of one-dimensional arrays: `{a,"b c",NULL}`.
enum PostgresArrayLiteral {
    static func parse(_ text: String) -> [String?]? {
        let scalars = Array(text.unicodeScalars)
        guard scalars.first == "{", scalars.last == "}" else { return nil }
        var elements: [String?] = []
        var index = 1
        let end = scalars.count - 1
        if index == end { return [] }
        while index < end {
            if scalars[index] == "\"" {
                var value = String.UnicodeScalarView()
                index += 1
                while index < end, scalars[index] != "\"" {
                    if scalars[index] == "\\" { index += 1 }
                    guard index < end else { return nil }
                    value.append(scalars[index])
                    index += 1
                }
                guard index < end else { return nil }
                index += 1  // closing quote
                elements.append(String(value))
            } else {
                var value = String.UnicodeScalarView()
                while index < end, scalars[index] != "," {
                    if scalars[index] == "{" { return nil }  // nested arrays are not supported
                    value.append(scalars[index])
                    index += 1
                }
                let word = String(value)
                elements.append(word == "NULL" ? nil : word)
            }
            if index < end {
                guard scalars[index] == "," else { return nil }
                index += 1
            }
        }
        return elements
    }
}
