import AuditCore
import AuditHTTP
import AuditStore
import AuditStreams
import Foundation
import Logging

/// The settings of SPEC §2, read from the environment; flags of the same name override them.
/// Each default is written once, by the part that uses the setting (`AppServices`,
/// `StreamDelivery.Configuration`, `StoreConfiguration`, `DigestWriter`); this reads the
/// environment and hands each part its values.
struct ServiceConfiguration: Sendable {
    var databaseURL: String?
    var databaseAdminURL: String?
    var host: String
    var port: Int
    /// `AUDITLOG_RETENTION_DAYS` when set; `migrate` writes it to the database, which is the one
    /// source every instance reads (see `AuditDatabase.globalRetentionDays`).
    var retentionDays: Int?
    /// `AUDITLOG_RETENTION_GRACE` (seconds; the database keeps 7 days unless set): how long lifting
    /// a legal hold or shortening a retention waits, pending and cancellable, before it takes effect.
    var retentionGraceSeconds: Int?
    /// The store's bulkheads, time limits and replica (from `AUDITLOG_POOL_*`, `AUDITLOG_*_TIMEOUT`,
    /// `DATABASE_REPLICA_URL` and `AUDITLOG_REPLICA_MAX_LAG`).
    var store: StoreConfiguration
    var dataDirectory: URL
    /// `AUDITLOG_SIGNING_KEY` as given (hex or base64); see `signingKey(for:)`.
    var signingKeyText: String?
    /// `AUDITLOG_DIGEST_KEY` as given (hex or base64 of a 32-byte seed); see `digestKey(for:)`.
    var digestKeyText: String?
    /// `AUDITLOG_SEAL_DELAY` (seconds, default 300): how long after an hour ends it is sealed.
    /// Keep it above `AUDITLOG_WRITE_TIMEOUT`, so no transaction still committing is passed by.
    var sealDelay: TimeInterval
    /// Extra sensitive keys whose values are stored as "[redacted]" (`AUDITLOG_REDACT_KEYS`).
    var redactKeys: [String]
    /// Who may frame the viewer page (`AUDITLOG_FRAME_ANCESTORS`, CSP source expressions such
    /// as `https://app.example.com`); `'none'` by default.
    var frameAncestors: String
    /// `AUDITLOG_FEED_MAX_WAIT` (s): the longest a feed long poll is held; a larger `wait` is held this long.
    var feedMaxWait: Int
    /// `AUDITLOG_LIVE_MAX_DURATION` (s): how long one live-view connection lasts before the client reconnects.
    var liveMaxDuration: Int
    /// `AUDITLOG_STREAM_ALLOW_HOSTS`: host[:port] and CIDR entries streams may reach although private.
    var streamAllowHosts: DestinationAllowList
    /// `AUDITLOG_STREAM_FAILING_AFTER`, `AUDITLOG_STREAM_BATCH`, `AUDITLOG_STREAM_LINGER`: stream delivery.
    var delivery: StreamDelivery.Configuration
    /// `AUDITLOG_MAINTENANCE`: `serve` runs the retention pass and seals digests itself. Off
    /// where one scheduled `auditlog retention run` does it for every replica.
    var maintenance: Bool
    /// `AUDITLOG_CAPTURE_DRAIN`: `serve` turns captured changes of attached tables into events
    /// (docs/capture.md). Off where other replicas do it.
    var captureDrain: Bool

