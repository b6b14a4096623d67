import ArgumentParser
import AuditCore
import AuditStore
import Foundation

struct DigestKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest-key",
        abstract: "The Ed25519 key that signs the integrity digests.",
        subcommands: [Show.self]
    )

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the digest key's id and public key (what a customer verifies digests with).",
            discussion: "AUDITLOG_DIGEST_KEY, or the key generated in the embedded data directory. The private seed is never printed."
        )

        func run() throws {
            let configuration = try ServiceConfiguration()
            let key: DigestSigningKey
            do {
                try FileManager.default.createDirectory(at: configuration.dataDirectory, withIntermediateDirectories: true)
                key = try configuration.digestKey(embeddedDataDirectory: configuration.usesEmbeddedDatabase ? configuration.dataDirectory : nil)
            } catch {
                throw CommandFailure(error)
            }
            print("key_id             \(key.keyID)")
            print("algorithm          ed25519")
            print("public_key         \(Crypto.hex(key.publicKey))")
            print("public_key_base64  \(Data(key.publicKey).base64EncodedString())")
        }
    }
}
