import ArgumentParser
import AuditCore
import AuditStore
import Foundation

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage publisher API keys (as the schema owner: DATABASE_ADMIN_URL, or the embedded database).",
        discussion: """
            Every create, revoke and rotate is recorded in audit.api_key_change with who made it and when. \
            A revoked key, or a rotated one past its grace, is refused within 2 seconds by every serve replica.
            """,
        subcommands: [Create.self, List.self, Revoke.self, Rotate.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a publisher API key and print it once (only its SHA-256 is stored)."
        )

        @Option(help: "A name saying who uses the key, e.g. \"billing backend\".")
        var name: String

        @Option(help: "Restrict the key to one tenant (organisation key); without it the key may use every tenant.")
        var tenant: String?

        func validate() throws {
            guard (1...200).contains(name.count) else { throw ValidationError("--name must be 1 to 200 characters.") }
            if let tenant, TenantID(tenant) == nil {
                throw ValidationError("--tenant must be 1-128 characters of A-Z, a-z, 0-9, _ . : -")
            }
        }

        func run() async throws {
            let (name, tenant) = (name, tenant.flatMap(TenantID.init))
            let created = try await Migrations.withMigratedDatabase("keys create", logger: CommandLogging.bootstrap(defaultLevel: .warning)) { session in
                try await session.endpoint.createPublisherKey(name: name, tenant: tenant)
            }
            print(created.key)
            let scope = tenant.map { "tenant \($0)" } ?? "every tenant"
            printError("Created publisher key #\(created.record.id) \"\(name)\" for \(scope). It is shown only this once; store it now.")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the publisher keys: id, name, tenant restriction, created, last used, state (never a secret).")

        func run() async throws {
            let keys = try await Migrations.withMigratedDatabase("keys list", logger: CommandLogging.bootstrap(defaultLevel: .warning)) { session in
                try await session.endpoint.publisherKeys()
            }
            guard !keys.isEmpty else {
                printError("No publisher keys yet; make one with `auditlog keys create --name NAME`.")
                return
            }
            let now = Date()
            func time(_ date: Date?) -> String { date.map { String(Timestamp.format($0).prefix(19)) + "Z" } ?? "-" }
            let rows = [["ID", "NAME", "TENANT", "PREFIX", "CREATED", "LAST USED", "STATE"]] + keys.map { key in
                var state = key.state(at: now)
                switch state {
                case "revoked": state = "revoked \(time(key.revokedAt))"
                case "expires", "expired": state = "\(state) \(time(key.expiresAt))" + (key.replacedBy.map { " (replaced by \($0))" } ?? "")
                default: break
                }
                return [String(key.id), key.name, key.tenant ?? "(every tenant)", key.prefix + "…", time(key.createdAt), time(key.lastUsedAt), state]
            }
            printColumns(rows)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a publisher key now: every replica refuses it within 2 seconds (exit 1: no such key).")

        @Argument(help: "The key's id, as `auditlog keys list` shows it.")
        var id: Int64

        func run() async throws {
            let id = self.id
            let key = try await Migrations.withMigratedDatabase("keys revoke", logger: CommandLogging.bootstrap(defaultLevel: .warning)) { session in
                try await session.endpoint.revokePublisherKey(id: id)
            }
            guard let key else {
                printError("auditlog keys revoke: no publisher key has id \(id); `auditlog keys list` shows them")
                throw ExitCode(1)
            }
            print("Revoked publisher key #\(key.id) \"\(key.name)\" (\(key.prefix)…) at \(key.revokedAt.map(Timestamp.format) ?? "?").")
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a new secret in place of a key and print it once; the old one keeps working for --grace, then is refused (exit 1: no such active key).")

        @Argument(help: "The key's id, as `auditlog keys list` shows it.")
        var id: Int64

        @Option(help: ArgumentHelp("How long the old secret keeps working: seconds, or with s, m, h or d (0 to 30d).", valueName: "duration"))
        var grace: String = "24h"

        func validate() throws {
            guard Self.seconds(grace) != nil else { throw ValidationError("--grace must be a duration such as 3600, 90m, 24h or 7d, from 0 to 30d") }
        }

        /// "24h" → 86400; nil when malformed or over 30 days.
        static func seconds(_ text: String) -> Int? {
            let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
            var digits = Substring(text)
            var unit = 1
            if let last = text.last, let multiplier = units[last] {
                digits = text.dropLast()
                unit = multiplier
            }
            guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), digits.count <= 8,
                  let value = Int(digits), value * unit <= 30 * 86_400 else { return nil }
            return value * unit
        }

        func run() async throws {
            let (id, grace) = (self.id, Self.seconds(self.grace)!)
            let rotated = try await Migrations.withMigratedDatabase("keys rotate", logger: CommandLogging.bootstrap(defaultLevel: .warning)) { session in
                try await session.endpoint.rotatePublisherKey(id: id, grace: grace)
            }
            guard let rotated else {
                printError("auditlog keys rotate: no active publisher key has id \(id) (revoked and expired keys cannot be rotated); `auditlog keys list` shows them")
                throw ExitCode(1)
            }
            print(rotated.key)
            printError("Created publisher key #\(rotated.record.id) \"\(rotated.record.name)\" in place of #\(id), which works until "
                       + "\(rotated.old.expiresAt.map(Timestamp.format) ?? "now") and is refused after. The new key is shown only this once; store it now.")
        }
    }
}
