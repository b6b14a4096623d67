import ArgumentParser
import Foundation
import Logging
import AuditStore

@main
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