    init(environment: [String: String] = ProcessInfo.processInfo.environment) throws {
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
        host = value("AUDITLOG_HOST") ?? "127.0.0.1"
        port = try integer("AUDITLOG_PORT", default: 8080, range: 0...65535)
        retentionDays = value("AUDITLOG_RETENTION_DAYS") == nil ? nil : try integer("AUDITLOG_RETENTION_DAYS", default: 90, range: 1...3650)
        retentionGraceSeconds = value("AUDITLOG_RETENTION_GRACE") == nil ? nil
            : try integer("AUDITLOG_RETENTION_GRACE", default: 604_800, range: 0...31_536_000)
        let poolSize = try integer("AUDITLOG_POOL_SIZE", default: 2 * ProcessInfo.processInfo.activeProcessorCount, range: 1...500)
        store = StoreConfiguration(
            poolSize: poolSize, replicaConninfo: value("DATABASE_REPLICA_URL"),
            replicaMaxLag: .seconds(try integer("AUDITLOG_REPLICA_MAX_LAG", default: 10, range: 0...86_400)),
            readTimeout: .seconds(try integer("AUDITLOG_READ_TIMEOUT", default: 5, range: 1...3600)),
            writeTimeout: .seconds(try integer("AUDITLOG_WRITE_TIMEOUT", default: 30, range: 1...3600)))
        if let vendor = value("AUDITLOG_VENDOR_NAME") {
            let name = vendor.trimmingCharacters(in: .whitespaces)
            guard (1...100).contains(name.count), !name.contains(where: { $0.isNewline || $0 == "\0" }) else {
                throw ConfigurationError(message: "AUDITLOG_VENDOR_NAME must be 1-100 characters on one line, such as Acme Cloud")
            }
            store.vendorName = name
        }
        store.ingestConnections = try integer("AUDITLOG_POOL_INGEST", default: store.ingestConnections, range: 1...500)
        store.readConnections = try integer("AUDITLOG_POOL_READ", default: store.readConnections, range: 1...500)
        store.authConnections = try integer("AUDITLOG_POOL_AUTH", default: store.authConnections, range: 1...100)
        store.maintenanceConnections = try integer("AUDITLOG_POOL_MAINTENANCE", default: store.maintenanceConnections, range: 1...100)
        dataDirectory = URL(fileURLWithPath: value("AUDITLOG_DATA_DIR") ?? ".auditlog")
        signingKeyText = value("AUDITLOG_SIGNING_KEY")
        digestKeyText = value("AUDITLOG_DIGEST_KEY")
        sealDelay = TimeInterval(try integer("AUDITLOG_SEAL_DELAY", default: Int(DigestWriter.defaultSealDelay), range: 0...86_400))
        redactKeys = (value("AUDITLOG_REDACT_KEYS") ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }.filter { !$0.isEmpty }
        do {
            frameAncestors = try FrameAncestors.parse(value("AUDITLOG_FRAME_ANCESTORS"))
        } catch {
            throw ConfigurationError(message: error.description)
        }
        feedMaxWait = try integer("AUDITLOG_FEED_MAX_WAIT", default: AppServices.defaultFeedMaxWait, range: 0...AppServices.defaultFeedMaxWait)
        liveMaxDuration = try integer("AUDITLOG_LIVE_MAX_DURATION", default: AppServices.defaultLiveMaxDuration, range: 1...3600)
        func flag(_ name: String, default fallback: Bool) throws -> Bool {
            guard let raw = value(name) else { return fallback }
            switch raw.lowercased() {
            case "1", "true", "yes", "on": return true
            case "0", "false", "no", "off": return false
            default: throw ConfigurationError(message: "\(name) must be true or false, not '\(raw)'")
            }
        }
        if value("AUDITLOG_STREAM_ALLOW_PRIVATE") != nil {
            throw ConfigurationError(message: """
                AUDITLOG_STREAM_ALLOW_PRIVATE is gone: it allowed every address, link-local and metadata ones included. \
                List the destinations instead, e.g. AUDITLOG_STREAM_ALLOW_HOSTS=127.0.0.1,10.20.0.0/16
                """)
        }
        do {
            streamAllowHosts = try DestinationAllowList.parse(value("AUDITLOG_STREAM_ALLOW_HOSTS") ?? "")
        } catch {
            throw ConfigurationError(message: error.description)
        }
        maintenance = try flag("AUDITLOG_MAINTENANCE", default: true)
        captureDrain = try flag("AUDITLOG_CAPTURE_DRAIN", default: true)
        var delivery = StreamDelivery.Configuration()
        delivery.failingAfter = .seconds(try integer("AUDITLOG_STREAM_FAILING_AFTER", default: Int(delivery.failingAfter.components.seconds),
                                                     range: 1...31_536_000))
        delivery.batchSize = try integer("AUDITLOG_STREAM_BATCH", default: delivery.batchSize, range: 1...1000)
        delivery.linger = .milliseconds(try integer("AUDITLOG_STREAM_LINGER", default: Int(delivery.linger.components.seconds * 1000),
                                                    range: 0...60_000))
        self.delivery = delivery
    }

    /// The HMAC key for viewer tokens: `AUDITLOG_SIGNING_KEY`, or in embedded mode one generated
    /// once and kept in `<data dir>/signing.key` (mode 0600). It also checks the HMAC digests
    /// written before digests had a key of their own.
    func signingKey(embeddedDataDirectory: URL?) throws -> [UInt8] {
        try Self.secret("AUDITLOG_SIGNING_KEY", given: signingKeyText, file: "signing.key", in: embeddedDataDirectory,
                        describe: "at least 32 bytes, written as hex or base64", parse: SigningKey.parse)
    }

    /// The Ed25519 key that signs digests: `AUDITLOG_DIGEST_KEY` (a 32-byte seed, hex or base64),
    /// or in embedded mode one generated once into `<data dir>/digest.key`. Never the token key.
    func digestKey(embeddedDataDirectory: URL?) throws -> DigestSigningKey {
        let seed = try Self.secret("AUDITLOG_DIGEST_KEY", given: digestKeyText, file: "digest.key", in: embeddedDataDirectory,
                                   describe: "a 32-byte Ed25519 seed, written as hex or base64") { text in
            SigningKey.parse(text).flatMap { $0.count == 32 ? $0 : nil }
        }
        guard let key = DigestSigningKey(seed: seed) else {
            throw ConfigurationError(message: "AUDITLOG_DIGEST_KEY is not a usable Ed25519 seed")
        }
        return key
    }

    /// A secret from its variable, else (embedded mode) from a file in the data directory, made
    /// with 32 random bytes the first time.
    static func secret(
        _ variable: String, given: String?, file: String, in directory: URL?, describe: String, parse: (String) -> [UInt8]?
    ) throws -> [UInt8] {
        if let given {
            guard let key = parse(given) else { throw ConfigurationError(message: "\(variable) must be \(describe)") }
            return key
        }
        guard let directory else {
            throw ConfigurationError(message: "\(variable) is required with DATABASE_URL (\(describe))")
        }
        let path = directory.appendingPathComponent(file).path
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            guard let key = parse(text) else {
                throw ConfigurationError(message: "\(path) does not hold a valid key for \(variable); remove it to make a new one")
            }
            return key
        }
        let key = Crypto.randomBytes(32)
        guard FileManager.default.createFile(atPath: path, contents: Data(Crypto.hex(key).utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError(message: "cannot write \(path)")
        }
        return key
    }

    /// The database these settings name (`DATABASE_URL`, `DATABASE_ADMIN_URL`, or the embedded one).
    func openEndpoint(for purpose: EmbeddedDatabaseLease.Purpose, logger: Logger) async throws -> DatabaseEndpoint {
        try await DatabaseEndpoint.open(databaseURL: databaseURL, adminURL: databaseAdminURL, dataDirectory: dataDirectory,
                                        for: purpose, logger: logger)
    }

    /// True when no `DATABASE_URL` is set: auditlog runs its own PostgreSQL.
    var usesEmbeddedDatabase: Bool { databaseURL == nil }
}
