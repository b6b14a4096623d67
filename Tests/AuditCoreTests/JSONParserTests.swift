import AuditCore
import Testing

@Suite("parsing JSON bodies")
struct JSONParserTests {
    func parse(_ text: String) -> JSONValue? {
        JSONValue.parse(Array(text.utf8))
    }

    @Test("values of every kind, escapes and surrogate pairs")
    func values() {
        #expect(parse(#" {"a": [1, -2.5e3, true, false, null], "b": "x\"\\\/\n\u00e9\ud83c\udf89"} "#)
            == .object(["a": .array([.number(1), .number(-2500), .bool(true), .bool(false), .null]), "b": .string("x\"\\/\né🎉")]))
        #expect(parse(#""\u0000""#) == .string("\u{0}"))
    }

    @Test("integers read directly are the Doubles that Double's own parser gives", arguments: [
        "0", "-0", "7", "-12", "999999999999999", "-999999999999999", "9007199254740993", "12345678901234567890", "1E2", "3e0", "10.0",
    ])
    func integers(_ text: String) throws {
        let value = try #require(parse(text))
        #expect(value == .number(try #require(Double(text))))
        #expect(parse("{\"n\": \(text), \"m\": [\(text)]}") == .object(["n": value, "m": .array([value])]))
    }

    @Test("objects of many members and nested objects keep every member; a repeated name is refused at any depth")
    func members() throws {
        let keys = (0..<40).map { "k\($0)" }
        let text = "{" + keys.map { "\"\($0)\": {\"inner\": {\"\($0)\": 1}, \"x\": 2}" }.joined(separator: ",") + "}"
        let object = try #require(parse(text)?.objectValue)
        #expect(object.count == 40)
        #expect(object["k39"] == .object(["inner": .object(["k39": 1]), "x": 2]))
        #expect(parse(#"{"a": {"b": 1, "c": {"d": 1, "d": 2}}, "e": 3}"#) == nil)
        #expect(parse(#"{"a": {"b": 1}, "b": 2, "a": 3}"#) == nil)
        #expect(parse(#"{"a": {"a": 1}}"#) == .object(["a": .object(["a": 1])]))
    }

    @Test("malformed input is refused", arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"unterminated", "{} x", "\"\\x\"",
        "\"\\ud800\"", "\"tab\there\"", "NaN", "1e999", "-01", "1-", "--1", "+1", "{\"a\": 1, }",
    ])
    func malformed(_ text: String) {
        #expect(parse(text) == nil)
    }

    @Test("invalid UTF-8 and absurd nesting are refused, not crashed on")
    func hostile() {
        #expect(JSONValue.parse([0x22, 0xff, 0xfe, 0x22]) == nil)
        // Overlong "/", a UTF-16 surrogate, a sequence cut short, a stray continuation byte;
        // the same after an escape (the other path), and as a key.
        for bad: [UInt8] in [[0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0x61, 0x80], [0xf4, 0x90, 0x80, 0x80]] {
            #expect(JSONValue.parse([0x22] + bad + [0x22]) == nil)
            #expect(JSONValue.parse([0x22, 0x5c, 0x6e] + bad + [0x22]) == nil)
            #expect(JSONValue.parse([0x7b, 0x22] + bad + [0x22, 0x3a, 0x31, 0x7d]) == nil)
        }
        // Valid UTF-8 beyond ASCII, U+FFFD itself included, comes back unchanged.
        #expect(parse("\"é 🦆 \u{FFFD} ✓\"") == .string("é 🦆 \u{FFFD} ✓"))
        #expect(parse("\"a\\n🦆\"") == .string("a\n🦆"))
        #expect(parse(String(repeating: "[", count: 100_000)) == nil)
        #expect(parse(String(repeating: "[", count: 60) + String(repeating: "]", count: 60)) != nil)
    }
}
