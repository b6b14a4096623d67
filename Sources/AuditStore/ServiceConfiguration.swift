import Foundation

/// The settings of SPEC §2, read from the environment; flags of the same name override them.
public struct ServiceConfiguration: Sendable {
    public var databaseURL: String?
    public var databaseAdminURL: String?
    public var databaseReplicaURL: String?
    public var host: String
    public var port: Int
    public var retentionDays: Int
    public var poolSize: Int
    public var dataDirectory: URL
    /// Extra sensitive keys whose values are stored as "[redacted]" (`AUDITLOG_REDACT_KEYS`).
    public var redactKeys: [String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        func integer(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws -> Int {
            guard let raw = value(name) else { return fallback }
            guard let number = Int(raw), range.contains(number) else {
                throw ConfigurationError(message: "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not '\(raw)'")
            }
            return number
        }
        databaseURL = value("DATABASE_URL")
        databaseAdminURL = value("DATABASE_ADMIN_URL")
        databaseReplicaURL = value("DATABASE_REPLICA_URL")
        host = value("AUDITLOG_HOST") ?? "127.0.0.1"
        port = try integer("AUDITLOG_PORT", default: 8080, range: 0...65535)
        retentionDays = try integer("AUDITLOG_RETENTION_DAYS", default: 90, range: 1...3650)
        poolSize = try integer("AUDITLOG_POOL_SIZE", default: 2 * ProcessInfo.processInfo.activeProcessorCount, range: 1...500)
        dataDirectory = URL(fileURLWithPath: value("AUDITLOG_DATA_DIR") ?? ".auditlog")
        redactKeys = (value("AUDITLOG_REDACT_KEYS") ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
    }

    /// True when no `DATABASE_URL` is set: auditlog runs its own PostgreSQL.
    public var usesEmbeddedDatabase: Bool { databaseURL == nil }
}

/// A setting that cannot be used, worded for the operator.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var description: String { message }
}
