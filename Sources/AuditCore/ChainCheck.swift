import Foundation

/// The integrity check itself, on values alone: a chain of digests, the events of the hours
/// to check, and the public keys. `auditlog verify` feeds it from the database,
/// `auditlog verify --bundle` from an export bundle (no database), so both say the same.
public enum ChainCheck {
    /// A digest with what is known about it besides its signed fields.
    public struct Link: Sendable {
        public var digest: Digest
        public var sealedAt: Date
        /// When retention removed the events it covers (their absence is then by policy).
        public var retentionRemovedAt: Date?
        public var removedByRetention: Bool { retentionRemovedAt != nil }

        public init(digest: Digest, sealedAt: Date, retentionRemovedAt: Date?) {
            self.digest = digest
            self.sealedAt = sealedAt
            self.retentionRemovedAt = retentionRemovedAt
        }

        /// As `GET /v1/digests` and the export bundle show it: every signed field, and what is
        /// known besides (`sealed_at`, `retention_removed_at`).
        public var json: JSONValue {
            .object([
                "tenant": .string(digest.tenant),
                "hour": .string(Timestamp.format(digest.hour)),
                "hour_end": .string(Timestamp.format(digest.hourEnd)),
                "sequence": .number(Double(digest.sequence)),
                "position": .number(Double(digest.position)),
                "event_count": .number(Double(digest.eventCount)),
                "late_count": .number(Double(digest.lateCount)),
                "events_sha256": .string(digest.eventsSHA256),
                "covered_until": .string(Timestamp.format(digest.coveredUntil)),
                "previous_signature": .string(digest.previousSignature),
                "signature": .string(digest.signature),
                "key_id": digest.keyID.map(JSONValue.string) ?? .null,
                "format": .number(Double(digest.format)),
                "retention_days": digest.retention.map { .number(Double($0.days)) } ?? .null,
                "legal_hold": digest.retention.map { .bool($0.legalHold) } ?? .null,
                "policy_at": digest.retention.map { .string(Timestamp.format($0.at)) } ?? .null,
                "sealed_at": .string(Timestamp.format(sealedAt)),
                "retention_removed_at": retentionRemovedAt.map { .string(Timestamp.format($0)) } ?? .null,
            ])
        }

        /// From that JSON; nil when a field is missing or malformed.
        public init?(json: JSONValue) {
            guard case .object(let m) = json else { return nil }
            func string(_ key: String) -> String? { if case .string(let value)? = m[key] { return value }; return nil }
            func time(_ key: String) -> Date? { string(key).flatMap(Timestamp.parse) }
            func int(_ key: String) -> Int? {
                if case .number(let value)? = m[key], value == value.rounded(), abs(value) < 9e15 { return Int(value) }
                return nil
            }
            guard let tenant = string("tenant"), let hour = time("hour"), let hourEnd = time("hour_end"),
                  let sequence = int("sequence"), let position = int("position"), let eventCount = int("event_count"),
                  let lateCount = int("late_count"), let eventsSHA256 = string("events_sha256"),
                  let coveredUntil = time("covered_until"), let previous = string("previous_signature"),
                  let signature = string("signature"), let format = int("format"), let sealedAt = time("sealed_at") else { return nil }
            let keyID = string("key_id")
            if m["key_id"] != .null, keyID == nil { return nil }
            let removed = time("retention_removed_at")
            if m["retention_removed_at"] != .null, removed == nil { return nil }
            var retention: Digest.RetentionPolicy?
            if format >= 3 {
                guard let days = int("retention_days"), case .bool(let held)? = m["legal_hold"], let at = time("policy_at") else { return nil }
                retention = Digest.RetentionPolicy(days: days, legalHold: held, at: at)
            }
            self.init(digest: Digest(tenant: tenant, hour: hour, hourEnd: hourEnd, sequence: sequence, position: Int64(position),
                                     eventCount: eventCount, lateCount: lateCount, eventsSHA256: eventsSHA256, coveredUntil: coveredUntil,
                                     previousSignature: previous, signature: signature, keyID: keyID, format: format,
                                     retention: retention),
                      sealedAt: sealedAt, retentionRemovedAt: removed)
        }
    }

    /// An event as stored: its API record (with `received_at` and `hash`).
    public struct Event: Sendable {
        public var id: String
        public var occurredAt: Date
        public var receivedAt: Date
        public var hash: String
        public var record: [String: JSONValue]

        /// From an API record; nil when a field the check needs is missing or malformed.
        public init?(record: [String: JSONValue]) {
            guard case .string(let id)? = record["id"], case .string(let occurred)? = record["occurred_at"],
                  case .string(let received)? = record["received_at"], case .string(let hash)? = record["hash"],
                  let occurredAt = Timestamp.parse(occurred), let receivedAt = Timestamp.parse(received) else { return nil }
            self.id = id
            self.occurredAt = occurredAt
            self.receivedAt = receivedAt
            self.hash = hash
            self.record = record
        }

