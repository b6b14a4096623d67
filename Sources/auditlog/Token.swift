import ArgumentParser
import AuditCore
import AuditStore
import Foundation

struct Token: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mint a viewer token (JWT, HS256) for the web viewer or the read API.",
        discussion: "Signed with AUDITLOG_SIGNING_KEY, or the embedded data directory's key. Exit 64 for bad arguments."
    )

    @Option(help: "The tenant (organisation key) whose log the token reads.")
    var tenant: String

    @Option(help: "owner, admin, support or member.")
    var role: String

    @Option(help: "The reader's id in your product (the token's sub).")
    var actor: String

    @Option(help: "The reader's display name.")
    var name: String?

    @Option(help: "Lifetime in seconds, 1 to 86400.")
    var ttl: Int = 3600

    func validate() throws {
        guard TenantID(tenant) != nil else { throw ValidationError("--tenant must be 1-128 characters of A-Z, a-z, 0-9, _ . : -") }
        guard let role = AccessRole(rawValue: role), role != .publisher else {
            throw ValidationError("--role must be owner, admin, support or member")
        }
        guard (1...256).contains(actor.count) else { throw ValidationError("--actor must be 1 to 256 characters") }
        guard (1...Int(ViewerTokenCodec.maxLifetime)).contains(ttl) else { throw ValidationError("--ttl must be 1 to 86400 seconds") }
    }

    func run() throws {
        let configuration = try ServiceConfiguration()
        let key: [UInt8]
        do {
            try FileManager.default.createDirectory(at: configuration.dataDirectory, withIntermediateDirectories: true)
            key = try configuration.signingKey(embeddedDataDirectory: configuration.usesEmbeddedDatabase ? configuration.dataDirectory : nil)
        } catch {
            throw CommandFailure(error)
        }
        let now = Date()
        let claims = ViewerClaims(tenant: TenantID(tenant)!, role: AccessRole(rawValue: role)!, actorID: actor, actorName: name,
                                  issuedAt: now, expiresAt: now.addingTimeInterval(Double(ttl)))
        print(ViewerTokenCodec(key: key).mint(claims))
    }
}
