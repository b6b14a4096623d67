import CCrypto
import Foundation

/// The Ed25519 key that signs integrity digests (`AUDITLOG_DIGEST_KEY`): its own secret, never
/// the viewer-token key, so whoever can check a digest (anyone with the public key) cannot mint
/// tokens, and whoever holds the token key cannot sign a chain.
public struct DigestSigningKey: Sendable {
    /// The 32-byte private seed (RFC 8032).
    let seed: [UInt8]
    /// The 32-byte public key.
    public let publicKey: [UInt8]

    /// From a 32-byte seed; nil for anything else or when OpenSSL refuses it.
    public init?(seed: [UInt8]) {
        guard seed.count == 32, let publicKey = Self.publicKey(of: seed) else { return nil }
        self.seed = seed
        self.publicKey = publicKey
    }

    /// The private seed in hex, as AUDITLOG_DIGEST_KEY takes it (printed once by a rotation).
    public var seedHex: String { Crypto.hex(seed) }

    public static func generate() -> DigestSigningKey {
        DigestSigningKey(seed: Crypto.randomBytes(32))!
    }

    /// Names the key in each digest it signs: `ed25519:` and the first 8 bytes of the SHA-256 of
    /// the public key, in hex.
    public var keyID: String { Self.keyID(publicKey: publicKey) }

    public static func keyID(publicKey: [UInt8]) -> String {
        "ed25519:" + Crypto.hex(Crypto.sha256(publicKey).prefix(8))
    }

    /// The Ed25519 signature (64 bytes) of `message`.
    public func sign(_ message: [UInt8]) -> [UInt8] {
        guard let key = seed.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) }) else {
            fatalError("OpenSSL refused an Ed25519 key it accepted before")
        }
        defer { EVP_PKEY_free(key) }
        let context = EVP_MD_CTX_new()
        defer { EVP_MD_CTX_free(context) }
        var signature = [UInt8](repeating: 0, count: 64)
        var length = 64
        guard EVP_DigestSignInit(context, nil, nil, nil, key) == 1,
              message.withUnsafeBufferPointer({ EVP_DigestSign(context, &signature, &length, $0.baseAddress, $0.count) }) == 1 else {
            fatalError("OpenSSL could not sign with Ed25519")
        }
        return Array(signature.prefix(length))
    }

    /// True when `signature` is `publicKey`'s Ed25519 signature of `message`.
    public static func verify(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == 64, publicKey.count == 32,
              let key = publicKey.withUnsafeBufferPointer({ EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) }) else {
            return false
        }
        defer { EVP_PKEY_free(key) }
        let context = EVP_MD_CTX_new()
        defer { EVP_MD_CTX_free(context) }
        guard EVP_DigestVerifyInit(context, nil, nil, nil, key) == 1 else { return false }
        return signature.withUnsafeBufferPointer { sig in
            message.withUnsafeBufferPointer { EVP_DigestVerify(context, sig.baseAddress, sig.count, $0.baseAddress, $0.count) }
        } == 1
    }

    static func publicKey(of seed: [UInt8]) -> [UInt8]? {
        guard let key = seed.withUnsafeBufferPointer({ EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nil, $0.baseAddress, 32) }) else {
            return nil
        }
        defer { EVP_PKEY_free(key) }
        var publicKey = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(key, &publicKey, &length) == 1, length == 32 else { return nil }
        return publicKey
    }
}