        /// True when `hash` is the SHA-256 of the record's canonical form without `hash` and
        /// `received_at` (or, for events stored before 0013_integrity.sql, with `received_at`).
        public var hashMatches: Bool {
            var members = record
            members.removeValue(forKey: "hash")
            let legacy = Crypto.hex(Crypto.sha256(Array(JSONValue.object(members).canonicalText.utf8)))
            members.removeValue(forKey: "received_at")
            let current = Crypto.hex(Crypto.sha256(Array(JSONValue.object(members).canonicalText.utf8)))
            return current == hash || legacy == hash
        }
    }

    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public var hour: Date?
        public var message: String

        public init(hour: Date?, message: String) {
            self.hour = hour
            self.message = message
        }

        public var description: String {
            (hour.map { "hour \(Timestamp.format($0).prefix(13)):00Z: " } ?? "") + message
        }
    }

    public struct Report: Sendable {
        public var digests = 0
        public var hoursChecked = 0
        public var hoursRemovedByRetention = 0
        public var events = 0
        public var findings: [Finding] = []
        public var lateArrivals: [LateArrival] = []
        /// Digests stamped "removed by retention" before any digest of the chain signed the
        /// policy of that time (format 3): `auditlog verify` judges them by the recorded setting
        /// changes instead; a bundle cannot.
        public var retentionStampsUnjudged: [Link] = []
        /// Events no signature covers yet, by hour: received after their hour's latest digest, or
        /// in hours after the chain's last one. Nothing says whether they were altered, removed or
        /// inserted, so a report with any is not "intact and fully signed".
        public var unsigned: [Date: Int] = [:]
        /// No tampering found among what the signatures cover.
        public var intact: Bool { findings.isEmpty }
        /// Intact, and every event checked is covered by a signature.
        public var fullySigned: Bool { findings.isEmpty && unsigned.isEmpty }
        /// `auditlog verify`'s exit: 0 intact and fully signed, 2 tampering, 3 some events not yet signed.
        public var exitCode: Int32 { !findings.isEmpty ? 2 : (unsigned.isEmpty ? 0 : 3) }
        /// "hour 2026-11-21T10:00Z: 3 event(s) not yet covered by any digest", one per hour.
        public var unsignedLines: [String] {
            unsigned.sorted { $0.key < $1.key }.map {
                "hour \(Timestamp.format($0.key).prefix(13)):00Z: \($0.value) event(s) not yet covered by any digest"
            }
        }

        public init() {}
    }

    /// Checks `chain` (consecutive positions, in order) and `events` (in stored order) for the
    /// hours `[from, to)`. `previousSignature` is what the chain's first digest must carry (the
    /// signature of the digest before it; "" from a tenant's first). `requireEveryHour`: every
    /// hour of the window must be sealed (a bundle's window is whole sealed hours).
    public static func run(
        chain: [Link], previousSignature: String = "", events: [Event], keys: [String: [UInt8]], legacyKey: [UInt8]?,
        from: Date?, to: Date?, now: Date, requireEveryHour: Bool = false
    ) -> Report {
        var report = Report()
        report.digests = chain.count
        var previous = previousSignature
        var expectedPosition = chain.first?.digest.position
        var latest: [Date: Link] = [:]
        var retained: Set<Date> = []
        for link in chain {
            let digest = link.digest
            if let expected = expectedPosition, digest.position != expected {
                report.findings.append(Finding(hour: digest.hour, message: "the chain skips from position \(expected - 1) to \(digest.position): a digest was removed"))
            }
            expectedPosition = digest.position + 1
            if digest.previousSignature != previous {
                report.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) does not carry the previous digest's signature"))
            }
            previous = digest.signature
            if let keyID = digest.keyID {
                if let publicKey = keys[keyID] {
                    if !digest.verify(publicKey: publicKey) {
                        report.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) (sequence \(digest.sequence)) was altered: its signature does not match key \(keyID)"))
                    }
                } else {
                    report.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) names key \(keyID), which is not a trusted digest key"))
                }
            } else if let legacyKey {
                if !Crypto.constantTimeEquals(Array(digest.expectedSignature(key: legacyKey).utf8), Array(digest.signature.utf8)) {
                    report.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) (sequence \(digest.sequence)) was altered: its signature does not match"))
                }
            } else {
                report.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) has an HMAC signature and no HMAC key was given to check it"))
            }
            // A checkpoint (a bundle export) may seal the open hour and the next (events may be
            // dated up to 5 minutes ahead), so an hour's end lies at most two hours ahead.
            if digest.coveredUntil > now.addingTimeInterval(60) || digest.hourEnd > now.addingTimeInterval(7200) {
                report.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) claims to cover a time that has not come yet (\(Timestamp.format(digest.coveredUntil))): it was forged"))
            }
            if let removed = link.retentionRemovedAt, removed > now.addingTimeInterval(60) {
                report.findings.append(Finding(hour: digest.hour, message: "digest \(digest.position) is marked removed by retention at \(Timestamp.format(removed)), which has not come yet"))
            }
            for hour in digest.hours {
                if link.removedByRetention { retained.insert(hour) } else { latest[hour] = link }
            }
        }

        func inWindow(_ hour: Date) -> Bool {
            if let from, hour.addingTimeInterval(3600) <= from { return false }
            if let to, hour >= to { return false }
            return true
        }

        // Every hour from the chain's first to its last sealed hour is sealed (and in a bundle,
        // every hour of the window).
        let sealedHours = Set(latest.keys).union(retained)
        if let first = sealedHours.min(), let last = sealedHours.max() {
            var lower = requireEveryHour ? (from.map(Timestamp.hourStart) ?? first) : first
            let upper = requireEveryHour ? (to ?? last.addingTimeInterval(3600)) : last.addingTimeInterval(3600)
            var gaps: [Date] = []
            while lower < upper {
                if !sealedHours.contains(lower), inWindow(lower) { gaps.append(lower) }
                lower.addTimeInterval(3600)
            }
            for hour in gaps.prefix(50) {
                report.findings.append(Finding(hour: hour, message: "no digest seals this hour"))
            }
            if gaps.count > 50 { report.findings.append(Finding(hour: nil, message: "\(gaps.count - 50) more unsealed hours")) }
        } else if requireEveryHour, let from, let to, from < to {
            report.findings.append(Finding(hour: Timestamp.hourStart(from), message: "no digest seals any hour of the window"))
        }

        // Events by hour, in the order given; each one's hash recomputed.
        var byHour: [Date: [Event]] = [:]
        var previousEvent: Event?
        for event in events {
            report.events += 1
            let hour = Timestamp.hourStart(event.occurredAt)
            byHour[hour, default: []].append(event)
            if !event.hashMatches {
                report.findings.append(Finding(hour: hour, message: "event \(event.id) was altered: its content does not match its hash"))
            }
            if event.receivedAt > now.addingTimeInterval(60) {
                report.findings.append(Finding(hour: hour, message: "event \(event.id) claims to have been received at \(Timestamp.format(event.receivedAt)), which has not come yet"))
            }
            if let earlier = previousEvent, (earlier.occurredAt, earlier.id) >= (event.occurredAt, event.id) {
                report.findings.append(Finding(hour: hour, message: "event \(event.id) is out of (occurred_at, id) order after \(earlier.id)"))
            }
            previousEvent = event
        }

        var pending: [Date: Int] = [:]
        for (hour, link) in latest.sorted(by: { $0.key < $1.key }) where inWindow(hour) {
            let digest = link.digest
            let hourEvents = byHour[hour] ?? []
            let covered = hourEvents.filter { $0.receivedAt < digest.coveredUntil }
            let waiting = hourEvents.count - covered.count
            if waiting > 0 {
                pending[hour] = waiting
                report.unsigned[hour] = waiting
            }
            report.hoursChecked += 1
            if digest.hourEnd > digest.hour.addingTimeInterval(3600) {
                // A run of empty hours: none of them may hold an event it covers.
                if !covered.isEmpty {
                    report.findings.append(Finding(hour: hour, message: "\(covered.count) event(s) inserted outside the normal path (digest \(digest.position) sealed this hour empty)"))
                }
                continue
            }
            if covered.count < digest.eventCount {
                report.findings.append(Finding(hour: hour, message: "\(digest.eventCount - covered.count) event(s) removed (digest counts \(digest.eventCount), \(covered.count) remain)"))
            } else if covered.count > digest.eventCount {
                report.findings.append(Finding(hour: hour, message: "\(covered.count - digest.eventCount) event(s) inserted outside the normal path (digest counts \(digest.eventCount), \(covered.count) found)"))
            } else if Digest.eventsSHA256(covered.map(\.hash)) != digest.eventsSHA256 {
                report.findings.append(Finding(hour: hour, message: "an event's hash was changed or the events were reordered: the hour's events no longer match digest \(digest.position)"))
            }
        }
        // Events of hours no digest covers: after the chain's last sealed hour (or with no chain)
        // they are not signed yet; before its first, or in a gap, nothing could have sealed them
        // later, so they were put there (a gap is named above).
        let lastSealed = sealedHours.max()
        for (hour, hourEvents) in byHour where latest[hour] == nil && !retained.contains(hour) && inWindow(hour) {
            if lastSealed.map({ hour > $0 }) ?? true {
                report.unsigned[hour] = hourEvents.count
            } else if let first = sealedHours.min(), hour < first {
                report.findings.append(Finding(hour: hour, message: "\(hourEvents.count) event(s) in an hour before the chain's first digest"))
            }
        }
        report.hoursRemovedByRetention = retained.filter(inWindow).count
        let (judged, unjudged) = retentionStamps(chain)
        report.findings += judged
        report.retentionStampsUnjudged = unjudged
        report.lateArrivals = LateArrival.from(chain.filter { !$0.removedByRetention }, pending: pending).filter { inWindow($0.hour) }
        report.findings.sort { ($0.hour ?? .distantPast) < ($1.hour ?? .distantPast) }
        return report
    }
}

