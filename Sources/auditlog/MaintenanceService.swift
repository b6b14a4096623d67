import AuditStore
import Logging
import ServiceLifecycle

/// Runs a retention pass when `serve` starts and then every `interval`, and seals closed hours
/// every `sealInterval` between them (so a digest follows an hour's close by about
/// `AUDITLOG_SEAL_DELAY`, not by up to an hour); stops between passes on graceful shutdown.
/// Several replicas may run it: the pass's advisory lock lets one work.
struct MaintenanceService: Service {
    let database: AuditDatabase
    let digests: DigestWriter
    let interval: Duration
    var sealInterval: Duration = .seconds(60)
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            var lastFull: ContinuousClock.Instant?
            while !Task.isCancelled {
                do {
                    var pass = RetentionPass(digests: digests, logger: logger)
                    pass.sealOnly = lastFull.map { $0.duration(to: .now) < interval } ?? false
                    if !pass.sealOnly { lastFull = .now }
                    let report = try await database.runRetention(pass, dryRun: false)
                    if pass.sealOnly {
                        if report.digestsWritten > 0 { logger.info("sealed closed hours", metadata: ["digests_written": "\(report.digestsWritten)"]) }
                    } else if report.ran {
                        logger.info("retention pass done", metadata: [
                            "partitions_created": "\(report.partitionsCreated)",
                            "partitions_dropped": "\(report.partitionsDropped.count)",
                            "digests_written": "\(report.digestsWritten)",
                            "events_removed": "\(report.tenants.map(\.removed).reduce(0, +))",
                        ])
                    }
                } catch is CancellationError {
                    return
                } catch let error as StoreError where error.code == .cancelled {
                    logger.info("retention pass stopped for shutdown; the next pass continues it")
                    return
                } catch {
                    logger.error("retention pass failed; will retry", metadata: ["error": "\(error)"])
                }
                do { try await Task.sleep(for: min(interval, sealInterval)) } catch { return }  // shutting down
            }
        }
    }
}
