import ArgumentParser
import AuditCore
import AuditStore
import Foundation
import Logging

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check a tenant's integrity chain against its stored events.",
        discussion: "Exit 0 when intact; exit 2 when something was altered, removed or inserted, naming the hour and what differs."
    )

    @Option(help: "The tenant to verify.")
    var tenant: String

    @Option(help: "Only hours from this date or RFC 3339 time.")
    var from: String?

    @Option(help: "Only hours before this date or RFC 3339 time.")
    var to: String?

    func validate() throws {
        guard TenantID(tenant) != nil else { throw ValidationError("--tenant must be 1-128 characters of A-Z, a-z, 0-9, _ . : -") }
        if let from, SearchQuery.parseDate(from) == nil { throw ValidationError("--from must be a date (2026-11-01) or an RFC 3339 time") }
        if let to, SearchQuery.parseDate(to) == nil { throw ValidationError("--to must be a date (2026-11-20) or an RFC 3339 time") }
    }

    func run() async throws {
        let (tenant, from, to) = (TenantID(tenant)!, from.flatMap(SearchQuery.parseDate), to.flatMap(SearchQuery.parseDate))
        let logger = CommandLogging.bootstrap(defaultLevel: .warning)
        let result = try await Migrations.withMigratedDatabase("verify", logger: logger) { session in
            // The token key checks only the HMAC digests of earlier versions; without it, those are reported unchecked.
            let legacyKey = try? session.configuration.signingKey(embeddedDataDirectory: session.endpoint.dataDirectory)
            let database = try await Migrations.store(session, logger: logger)
            defer { Task { await database.close() } }
            return try await database.verify(tenant, from: from, to: to, legacyKey: legacyKey)
        }
        try Self.report(result, subject: tenant.rawValue)
    }

    /// Prints a report (tampering, then late arrivals, then the summary); exit 2 unless intact.
    static func report(_ result: ChainCheck.Report, subject: String) throws {
        for finding in result.findings { print("TAMPERED \(finding)") }
        for late in result.lateArrivals { print("LATE \(late)") }
        print("\(subject): \(result.digests) digest(s), \(result.hoursChecked) hour(s) checked, "
              + "\(result.hoursRemovedByRetention) removed by retention, \(result.events) event hash(es) recomputed, "
              + "\(result.lateArrivals.count) hour(s) with late arrivals: "
              + (result.intact ? "intact." : "\(result.findings.count) problem(s)."))
        if !result.intact { throw ExitCode(2) }
    }
}
