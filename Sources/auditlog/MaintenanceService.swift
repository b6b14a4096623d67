import AuditStore
import Logging
import ServiceLifecycle

/// Runs a retention pass when `serve` starts and then every `interval`; stops between passes
/// on graceful shutdown. Several replicas may run it: the pass's advisory lock lets one work.
struct MaintenanceService: Service {
    let database: AuditDatabase
    let digests: DigestWriter
    let interval: Duration
    let logger: Logger

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let report = try await database.runRetention(RetentionPass(digests: digests, logger: logger), dryRun: false)
                    if report.ran {
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
                do { try await Task.sleep(for: interval) } catch { return }  // shutting down
            }
        }
    }
}
