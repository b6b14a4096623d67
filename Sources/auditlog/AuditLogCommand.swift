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
        subcommands: [Serve.self, Migrate.self, Keys.self, Token.self, Retention.self, Verify.self, DigestKeyCommand.self,
                      Attach.self, Detach.self, Attached.self]
    )
}

/// Logging to standard error, at LOG_LEVEL (default info).
enum CommandLogging {
    static func bootstrap(defaultLevel: Logger.Level = .info) -> Logger {
        let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? defaultLevel
        LoggingSystem.bootstrap { label in
            var handler = DeferredMetadataLogHandler(StreamLogHandler.standardError(label: label))
            handler.logLevel = level
            return handler
        }
        return Logger(label: "auditlog")
    }
}

/// `StreamLogHandler`'s output, with its metadata kept aside until a line is written.
///
/// `StreamLogHandler` formats its whole metadata into text each time a key is set. The server
/// sets a request id on every request's logger, and most requests log nothing at the default
/// level: that formatting was 3 % of the server's CPU under single-event ingest.
struct DeferredMetadataLogHandler: LogHandler {
    private var inner: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    init(_ inner: StreamLogHandler) {
        self.inner = inner
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if !metadata.isEmpty { event.metadata = metadata.merging(event.metadata ?? [:]) { _, explicit in explicit } }
        inner.log(event: event)
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

    init(description: String) {
        self.description = description
    }
}

/// Writes a line to standard error (messages for the person, beside the command's output).
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Prints rows as aligned columns, two spaces apart; the last column is not padded.
func printColumns(_ rows: [[String]]) {
    guard let count = rows.first?.count else { return }
    let widths = (0..<count).map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
        print(zip(row, widths).enumerated().map { index, cell in
            index == count - 1 ? cell.0 : cell.0.padding(toLength: cell.1, withPad: " ", startingAt: 0)
        }.joined(separator: "  "))
    }
}
