import AuditCore
import Foundation
internal import PostgresLibPQ

/// Recomputes a tenant's integrity chain from the stored events (`auditlog verify`).
public struct ChainVerifier: Sendable {
    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public var hour: Date?
        public var message: String
        public var description: String {
            (hour.map { "hour \(Timestamp.format($0).prefix(13)):00Z: " } ?? "") + message
        }
    }

    public struct Result: Sendable {
        public var digests = 0
        public var hoursChecked = 0
        public var hoursRemovedByRetention = 0
        public var events = 0
        public var findings: [Finding] = []
        public var intact: Bool { findings.isEmpty }
    }

    /// The HMAC key of digests written before there were digest keys (`AUDITLOG_SIGNING_KEY`).
    let legacyKey: [UInt8]?
    var engine: DatabaseEngine = .postgres

    public init(legacyKey: [UInt8]?) {
        self.legacyKey = legacyKey
    }

    /// Verifies `tenant` for the hours in `[from, to)` (the chain's links are always checked whole).
    func verify(_ tenant: TenantID, from: Date?, to: Date?, on connection: PostgresConnection) throws -> Result {
        return try engine.withTenantTransaction(tenant, roleName: AuditDatabase.maintenanceRole, on: connection) { connection in
            var result = Result()
            let publicKeys = Dictionary(try PublishedDigestKey.all(on: connection).map { ($0.keyID, $0.publicKey) }) { first, _ in first }
            let stored = try StoredDigest.all(of: tenant, on: connection)
            var previous = ""
            var latest: [Date: (Digest, Bool)] = [:]
            for (index, entry) in stored.enumerated() {
                let digest = entry.digest
                if digest.position != Int64(index + 1) {
                    result.findings.append(Finding(hour: digest.hour, message: "the chain skips from position \(index) to \(digest.position): a digest was removed"))
                }
                if digest.previousSignature != previous {
                    result.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) does not carry the previous digest's signature"))
                }
                if let keyID = digest.keyID {
                    if let publicKey = publicKeys[keyID] {
                        if !digest.verify(publicKey: publicKey) {
                            result.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) (sequence \(digest.sequence)) was altered: its signature does not match key \(keyID)"))
                        }
                    } else {
                        result.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) names key \(keyID), which is not a published digest key"))
                    }
                } else if let legacyKey {
                    if !Crypto.constantTimeEquals(Array(digest.expectedSignature(key: legacyKey).utf8), Array(digest.signature.utf8)) {
                        result.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) (sequence \(digest.sequence)) was altered: its signature does not match"))
                    }
                } else {
                    result.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) has an HMAC signature and no HMAC key was given to check it"))
                }
                previous = digest.signature
                if let current = latest[digest.hour], current.0.sequence > digest.sequence { continue }
                latest[digest.hour] = (digest, entry.retentionRemovedAt != nil)
            }
            result.digests = stored.count

            for (hour, (digest, retained)) in latest.sorted(by: { $0.key < $1.key }) {
                if let from, hour.addingTimeInterval(3600) <= from { continue }
                if let to, hour >= to { continue }
                if retained { result.hoursRemovedByRetention += 1; continue }
                let hashes = try connection.query("""
                    SELECT hash FROM audit.event WHERE tenant_id = \(tenant.rawValue)
                      AND occurred_at >= \(hour) AND occurred_at < \(hour.addingTimeInterval(3600)) AND received_at < \(digest.coveredUntil)
                    ORDER BY occurred_at, id
                    """).rows.map { try $0.decode(String.self, at: 0) }
                result.hoursChecked += 1
                if hashes.count < digest.eventCount {
                    result.findings.append(Finding(hour: hour, message: "\(digest.eventCount - hashes.count) event(s) removed (digest counts \(digest.eventCount), \(hashes.count) remain)"))
                } else if hashes.count > digest.eventCount {
                    result.findings.append(Finding(hour: hour, message: "\(hashes.count - digest.eventCount) event(s) inserted outside the normal path (digest counts \(digest.eventCount), \(hashes.count) found)"))
                } else if Digest.eventsSHA256(hashes) != digest.eventsSHA256 {
                    result.findings.append(Finding(hour: hour, message: "an event's hash was changed: the hour's events no longer match its digest"))
                }
            }

            // Each event's stored hash against its recomputed canonical form.
            var query: PostgresQuery = "SELECT \(unsafeSQL: EventReader.columns) FROM audit.event AS e WHERE e.tenant_id = \(tenant.rawValue)"
            if let from { query.append(" AND e.occurred_at >= \(from)") }
            if let to { query.append(" AND e.occurred_at < \(to)") }
            for row in try connection.query(query).rows {
                result.events += 1
                guard case .object(var members) = try EventReader.record(row), case .string(let stored)? = members.removeValue(forKey: "hash") else { continue }
                let computed = Crypto.hex(Crypto.sha256(Array(JSONValue.object(members).canonicalText.utf8)))
                if computed != stored {
                    let micros = try row.decode(Int64.self, at: EventEncoding.Column.occurredMicros)
                    let hour = Timestamp.hourStart(Date(timeIntervalSince1970: Double(micros) / 1_000_000))
                    result.findings.append(Finding(hour: hour, message: "event \(try row.decode(String.self, at: 0)) was altered: its content does not match its hash"))
                }
            }
            result.findings.sort { ($0.hour ?? .distantPast) < ($1.hour ?? .distantPast) }
            return result
        }
    }
}