extension ChainCheck {
    /// Judges every "removed by retention" stamp by the policy the chain signed last before it:
    /// the newest format-3 digest (by `policy_at`) read at or before the stamp. The retention
    /// pass writes a digest with the new policy before it removes anything under it, so a
    /// removal the signed policy of its time did not allow was not made by the policy.
    /// Returns the findings, and the stamps no signed policy precedes.
    public static func retentionStamps(_ chain: [Link]) -> (findings: [Finding], unjudged: [Link]) {
        let policies = chain.compactMap(\.digest.retention).sorted { $0.at < $1.at }
        var findings: [Finding] = []
        var unjudged: [Link] = []
        for link in chain {
            guard let removed = link.retentionRemovedAt else { continue }
            guard let policy = policies.last(where: { $0.at <= removed }) else {
                unjudged.append(link)
                continue
            }
            if !policy.allowsRemoving(hourEnd: link.digest.hourEnd, at: removed) {
                findings.append(Finding(hour: link.digest.hour, message: removedMessage(removed, held: policy.legalHold, days: policy.days, signed: true)))
            }
        }
        return (findings, unjudged)
    }

    /// "marked removed by retention at …, but the retention then (N days) kept this hour".
    public static func removedMessage(_ removed: Date, held: Bool, days: Int, signed: Bool) -> String {
        "marked removed by retention at \(Timestamp.format(removed).prefix(16))Z, "
            + (held ? "while a legal hold was in force" : "but the retention then (\(days) days) kept this hour")
            + (signed ? " (as the chain signed it)" : "")
    }
}

