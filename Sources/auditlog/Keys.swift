import ArgumentParser
import AuditCore
import AuditStore

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage publisher API keys.",
        subcommands: [Create.self]
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
}
