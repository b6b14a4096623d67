import Foundation

/// One link of a tenant's integrity chain (see sql/0007_digests.sql and sql/0013_integrity.sql).
///
/// A digest covers the hours `[hour, hourEnd)` of a tenant: one hour and its events, or a run
/// of empty hours (`eventCount` 0). It counts the events of those hours received before
/// `coveredUntil` and hashes them; `lateCount` says how many of them arrived after the hour
/// was first sealed (a follow-up digest, `sequence` > 0). `signedText` is exactly what the
/// Ed25519 signature (key `keyID`) covers, as UTF-8; format 3:
///
///     auditlog-digest-v3\n<tenant>\n<hour>\n<hour_end>\n<sequence>\n<position>\n<event_count>\n
///     <late_count>\n<events_sha256>\n<covered_until>\n<previous_signature>\n
///     <retention_days>\n<legal_hold>\n<policy_at>\n
///
/// The last three are the retention policy in force when the digest was written (its
/// `retention`): the tenant's effective retention in days, `true`/`false` for a legal hold,
/// and the database time they were read at. Format 2 (sql/0013 to sql/0016) ends at
/// previous_signature and starts `auditlog-digest-v2`. Format 1 (digests written before 0013_integrity.sql, one hour each) omits hour_end and
/// late_count and starts `auditlog-digest-v1`; those without a key id carry an HMAC-SHA-256.
/// Times are `Timestamp.format` (UTC, six fraction digits); a tenant's first digest has an
/// empty previous signature. `events_sha256` is the SHA-256 of each covered event's hash (hex)
/// followed by `\n`, in (occurred_at, id) order.
public struct Digest: Sendable, Equatable {
    public var tenant: String
    public var hour: Date
    /// The end of the covered hours (`hour` + 1 h, or later for a run of empty hours).
    public var hourEnd: Date
    public var sequence: Int
    public var position: Int64
    public var eventCount: Int
    /// How many of the counted events arrived after the hour was first sealed.
    public var lateCount: Int
    public var eventsSHA256: String
    public var coveredUntil: Date
    public var previousSignature: String
    public var signature: String
    /// The digest key that signed it (`ed25519:…`); nil for the HMAC digests of earlier versions.
    public var keyID: String?
    /// 3 since sql/0016 (the retention policy signed), 2 since sql/0013 (hour_end and late_count); 1 before.
    public var format: Int
    /// The retention policy in force when the digest was written (format 3; nil before).
    public var retention: RetentionPolicy?

    /// A tenant's retention as a digest signs it.
    public struct RetentionPolicy: Sendable, Equatable {
        /// The effective retention: the shorter of the tenant's own and the global one.
        public var days: Int
        public var legalHold: Bool
        /// When the policy was read (the database's clock).
        public var at: Date

        public init(days: Int, legalHold: Bool, at: Date) {
            self.days = days
            self.legalHold = legalHold
            self.at = at
        }

        /// True when this policy lets retention remove hours ending at `hourEnd` at the moment
        /// `removedAt` (a minute's leeway for the clock between reading and removing).
        public func allowsRemoving(hourEnd: Date, at removedAt: Date) -> Bool {
            !legalHold && hourEnd <= removedAt.addingTimeInterval(-Double(days) * 86_400 + 60)
        }
    }

    public init(tenant: String, hour: Date, hourEnd: Date? = nil, sequence: Int, position: Int64, eventCount: Int,
                lateCount: Int = 0, eventsSHA256: String, coveredUntil: Date, previousSignature: String,
                signature: String = "", keyID: String? = nil, format: Int = 3, retention: RetentionPolicy? = nil) {
        self.keyID = keyID
        self.retention = retention
        self.hourEnd = hourEnd ?? hour.addingTimeInterval(3600)
        self.lateCount = lateCount
        self.format = format
        self.tenant = tenant
        self.hour = hour
        self.sequence = sequence
        self.position = position
        self.eventCount = eventCount
        self.eventsSHA256 = eventsSHA256
        self.coveredUntil = coveredUntil
        self.previousSignature = previousSignature
        self.signature = signature
    }

    public var signedText: String {
        if format == 1 {
            return "auditlog-digest-v1\n\(tenant)\n\(Timestamp.format(hour))\n\(sequence)\n\(position)\n\(eventCount)\n"
                + "\(eventsSHA256)\n\(Timestamp.format(coveredUntil))\n\(previousSignature)\n"
        }
        let v2 = "\(tenant)\n\(Timestamp.format(hour))\n\(Timestamp.format(hourEnd))\n\(sequence)\n\(position)\n"
            + "\(eventCount)\n\(lateCount)\n\(eventsSHA256)\n\(Timestamp.format(coveredUntil))\n\(previousSignature)\n"
        guard format >= 3 else { return "auditlog-digest-v2\n" + v2 }
        // A format-3 digest without a policy cannot be signed or verified as one; its text says so.
        guard let retention else { return "auditlog-digest-v3\n" + v2 + "\n\n\n" }
        return "auditlog-digest-v3\n" + v2 + "\(retention.days)\n\(retention.legalHold)\n\(Timestamp.format(retention.at))\n"
    }

    /// The hours this digest covers, in order.
    public var hours: [Date] {
        stride(from: hour.timeIntervalSince1970, to: hourEnd.timeIntervalSince1970, by: 3600).map { Date(timeIntervalSince1970: $0) }
    }

    /// The HMAC-SHA-256 (hex) of the digests written before there were digest keys.
    public func expectedSignature(key: [UInt8]) -> String {
        Crypto.hex(Crypto.hmacSHA256(key: key, message: Array(signedText.utf8)))
    }

    /// Signs with `key`: sets `keyID` and `signature` (hex of the 64-byte Ed25519 signature).
    public mutating func sign(with key: DigestSigningKey) {
        keyID = key.keyID
        signature = Crypto.hex(key.sign(Array(signedText.utf8)))
    }

    /// True when `signature` is `publicKey`'s Ed25519 signature of `signedText`.
    public func verify(publicKey: [UInt8]) -> Bool {
        guard let bytes = Crypto.unhex(signature) else { return false }
        return DigestSigningKey.verify(signature: bytes, message: Array(signedText.utf8), publicKey: publicKey)
    }

    public static func eventsSHA256(_ hashes: [String]) -> String {
        Crypto.hex(Crypto.sha256(Array(hashes.map { $0 + "\n" }.joined().utf8)))
    }
}
