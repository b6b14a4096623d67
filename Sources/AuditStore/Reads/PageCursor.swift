import AuditCore
import Foundation

/// The opaque keyset position after the last event of a page: `(occurred_at, id)`.
public struct PageCursor: Sendable, Equatable {
    public var micros: Int64
    public var id: String

    /// URL-safe base64 of `<microseconds since 1970>:<id>`.
    public var encoded: String {
        Crypto.base64URL(Array("\(micros):\(id)".utf8))
    }

    public init(micros: Int64, id: String) {
        self.micros = micros
        self.id = id
    }

    /// Nil for anything that is not a cursor this service made.
    public init?(encoded text: String) {
        guard text.utf8.count <= 400, let bytes = Crypto.base64URLDecode(text),
              let decoded = String(validating: bytes, as: UTF8.self), let colon = decoded.firstIndex(of: ":"),
              let micros = Int64(decoded[..<colon]), micros > 0, micros < 253_402_300_800_000_000 else { return nil }  // before year 10000
        let id = String(decoded[decoded.index(after: colon)...])
        guard TenantID.isValid(id) else { return nil }  // event ids share the tenant key alphabet
        self.init(micros: micros, id: id)
    }
}
