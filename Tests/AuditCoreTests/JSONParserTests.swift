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

    @Test("malformed input is refused", arguments: [
        "", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"unterminated", "{} x", "\"\\x\"",
        "\"\\ud800\"", "\"tab\there\"", "NaN", "1e999",
    ])
    func malformed(_ text: String) {
        #expect(parse(text) == nil)
    }

    @Test("invalid UTF-8 and absurd nesting are refused, not crashed on")
    func hostile() {
        #expect(JSONValue.parse([0x22, 0xff, 0xfe, 0x22]) == nil)
        #expect(parse(String(repeating: "[", count: 100_000)) == nil)
        #expect(parse(String(repeating: "[", count: 60) + String(repeating: "]", count: 60)) != nil)
    }
}
