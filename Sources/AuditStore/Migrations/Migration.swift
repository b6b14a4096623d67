import Foundation

/// One file of `sql/`, named `NNNN_name.sql`.
public struct Migration: Sendable, Equatable {
    public var version: Int
    public var name: String
    public var sql: String

    /// The migrations in `directory`, in version order.
    public static func load(from directory: URL) throws -> [Migration] {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }
        var migrations: [Migration] = []
        for file in files {
            let stem = String(file.dropLast(4))
            guard let underscore = stem.firstIndex(of: "_"), let version = Int(stem[..<underscore]) else { continue }
            let sql = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            migrations.append(Migration(version: version, name: stem, sql: sql))
        }
        migrations.sort { $0.version < $1.version }
        for (previous, next) in zip(migrations, migrations.dropFirst()) where previous.version == next.version {
            throw MigrationError(message: "two migrations share version \(next.version): \(previous.name) and \(next.name)")
        }
        return migrations
    }

    /// Where `sql/` is: `AUDITLOG_SQL_DIR`, beside the executable (`sql/`, `../share/auditlog/sql/`),
    /// the working directory, then the source checkout this binary was built from.
    public static func defaultDirectory() throws -> URL {
        let environment = ProcessInfo.processInfo.environment
        var candidates: [URL] = []
        if let configured = environment["AUDITLOG_SQL_DIR"] { candidates.append(URL(fileURLWithPath: configured)) }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        candidates.append(executable.appendingPathComponent("sql"))
        candidates.append(executable.appendingPathComponent("../share/auditlog/sql"))
        candidates.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("sql"))
        // Sources/AuditStore/Migrations/Migration.swift → the checkout's sql/.
        candidates.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../sql"))
        for candidate in candidates {
            let path = candidate.standardizedFileURL.path
            if FileManager.default.fileExists(atPath: path + "/0001_roles.sql") { return candidate.standardizedFileURL }
        }
        throw MigrationError(message: "the sql/ migrations folder was not found; set AUDITLOG_SQL_DIR")
    }
}

/// A repeatable script of `sql/functions/` or `sql/policies/`: the current definition of one
/// function (or one table's policies), applied after the numbered migrations whenever its text
/// changed (as Flyway's repeatable migrations are). Numbered migrations keep tables, roles and
/// data; a reader finds each function's definition in one file.
public struct RepeatableScript: Sendable, Equatable {
    /// `functions/search_events`, `policies/event`.
    public var name: String
    public var sql: String

    /// The script's statements, one by one: split at semicolons outside quotes, dollar-quoted
    /// bodies and comments. (Citus re-sends a DDL statement's whole query string to the workers,
    /// and a string of several statements is refused there.)
    public var statements: [String] {
        var result: [String] = []
        var current = ""
        var index = sql.startIndex
        var dollarTag: String?
        var inQuote = false
        while index < sql.endIndex {
            let character = sql[index]
            if let tag = dollarTag {
                if sql[index...].hasPrefix(tag) {
                    current += tag
                    index = sql.index(index, offsetBy: tag.count)
                    dollarTag = nil
                    continue
                }
            } else if inQuote {
                if character == "'" { inQuote = false }
            } else if character == "'" {
                inQuote = true
            } else if character == "-", sql[index...].hasPrefix("--") {
                let end = sql[index...].firstIndex(of: "\n") ?? sql.endIndex
                index = end
                continue
            } else if character == "$", let close = sql[sql.index(after: index)...].firstIndex(of: "$"),
                      sql[sql.index(after: index)..<close].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                let tag = String(sql[index...close])
                dollarTag = tag
                current += tag
                index = sql.index(after: close)
                continue
            } else if character == ";" {
                let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !statement.isEmpty { result.append(statement) }
                current = ""
                index = sql.index(after: index)
                continue
            }
            current.append(character)
            index = sql.index(after: index)
        }
        let last = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !last.isEmpty { result.append(last) }
        return result
    }

    /// The folders of repeatable scripts, in the order they are applied.
    static let folders = ["functions", "policies"]

    /// Every repeatable script under `directory` (the `sql/` folder), folder by folder, by name.
    public static func load(from directory: URL) throws -> [RepeatableScript] {
        var scripts: [RepeatableScript] = []
        for folder in folders {
            let path = directory.appendingPathComponent(folder)
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: path.path)) ?? []).filter { $0.hasSuffix(".sql") }.sorted()
            for file in files {
                let sql = try String(contentsOf: path.appendingPathComponent(file), encoding: .utf8)
                scripts.append(RepeatableScript(name: "\(folder)/\(file.dropLast(4))", sql: sql))
            }
        }
        return scripts
    }
}

/// A migration problem, worded for the operator.
public struct MigrationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
    public init(message: String) { self.message = message }
}
