import Foundation
import Logging
import Synchronization

/// Who may start and stop the embedded database, arbitrated by an exclusive `flock` on
/// `<dataDirectory>/auditlog.lock` whose content names the holder.
///
/// - `serve` takes the lock or fails at once: a second server on the same folder says
///   which process has it.
/// - Other commands (`migrate`, `keys`, …) connect to the database of a running `serve`
///   without touching it; otherwise they take the lock (waiting for another command),
///   start the database if needed and stop it again when done.
public final class EmbeddedDatabaseLease: Sendable {
    public let database: EmbeddedPostgres
    /// The locked file while this lease holds it; taken out exactly once by `release`.
    private let lockDescriptor: Mutex<Int32?>
    private let logger: Logger

    public enum Purpose: Sendable {
        case serve
        case command(String)
    }

    private init(database: EmbeddedPostgres, lockDescriptor: Int32?, logger: Logger) {
        self.database = database
        self.lockDescriptor = Mutex(lockDescriptor)
        self.logger = logger
    }

    public static func acquire(_ database: EmbeddedPostgres, for purpose: Purpose, logger: Logger) throws -> EmbeddedDatabaseLease {
        try FileManager.default.createDirectory(at: database.dataDirectory, withIntermediateDirectories: true)
        let path = database.dataDirectory.path + "/auditlog.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw EmbeddedPostgresError(message: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        let holderText: String
        switch purpose {
        case .serve: holderText = "auditlog serve (pid \(getpid()))"
        case .command(let name): holderText = "auditlog \(name) (pid \(getpid()))"
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let holder = readHolder(descriptor)
            switch purpose {
            case .serve:
                close(descriptor)
                throw EmbeddedPostgresError(message: """
                    The data directory \(database.dataDirectory.path) is in use by \(holder ?? "another auditlog process"). \
                    Stop it first, or set AUDITLOG_DATA_DIR to another folder.
                    """)
            case .command:
                if let holder, holder.hasPrefix("auditlog serve") {
                    // The server may still be starting its database: give it a minute.
                    close(descriptor)
                    for _ in 0..<120 {
                        if try database.isRunning() {
                            logger.debug("using the database of the running server", metadata: ["holder": "\(holder)"])
                            return EmbeddedDatabaseLease(database: database, lockDescriptor: nil, logger: logger)
                        }
                        usleep(500_000)
                    }
                    throw EmbeddedPostgresError(message: """
                        \(holder) holds \(database.dataDirectory.path) but its database did not come up; see \(database.logFile).
                        """)
                }
                logger.info("waiting for \(holder ?? "another auditlog process") to finish with the data directory")
                guard flock(descriptor, LOCK_EX) == 0 else {
                    close(descriptor)
                    throw EmbeddedPostgresError(message: "cannot lock \(path): \(String(cString: strerror(errno)))")
                }
            }
        }
        ftruncate(descriptor, 0)
        _ = holderText.withCString { pwrite(descriptor, $0, strlen($0), 0) }
        do {
            try database.start(logger: logger)
            return EmbeddedDatabaseLease(database: database, lockDescriptor: descriptor, logger: logger)
        } catch {
            close(descriptor)
            throw error
        }
    }

    /// Stops the database if this lease holds the lock (a server left running by a crashed
    /// holder is adopted and stopped too), and gives the lock back.
    public func release() {
        guard let descriptor = lockDescriptor.withLock({ held -> Int32? in
            defer { held = nil }
            return held
        }) else { return }
        do { try database.stop(logger: logger) } catch { logger.error("\(error)") }
        ftruncate(descriptor, 0)
        close(descriptor)
    }

    private static func readHolder(_ descriptor: Int32) -> String? {
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }
}
