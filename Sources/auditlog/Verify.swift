import ArgumentParser
import AuditCore
import AuditStore
import Foundation
import Logging

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a tenant's integrity chain against its stored events, or an export bundle with no database.",
        discussion: """
            auditlog verify --tenant T [--from D] [--to D]: from the database.
            auditlog verify --bundle FILE [--public-key KEY]... [--since DIGEST]: from a bundle of \
            GET /v1/events/export?format=bundle alone (no database, no credentials).
            Exit 0: intact and fully signed (late arrivals are listed, not failures). \
            Exit 2: tampering found: something was altered, removed or inserted, named by hour. \
            Exit 3: nothing altered among what is signed, but some events are not yet covered by any \
            signature (named by hour; an hour is sealed AUDITLOG_SEAL_DELAY after it ends, or at once \
            by a bundle export): never read it as intact. \
            Exit 1: no such tenant, or the check could not run.
            """
    )

    @Option(help: "The tenant to verify (from the database).")
    var tenant: String?

    @Option(help: ArgumentHelp("An export bundle to verify offline.", valueName: "file"))
    var bundle: String?

    @Option(name: .customLong("public-key"), help: ArgumentHelp(
        "Trust only this Ed25519 public key (hex or base64, as GET /v1/digests/keys shows it); repeatable. Default: the bundle's own keys.",
        valueName: "key"))
    var publicKeys: [String] = []

    @Option(help: ArgumentHelp(
        "The last digest of an earlier bundle (its line, or a file holding it): this bundle's chain must still hold it unchanged.",
        valueName: "digest"))
    var since: String?

    @Option(help: "Only hours from this date or RFC 3339 time.")
    var from: String?

    @Option(help: "Only hours before this date or RFC 3339 time.")
    var to: String?

    func validate() throws {
        if bundle != nil {
            guard tenant == nil, from == nil, to == nil else { throw ValidationError("--bundle verifies the file's own hours; leave out --tenant, --from and --to") }
            for key in publicKeys where ExportBundle.publicKey(key) == nil {
                throw ValidationError("--public-key must be a 32-byte Ed25519 public key in hex or base64: \(key.prefix(80))")
            }
            return
        }
        guard publicKeys.isEmpty, since == nil else { throw ValidationError("--public-key and --since go with --bundle") }
        guard let tenant else { throw ValidationError("give --tenant (from the database) or --bundle FILE (offline)") }
        guard TenantID(tenant) != nil else { throw ValidationError("--tenant must be 1-128 characters of A-Z, a-z, 0-9, _ . : -") }
        if let from, SearchQuery.parseDate(from) == nil { throw ValidationError("--from must be a date (2026-11-01) or an RFC 3339 time") }
        if let to, SearchQuery.parseDate(to) == nil { throw ValidationError("--to must be a date (2026-11-20) or an RFC 3339 time") }
    }

    func run() async throws {
        if let bundle { return try verifyBundle(bundle) }
        let (tenant, from, to) = (TenantID(tenant!)!, from.flatMap(SearchQuery.parseDate), to.flatMap(SearchQuery.parseDate))
        let logger = CommandLogging.bootstrap(defaultLevel: .warning)
        let result = try await Migrations.withMigratedDatabase("verify", logger: logger) { session in
            // The token key checks only the HMAC digests of earlier versions; without it, those are reported unchecked.
            let legacyKey = try? session.configuration.signingKey(embeddedDataDirectory: session.endpoint.dataDirectory)
            let database = try await Migrations.store(session, logger: logger)
            defer { Task { await database.close() } }
            return try await database.verify(tenant, from: from, to: to, legacyKey: legacyKey)
        }
        guard let result else {
            printError("auditlog verify: no such tenant: \(tenant) has no events, no settings and no digests in this database")
            throw ExitCode(1)
        }
        try Self.report(result, subject: tenant.rawValue)
    }

    /// Checks a bundle file with no database.
    func verifyBundle(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read the bundle \(path)")
        }
        var kept: ChainCheck.Link?
        if let since {
            let text = FileManager.default.contents(atPath: since).map { String(decoding: $0, as: UTF8.self) } ?? since
            guard let digest = ExportBundle.keptDigest(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw ValidationError("--since must be a digest line of an earlier bundle, or a file holding one")
            }
            kept = digest
        }
        let trusted = publicKeys.isEmpty ? nil : publicKeys.compactMap(ExportBundle.publicKey)
        let result = ExportBundle.verify(Array(data), trusted: trusted, since: kept)
        try Self.report(result, subject: path)
    }

    /// Prints a report (tampering, then events not yet signed, then late arrivals, then the
    /// summary) and exits 2 on tampering, 3 when some events are not yet signed.
    static func report(_ result: ChainCheck.Report, subject: String) throws {
        for finding in result.findings { print("TAMPERED \(finding)") }
        for line in result.unsignedLines { print("UNSIGNED \(line)") }
        for late in result.lateArrivals { print("LATE \(late)") }
        let unsigned = result.unsigned.values.reduce(0, +)
        let verdict: String
        switch result.exitCode {
        case 2: verdict = "\(result.findings.count) problem(s)."
        case 3: verdict = "nothing altered among what is signed, but \(unsigned) event(s) in \(result.unsigned.count) hour(s) are not yet signed."
        default: verdict = "intact and fully signed."
        }
        print("\(subject): \(result.digests) digest(s), \(result.hoursChecked) hour(s) checked, "
              + "\(result.hoursRemovedByRetention) removed by retention, \(result.events) event hash(es) recomputed, "
              + "\(result.lateArrivals.count) hour(s) with late arrivals: " + verdict)
        if result.exitCode != 0 { throw ExitCode(result.exitCode) }
    }
}
