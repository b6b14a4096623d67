import Foundation

/// The offline-verifiable export (`GET /v1/events/export?format=bundle`): JSON Lines, each line
/// one object with a `type`, in this order (README "The export bundle"):
///
///     {"exported_at":…,"format":"auditlog-bundle-v1","from":…,"signed_until":…,"tenant":…,"to":…,"type":"bundle"}
///     {"algorithm":"ed25519","key_id":…,"public_key":<hex>,"type":"key"}     every listed key
///     {"digest":{…},"type":"link"}      the digest before the first one (absent from position 1)
///     {"digest":{…},"type":"digest"}    the chain from the first digest covering [from, to) to its head
///     {"event":{…},"type":"event"}      every event of [from, to), in (occurred_at, id by bytes) order
///     {"events":N,"type":"end"}
///
/// (keys sorted, as `JSONValue.canonicalText` writes them).
///
/// `[from, to)` are whole hours, all of them sealed when the bundle was written: the export seals
/// a checkpoint first, so the open hour is covered up to `signed_until`, and the bundle holds
/// only events received before it. An event no digest covers is reported as not yet signed
/// (exit 3), never as intact.
public enum ExportBundle {
    public static let format = "auditlog-bundle-v1"

    /// The first line.
    /// `signedUntil`: the bundle holds the events of its hours received before this moment, every
    /// one of them under a digest (the export seals a checkpoint first).
    public static func header(tenant: String, from: Date, to: Date, exportedAt: Date, signedUntil: Date) -> JSONValue {
        .object(["type": "bundle", "format": .string(format), "tenant": .string(tenant),
                 "from": .string(Timestamp.format(from)), "to": .string(Timestamp.format(to)),
                 "exported_at": .string(Timestamp.format(exportedAt)), "signed_until": .string(Timestamp.format(signedUntil))])
    }

    public static func key(id: String, publicKey: [UInt8]) -> JSONValue {
        .object(["type": "key", "key_id": .string(id), "algorithm": "ed25519", "public_key": .string(Crypto.hex(publicKey))])
    }

    public static func link(_ link: ChainCheck.Link, first: Bool) -> JSONValue {
        .object(["type": .string(first ? "link" : "digest"), "digest": link.json])
    }

    public static func end(events: Int) -> JSONValue {
        .object(["type": "end", "events": .number(Double(events))])
    }

