import Foundation

/// One link of a tenant's integrity chain (see sql/0007_digests.sql).
///
/// `signedText` is exactly what the signature covers, as UTF-8 (Ed25519 with the key `keyID`
/// names; digests written before there were digest keys have no key id and an HMAC-SHA-256):
///
///     auditlog-digest-v1\n<tenant>\n<hour>\n<sequence>\n<position>\n<event_count>\n
///     <events_sha256>\n<covered_until>\n<previous_signature>\n
///
/// with times as `Timestamp.format` (UTC, six fraction digits) and an empty previous
/// signature for a tenant's first digest. `events_sha256` is the SHA-256 of each covered
/// event's hash (hex) followed by `\n`, in (occurred_at, id) order.
public struct Digest: Sendable, Equatable {
    public var tenant: String
    public var hour: Date
    public var sequence: Int
    public var position: Int64
    public var eventCount: Int
    public var eventsSHA256: String
    public var coveredUntil: Date
    public var previousSignature: String
    public var signature: String
    /// The digest key that signed it (`ed25519:…`); nil for the HMAC digests of earlier versions.
    public var keyID: String?

    public init(tenant: String, hour: Date, sequence: Int, position: Int64, eventCount: Int, eventsSHA256: String,
                coveredUntil: Date, previousSignature: String, signature: String = "", keyID: String? = nil) {
        self.keyID = keyID
        self.tenant = tenant
        self.hour = hour
        self.sequence = sequence
        self.position = position
        self.eventCount = eventCount
        self.eventsSHA256 = eventsSHA256
        self.coveredUntil = coveredUntil
        self.previousSignature = previousSignature
        self.signature = signature
    }

    public var signedText: String {
        "auditlog-digest-v1\n\(tenant)\n\(Timestamp.format(hour))\n\(sequence)\n\(position)\n\(eventCount)\n"
            + "\(eventsSHA256)\n\(Timestamp.format(coveredUntil))\n\(previousSignature)\n"
    }

    /// The HMAC-SHA-256 (hex) of the digests written before there were digest keys.
    public func expectedSignature(key: [UInt8]) -> String {
        Crypto.hex(Crypto.hmacSHA256(key: key, message: Array(signedText.utf8)))
    }

    /// Signs with `key`: sets `keyID` and `signature` (hex of the 64-byte Ed25519 signature).
    public mutating func sign(with key: DigestSigningKey) {
        keyID = key.keyID
        signature = Crypto.hex(key.sign(Array(signedText.utf8)))
    }

    /// True when `signature` is `publicKey`'s Ed25519 signature of `signedText`.
    public func verify(publicKey: [UInt8]) -> Bool {
        guard let bytes = Crypto.unhex(signature) else { return false }
        return DigestSigningKey.verify(signature: bytes, message: Array(signedText.utf8), publicKey: publicKey)
    }

    public static func eventsSHA256(_ hashes: [String]) -> String {
        Crypto.hex(Crypto.sha256(Array(hashes.map { $0 + "\n" }.joined().utf8)))
    }
}
