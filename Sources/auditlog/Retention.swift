import ArgumentParser
import AuditCore
import AuditStore
import Foundation
import Logging

struct Retention: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Retention: remove events older than each tenant's retention.",
        subcommands: [Run.self]
    )

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One retention pass, e.g. from cron: partitions ahead, expired days dropped, short retentions pruned.",
            discussion: "Prints one line per tenant. Tenants on legal hold lose nothing. Skips if another pass is running."
        )

        @Flag(help: "Show what would be removed, and remove nothing.")
        var dryRun = false

        func run() async throws {
            let logger = CommandLogging.bootstrap(defaultLevel: .warning)
            let dryRun = dryRun
            let report = try await Migrations.withMigratedDatabase("retention run", logger: logger) { session in
                let key = try session.configuration.digestKey(embeddedDataDirectory: session.endpoint.dataDirectory)
                let database = try await Migrations.store(session, logger: logger)
                do {
                    let progress = PruneProgress()
                    var pass = RetentionPass(digests: DigestWriter(key: key, sealDelay: session.configuration.sealDelay), onBatch: { tenant, removed in
                        await progress.add(removed, for: tenant)
                    }, logger: logger)
                    // A pass a serve is running (hourly, or its minute's seal) is waited for, not skipped.
                    pass.waitForRunning = .seconds(120)
                    let report = try await database.runRetention(pass, dryRun: dryRun)
                    await database.close()
                    return report
                } catch {
                    await database.close()
                    throw error
                }
            }
            print(Self.render(report))
        }

        static func render(_ report: RetentionPass.Report) -> String {
            guard report.ran else { return "Another retention pass is running; nothing done." }
            var lines = [report.dryRun ? "Dry run: nothing was removed." : "Retention pass complete."]
            if !report.dryRun {
                lines.append("Partitions created: \(report.partitionsCreated); dropped: \(report.partitionsDropped.count); digests written: \(report.digestsWritten)")
            }
            let header = ["tenant", "retention", "hold", report.dryRun ? "would remove" : "removed", "oldest kept"]
            let rows = report.tenants.map { tenant in
                [tenant.tenant, "\(tenant.retentionDays) days", tenant.legalHold ? "yes" : "no", "\(tenant.removed)",
                 tenant.oldestKept.map { String(Timestamp.format($0).prefix(19)) + "Z" } ?? "-"]
            }
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            func line(_ cells: [String]) -> String {
                cells.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ")
            }
            lines.append(line(header))
            lines += rows.map(line)
            let total = report.tenants.map(\.removed).reduce(0, +)
            lines.append("\(report.tenants.count) tenant(s), \(total) event(s) \(report.dryRun ? "would be removed" : "removed").")
            return lines.joined(separator: "\n")
        }
    }
}

/// Progress of a long prune on standard error, at most every two seconds.
actor PruneProgress {
    private var removed: [String: Int] = [:]
    private var lastPrinted = ContinuousClock.now

    func add(_ count: Int, for tenant: String) {
        removed[tenant, default: 0] += count
        guard lastPrinted.duration(to: .now) > .seconds(2) else { return }
        lastPrinted = .now
        printError("pruning \(tenant): \(removed[tenant] ?? 0) event(s) removed so far…")
    }
}