/// An hour that received events after it was first sealed, as `GET /v1/digests` and
/// `auditlog verify` report it: "3 events arrived for 2026-11-21T10:00Z after it was sealed at 11:05Z".
public struct LateArrival: Sendable, Equatable, CustomStringConvertible {
    public var hour: Date
    public var count: Int
    public var sealedAt: Date
    /// Of `count`, how many a follow-up digest counts already; the rest await the next one.
    public var sealedCount: Int

    public init(hour: Date, count: Int, sealedAt: Date, sealedCount: Int) {
        self.hour = hour
        self.count = count
        self.sealedAt = sealedAt
        self.sealedCount = sealedCount
    }

    public var description: String {
        "\(count) event\(count == 1 ? "" : "s") arrived for \(Timestamp.format(hour).prefix(13)):00Z after it was sealed at "
            + "\(Timestamp.format(sealedAt).prefix(16))Z" + (sealedCount < count ? " (\(count - sealedCount) not yet in a follow-up digest)" : "")
    }

    /// From a chain in position order: per hour, the latest follow-up's late count, against the
    /// time the hour was first sealed. `pending` adds events of sealed hours no digest counts yet.
    /// `firstSeals`: when each hour was first sealed, for a part of the chain that may not hold
    /// those first seals (a page of `GET /v1/digests`); nil reads them from `chain`.
    public static func from(_ chain: [ChainCheck.Link], pending: [Date: Int] = [:], firstSeals: [Date: Date]? = nil) -> [LateArrival] {
        var firstSeal: [Date: Date] = firstSeals ?? [:]
        var latest: [Date: Int] = [:]
        for link in chain {
            // A checkpoint (covering its hours before they ended) does not seal them.
            guard link.digest.coveredUntil >= link.digest.hourEnd else { continue }
            if firstSeals == nil {
                for hour in link.digest.hours where firstSeal[hour] == nil { firstSeal[hour] = link.sealedAt }
            }
            if link.digest.sequence > 0 || link.digest.lateCount > 0 { latest[link.digest.hour] = link.digest.lateCount }
        }
        var result: [LateArrival] = []
        for hour in Set(latest.keys).union(pending.keys).sorted() {
            let sealed = latest[hour] ?? 0
            let count = sealed + (pending[hour] ?? 0)
            guard count > 0, let sealedAt = firstSeal[hour] else { continue }
            result.append(LateArrival(hour: hour, count: count, sealedAt: sealedAt, sealedCount: sealed))
        }
        return result
    }
}
