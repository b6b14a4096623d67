import AuditCore
import Foundation
import Testing

@Suite("URL-safe base64 (tokens, cursors)")
struct Base64URLTests {
    /// What Foundation makes of the same bytes, made URL-safe by hand.
    static func reference(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    @Test("every length from 0 to 64, and every byte value, encode as Foundation does and decode back")
    func roundTrip() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Crypto.base64URL(bytes)
            #expect(text == Self.reference(bytes))
            #expect(Crypto.base64URLDecode(text) == bytes)
        }
        let all = (0...255).map(UInt8.init)
        #expect(Crypto.base64URL(all) == Self.reference(all))
        #expect(Crypto.base64URLDecode(Crypto.base64URL(all)) == all)
        #expect(Crypto.base64URLDecode("-_-_") == [0xfb, 0xff, 0xbf])
    }

    @Test("refused: padding, standard-alphabet bytes, whitespace, a lone last character, set bits after the last byte",
          arguments: ["QQ==", "a+b/", "QQ Q", "QUJD\n", "QUJDR", "QR", "QUF", "é"])
    func refused(_ text: String) {
        #expect(Crypto.base64URLDecode(text) == nil)
    }
}