    /// A public key given on the command line: 32 bytes as hex or base64.
    public static func publicKey(_ text: String) -> [UInt8]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let bytes = Crypto.unhex(trimmed.lowercased()), bytes.count == 32 { return bytes }
        if let bytes = Data(base64Encoded: trimmed).map(Array.init), bytes.count == 32 { return bytes }
        if let bytes = Crypto.base64URLDecode(trimmed), bytes.count == 32 { return bytes }
        return nil
    }

    /// A digest kept from an earlier bundle (`--since`): its `digest` line or the object itself.
    public static func keptDigest(_ text: String) -> ChainCheck.Link? {
        guard let value = JSONValue.parse(Array(text.utf8)) else { return nil }
        if case .object(let members) = value, let inner = members["digest"] { return ChainCheck.Link(json: inner) }
        return ChainCheck.Link(json: value)
    }

    /// Checks a bundle with no database. `trusted`: the only keys to accept (from
    /// `--public-key`); nil trusts the keys the bundle lists. `since`: a digest kept from an
    /// earlier bundle, which this one's chain must still hold unchanged.
    public static func verify(_ bytes: [UInt8], trusted: [[UInt8]]? = nil, since: ChainCheck.Link? = nil, now: Date = Date()) -> ChainCheck.Report {
        var problems: [ChainCheck.Finding] = []
        func problem(_ message: String, hour: Date? = nil) { problems.append(ChainCheck.Finding(hour: hour, message: message)) }
        var header: [String: JSONValue]?
        var keys: [String: [UInt8]] = [:]
        var link: ChainCheck.Link?
        var chain: [ChainCheck.Link] = []
        var events: [ChainCheck.Event] = []
        var endCount: Int?
        var lineNumber = 0
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            lineNumber += 1
            guard case .object(let object)? = JSONValue.parse(Array(line)), case .string(let type)? = object["type"] else {
                problem("line \(lineNumber) is not a bundle object")
                continue
            }
            if endCount != nil { problem("line \(lineNumber) follows the end line") }
            switch type {
            case "bundle" where lineNumber == 1:
                header = object
            case "key":
                guard case .string(let id)? = object["key_id"], case .string(let hex)? = object["public_key"],
                      let key = Crypto.unhex(hex), key.count == 32, DigestSigningKey.keyID(publicKey: key) == id else {
                    problem("line \(lineNumber): a key whose id does not match its public key")
                    continue
                }
                keys[id] = key
            case "link" where chain.isEmpty && link == nil, "digest":
                guard let value = object["digest"], let parsed = ChainCheck.Link(json: value) else {
                    problem("line \(lineNumber): a malformed digest")
                    continue
                }
                if type == "link" { link = parsed } else { chain.append(parsed) }
            case "event":
                guard case .object(let record)? = object["event"], let event = ChainCheck.Event(record: record) else {
                    problem("line \(lineNumber): a malformed event")
                    continue
                }
                events.append(event)
            case "end":
                guard case .number(let count)? = object["events"] else { problem("line \(lineNumber): a malformed end line"); continue }
                endCount = Int(count)
            default:
                problem("line \(lineNumber): an unexpected \(type) line")
            }
        }
        guard let header, header["format"] == .string(format), case .string(let tenant)? = header["tenant"],
              case .string(let fromText)? = header["from"], case .string(let toText)? = header["to"],
              let from = Timestamp.parse(fromText), let to = Timestamp.parse(toText) else {
            var report = ChainCheck.Report()
            report.findings = [ChainCheck.Finding(hour: nil, message: "not an \(format) file: its first line is not the bundle header")] + problems
            return report
        }
        if endCount == nil { problem("the bundle is cut short: it has no end line") }
        if let endCount, endCount != events.count { problem("the end line counts \(endCount) events; the bundle holds \(events.count)") }

        if let trusted { keys = Dictionary(trusted.map { (DigestSigningKey.keyID(publicKey: $0), $0) }) { first, _ in first } }
        var previous = ""
        if let link {
            if let keyID = link.digest.keyID, let key = keys[keyID], !link.digest.verify(publicKey: key) {
                problem("the link digest \(link.digest.position) was altered: its signature does not match key \(keyID)", hour: link.digest.hour)
            } else if let keyID = link.digest.keyID, keys[keyID] == nil {
                problem("the link digest \(link.digest.position) names key \(keyID), which is not a trusted digest key", hour: link.digest.hour)
            }
            previous = link.digest.signature
        }
        let firstPosition = (link?.digest.position ?? 0) + 1
        if let first = chain.first, first.digest.position != firstPosition {
            problem("the chain starts at position \(first.digest.position), not \(firstPosition): digests before it are missing", hour: first.digest.hour)
        }
        for item in [link].compactMap({ $0 }) + chain where item.digest.tenant != tenant {
            problem("digest \(item.digest.position) is of tenant \(item.digest.tenant), not \(tenant)", hour: item.digest.hour)
        }
        for event in events where event.record["tenant"] != .string(tenant) {
            problem("event \(event.id) is not of tenant \(tenant)", hour: Timestamp.hourStart(event.occurredAt))
        }
        for event in events where event.occurredAt < from || event.occurredAt >= to {
            problem("event \(event.id) lies outside the bundle's hours", hour: Timestamp.hourStart(event.occurredAt))
        }
        if let since {
            let held = ([link].compactMap { $0 } + chain).first { $0.digest.position == since.digest.position }
            if let held {
                if held.digest.signature != since.digest.signature {
                    problem("the chain no longer holds the kept digest \(since.digest.position): history since it was rewritten", hour: since.digest.hour)
                }
            } else if since.digest.position > (chain.last?.digest.position ?? link?.digest.position ?? 0) {
                problem("the chain ends before the kept digest \(since.digest.position): history since it was truncated", hour: since.digest.hour)
            } else {
                problem("the bundle starts after the kept digest \(since.digest.position); export from its hour to check the history since")
            }
        }
        var report = ChainCheck.run(chain: chain, previousSignature: previous, events: events, keys: keys, legacyKey: nil,
                                    from: from, to: to, now: now, requireEveryHour: true)
        report.findings = (problems + report.findings).sorted { ($0.hour ?? .distantPast) < ($1.hour ?? .distantPast) }
        return report
    }
}
