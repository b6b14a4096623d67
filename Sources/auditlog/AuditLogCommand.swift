import ArgumentParser
import Foundation
import Logging
import AuditStore
import NIOCore
import NIOPosix

/// The process's entry point: before any async code runs, Swift concurrency's global executor
/// becomes NIO's event loops, so a request's handler, the pool's bookkeeping and the response
/// write share threads instead of handing each request from an event loop to Swift's own pool
/// and back (each hand-over a thread wake-up). Blocking work stays off these threads as before:
/// libpq runs on each connection's own queue, child processes through `runBlocking`.
@main
enum Entry {
    static func main() {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        Task {
            await AuditLogCommand.main()
            exit(0)
        }
        dispatchMain()
    }
}

struct AuditLogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auditlog",
        abstract: "A multi-tenant audit log service on PostgreSQL.",
        discussion: """
            With no DATABASE_URL, auditlog runs its own PostgreSQL in ./.auditlog \
            (AUDITLOG_DATA_DIR); every command uses that same database.
            """,
        subcommands: [Serve.self, Migrate.self, Keys.self, Token.self, Retention.self, Verify.self, DigestKeyCommand.self]
    )
}

/// Logging to standard error, at LOG_LEVEL (default info).
enum CommandLogging {
    static func bootstrap(defaultLevel: Logger.Level = .info) -> Logger {
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? defaultLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "auditlog")
    }
}

/// A failure worded for the operator; ArgumentParser prints it and exits 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String

    /// The operator sees the server's full message: they run the command against their own database.
    init(_ error: any Error) {
        if let error = error as? StoreError {
            description = error.operatorDetail
        } else {
            description = String(describing: error)
        }
    }
}

/// Writes a line to standard error (messages for the person, beside the command's output).
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
