import ArgumentParser
import AuditCore
import AuditStore
import Foundation

struct DigestKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest-key",
        abstract: "The Ed25519 key that signs the integrity digests.",
        subcommands: [Show.self, Rotate.self]
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

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new digest signing key current and retire the others (schema owner only).",
            discussion: """
                Lists the new key's public half in audit.digest_key as the schema owner (DATABASE_ADMIN_URL, or the \
                embedded database's superuser) and retires every other listed key: their digests stay verifiable, \
                but the service no longer signs with them. The service role cannot list a key.
                Embedded mode: the new key replaces digest.key in the data directory (the old file is kept beside it \
                as digest.key.<key id>); restart `serve`. With DATABASE_URL: the new private seed is printed once; set \
                it as AUDITLOG_DIGEST_KEY on every replica and restart them (until then they stop sealing and log why).
                """
        )

        @Option(name: .customLong("seed"), help: ArgumentHelp(
            "Use this 32-byte Ed25519 seed (hex or base64) instead of generating one, e.g. from your key store.", valueName: "seed"))
        var seedText: String?

        func validate() throws {
            if let seedText, SigningKey.parse(seedText).flatMap({ $0.count == 32 ? DigestSigningKey(seed: $0) : nil }) == nil {
                throw ValidationError("--seed must be a 32-byte Ed25519 seed in hex or base64")
            }
        }

        func run() async throws {
            let key = seedText.flatMap { SigningKey.parse($0) }.flatMap(DigestSigningKey.init(seed:)) ?? DigestSigningKey.generate()
            let logger = CommandLogging.bootstrap(defaultLevel: .warning)
            let (keys, wroteFile) = try await Migrations.withMigratedDatabase("digest-key rotate", logger: logger) { session in
                let keys = try await session.endpoint.rotateDigestKey(to: key)
                guard let directory = session.endpoint.dataDirectory, session.configuration.digestKeyText == nil else { return (keys, false) }
                try Self.replaceKeyFile(in: directory, with: key)
                return (keys, true)
            }
            for listed in keys {
                print("\(listed.keyID)  \(listed.retiredAt.map { "retired \(Timestamp.format($0))" } ?? "current")")
            }
            print("New digest key \(key.keyID) (public key \(Crypto.hex(key.publicKey))) is current; the others are retired.")
            if wroteFile {
                print("It replaced digest.key in the data directory. Restart `auditlog serve` to sign with it.")
            } else {
                print("Set AUDITLOG_DIGEST_KEY=\(key.seedHex) on every replica and restart them. It is shown only this once.")
            }
        }

        /// Keeps the old key file as `digest.key.<key id>` and writes the new seed in its place.
        static func replaceKeyFile(in directory: URL, with key: DigestSigningKey) throws {
            let path = directory.appendingPathComponent("digest.key")
            if let old = try? String(contentsOf: path, encoding: .utf8), let seed = SigningKey.parse(old),
               let previous = DigestSigningKey(seed: seed) {
                let kept = directory.appendingPathComponent("digest.key.\(previous.keyID.replacingOccurrences(of: ":", with: "-"))")
                try? FileManager.default.removeItem(at: kept)
                try FileManager.default.moveItem(at: path, to: kept)
            }
            guard FileManager.default.createFile(atPath: path.path, contents: Data(key.seedHex.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw ValidationError("cannot write \(path.path)")
            }
        }
    }
}
