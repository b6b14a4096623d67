import Foundation

/// Any JSON document, kept as parsed so it can be validated, diffed, redacted and
/// re-serialised canonically.
///
/// Numbers are `Double`: integers beyond ±2^53 lose precision, as in JavaScript.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses JSON text; nil when it is not JSON (or not UTF-8, or nested beyond 64 levels).
    public static func parse(_ data: Data) -> JSONValue? {
        JSONParser.parse(Array(data))
    }

    public static func parse(_ bytes: [UInt8]) -> JSONValue? {
        JSONParser.parse(bytes)
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    public var isNull: Bool { self == .null }

    /// How deeply containers nest: a scalar is 0, `{"a": 1}` is 1.
    public var depth: Int {
        switch self {
        case .array(let items):
            var deepest = 0
            for item in items { deepest = max(deepest, item.depth) }
            return 1 + deepest
        case .object(let members):
            var deepest = 0
            for member in members.values { deepest = max(deepest, member.depth) }
            return 1 + deepest
        default: return 0
        }
    }

    /// `canonicalText.utf8.count`, counted without writing (or sorting) anything.
    public var canonicalByteCount: Int {
        switch self {
        case .null: return 4
        case .bool(let value): return value ? 4 : 5
        case .number(let value): return Self.format(value).utf8.count
        case .string(let value): return Self.canonicalStringByteCount(value)
        case .array(let items):
            var count = 2 + max(0, items.count - 1)
            for item in items { count += item.canonicalByteCount }
            return count
        case .object(let members):
            var count = 2 + max(0, members.count - 1)
            for member in members { count += Self.canonicalStringByteCount(member.key) + 1 + member.value.canonicalByteCount }
            return count
        }
    }

    static func canonicalStringByteCount(_ value: String) -> Int {
        var count = 2
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x08, 0x09, 0x0a, 0x0c, 0x0d: count += 2
            case 0..<0x20: count += 6
            default: count += 1
            }
        }
        return count
    }
}

extension JSONValue {
    /// The canonical text: object keys sorted by their UTF-8 bytes, no insignificant
    /// whitespace, strings escaped only where JSON requires (`"`, `\`, control characters,
    /// with the short forms \b \f \n \r \t), integral numbers within ±2^53 without a
    /// fraction, other numbers in Swift's shortest round-trip form. Event hashes and
    /// digests are computed over this text.
    public var canonicalText: String {
        var output = [UInt8]()
        output.reserveCapacity(256)
        write(to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// The canonical text's UTF-8 bytes.
    public var canonicalBytes: [UInt8] {
        var output = [UInt8]()
        output.reserveCapacity(64)
        write(to: &output)
        return output
    }

    public func write(to output: inout [UInt8]) {
        switch self {
        case .null: output.append(contentsOf: "null".utf8)
        case .bool(let value): output.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let value): output.append(contentsOf: Self.format(value).utf8)
        case .string(let value): Self.writeString(value, to: &output)
        case .array(let items):
            output.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                item.write(to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .object(let members):
            output.append(UInt8(ascii: "{"))
            if members.count == 1, let (key, value) = members.first {
                Self.writeString(key, to: &output)
                output.append(UInt8(ascii: ":"))
                value.write(to: &output)
            } else {
                let sorted = members.sorted { Self.utf8Precedes($0.key, $1.key) }
                for (index, member) in sorted.enumerated() {
                    if index > 0 { output.append(UInt8(ascii: ",")) }
                    Self.writeString(member.key, to: &output)
                    output.append(UInt8(ascii: ":"))
                    member.value.write(to: &output)
                }
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    /// Byte order of UTF-8 (what canonical keys are sorted by): memcmp on contiguous UTF-8.
    static func utf8Precedes(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { x in
            b.withUTF8 { y in
                let common = min(x.count, y.count)
                if common > 0, let px = x.baseAddress, let py = y.baseAddress {
                    let order = memcmp(px, py, common)
                    if order != 0 { return order < 0 }
                }
                return x.count < y.count
            }
        }
    }

    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 9_007_199_254_740_992 { return String(Int64(value)) }
        return "\(value)"
    }

    public static func writeString(_ value: String, to output: inout [UInt8]) {
        var value = value
        value.withUTF8 { writeString(UnsafeRawBufferPointer($0), to: &output) }
    }

    /// A JSON string from UTF-8 bytes: `"`, `\` and control characters escaped (the short forms
    /// \b \f \n \r \t where JSON has them), everything else copied in runs.
    public static func writeString(_ bytes: UnsafeRawBufferPointer, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var runStart = 0
        for index in 0..<bytes.count {
            let byte = bytes[index]
            guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
            output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<index]))
            runStart = index + 1
            output.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): output.append(byte)
            case 0x08: output.append(UInt8(ascii: "b"))
            case 0x0c: output.append(UInt8(ascii: "f"))
            case 0x0a: output.append(UInt8(ascii: "n"))
            case 0x0d: output.append(UInt8(ascii: "r"))
            case 0x09: output.append(UInt8(ascii: "t"))
            default:
                let hex: StaticString = "0123456789abcdef"
                output.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                hex.withUTF8Buffer { digits in
                    output.append(digits[Int(byte >> 4)])
                    output.append(digits[Int(byte & 0x0f)])
                }
            }
        }
        output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[runStart..<bytes.count]))
        output.append(UInt8(ascii: "\""))
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
}
