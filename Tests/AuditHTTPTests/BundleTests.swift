import AuditCore
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresLibPQ
import Testing
import TestSupport

/// Bundles this suite writes for the independent verifier (`e2e/verifier/run`, run by
/// `.ci/run`): `<name>.jsonl` and a line `<name>\t<exit>\t<args>` in `cases.tsv`.
enum BundleFiles {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../.build/test-bundles").standardizedFileURL

    static func write(_ name: String, _ lines: [String], expectedExit: Int, arguments: String = "") throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: directory.appendingPathComponent("\(name).jsonl"))
        try Data("\(name)\t\(expectedExit)\t\(arguments)\n".utf8).write(to: directory.appendingPathComponent("\(name).case"))
    }
}

@Suite("export bundles: verified offline, every tampering named by hour")
struct BundleTests {
    let database: TestDatabase
    let key = DigestSigningKey(seed: Array(repeating: UInt8(5), count: 32))!

    init() async throws {
        try await awayFromHourBoundary()  // its hours are counted back from now
        database = try await TestCluster.shared.database("bundles")
        try await database.listDigestKey(key)
    }

    func hourStart(_ hoursAgo: Int) -> Date {
        Timestamp.hourStart(Date().addingTimeInterval(Double(-hoursAgo) * 3600))
    }

    /// Events of `tenant` in the hours 4, 3 and 2 hours ago (none 1 hour ago), ingested the
    /// normal way, then sealed with no delay.
    func seed(_ app: TestApp, tenant: String) async throws {
        let validator = EventValidator(now: Date(), retentionDays: 90, redactor: Redactor())
        let events = try (0..<9).map { index in
            let occurred = hourStart([4, 3, 2][index / 3]).addingTimeInterval(Double(index % 3 * 600 + 30))
            let draft = try validator.validate(.object([
                "tenant": .string(tenant), "id": .string("e\(index)"), "occurred_at": .string(Timestamp.format(occurred)),
                "action": .string("client.renamed"), "actor": .object(["id": .string("u_1"), "name": .string("Zoë \"Z\"")]),
                "targets": .array([.object(["type": "client", "id": "c_1", "name": "Acme\tLtd"])]),
                "before": .object(["fee": .number(1.25), "n": .number(1)]), "after": .object(["fee": .number(1e-7), "n": .number(2)]),
            ]), index: 0).get()
            return StoredEvent(draft: draft, receivedAt: Date(), message: "renamed ✓")
        }
        _ = try await app.database.ingestor.ingest(events)
        try await seal(app)
    }

    func seal(_ app: TestApp) async throws {
        _ = try await app.database.runRetention(RetentionPass(digests: DigestWriter(key: key, sealDelay: 0)), dryRun: false)
    }

    func bundle(_ client: any TestClientProtocol, _ tenant: String, from: Date, to: Date? = nil) async throws -> TestResponse {
        var query = "format=bundle&from=\(Timestamp.format(from))"
        if let to { query += "&to=\(Timestamp.format(to))" }
        return try await client.execute(uri: "/v1/events/export?\(query)", method: .get,
                                        headers: [.authorization: "Bearer \(TestApp.token(tenant, .owner))"])
    }

    func lines(_ response: TestResponse) -> [String] {
        String(buffer: response.body).split(separator: "\n").map(String.init)
    }

    func verify(_ lines: [String], trusted: [[UInt8]]? = nil, since: ChainCheck.Link? = nil) -> ChainCheck.Report {
        ExportBundle.verify(Array((lines.joined(separator: "\n") + "\n").utf8), trusted: trusted, since: since)
    }

    /// Replaces the first line of `type` for which `match` holds.
    func edit(_ lines: [String], where match: (String) -> Bool, _ change: (String) -> String?) -> [String] {
        var result = lines
        if let index = result.firstIndex(where: match) {
            if let changed = change(result[index]) { result[index] = changed } else { result.remove(at: index) }
        }
        return result
    }

    @Test("a bundle of whole sealed hours verifies intact offline; each tampering is named by hour")
    func intactAndTampered() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        try await seed(app, tenant: "org_bundle")
        let intact = try await app.test { client in
            let response = try await bundle(client, "org_bundle", from: hourStart(4).addingTimeInterval(1800))
            #expect(response.status == .ok)
            #expect(response.headers[.contentDisposition]?.contains(".bundle.jsonl") == true)
            return lines(response)
        }
        // Whole hours: from is widened to the hour, to cut at the last sealed one (now's hour is open).
        let header = try #require(JSONValue.parse(Array(intact[0].utf8))?.objectValue)
        #expect(header["from"] == .string(Timestamp.format(hourStart(4))))
        #expect(header["to"] == .string(Timestamp.format(hourStart(0))))
        #expect(intact.filter { $0.hasPrefix(#"{"event":"#) }.count == 9)
        #expect(intact.last == #"{"events":9,"type":"end"}"#)
        let report = verify(intact)
        #expect(report.intact, "\(report.findings)")
        #expect(report.events == 9)
        try BundleFiles.write("intact", intact, expectedExit: 0)
        try BundleFiles.write("intact-pinned-key", intact, expectedExit: 0, arguments: "--public-key \(Crypto.hex(key.publicKey))")

        let hour3 = String(Timestamp.format(hourStart(3)).prefix(13))
        let eventLines = intact.indices.filter { intact[$0].hasPrefix(#"{"event":"#) }
        let digestLines = intact.indices.filter { intact[$0].contains(#""type":"digest""#) }
        var swapped = intact
        swapped.swapAt(eventLines[3], eventLines[4])
        let cases: [(String, [String], String)] = [
            ("altered-event", edit(intact, where: { $0.contains(#""id":"e4""#) }) { $0.replacingOccurrences(of: "renamed ✓", with: "nothing to see") },
             "event e4 was altered"),
            ("deleted-event", edit(intact, where: { $0.contains(#""id":"e4""#) }) { _ in nil }
                .map { $0 == #"{"events":9,"type":"end"}"# ? #"{"events":8,"type":"end"}"# : $0 },
             "1 event(s) removed"),
            ("reordered-events", swapped, "out of (occurred_at, id) order"),
            ("removed-digest", edit(intact, where: { $0.contains(#""type":"digest""#) && $0.contains(#""hour":"\#(hour3)"#) }) { _ in nil },
             "a digest was removed"),
            ("altered-digest", edit(intact, where: { $0.contains(#""type":"digest""#) && $0.contains(#""hour":"\#(hour3)"#) }) {
                $0.replacingOccurrences(of: #""event_count":3"#, with: #""event_count":2"#) }, "signature does not match"),
            // Retention's stamp is not signed, but the policy of its time is: hour 3 was not retention's to remove.
            ("retention-stamp", edit(intact, where: { $0.contains(#""type":"digest""#) && $0.contains(#""hour":"\#(hour3)"#) }) {
                $0.replacingOccurrences(of: #""retention_removed_at":null"#, with: #""retention_removed_at":"\#(Timestamp.format(Date()))""#) },
             "kept this hour (as the chain signed it)"),
            ("cut-short", Array(intact.prefix(eventLines[6])), "cut short"),
        ]
        #expect(digestLines.count >= 4)
        for (name, tampered, expected) in cases {
            #expect(tampered != intact, "\(name) changed nothing")
            let result = verify(tampered)
            #expect(!result.intact, "\(name)")
            #expect(result.findings.contains { $0.description.contains(expected) }, "\(name): \(result.findings)")
            if name != "cut-short" {
                #expect(result.findings.contains { $0.hour != nil && $0.description.contains(hour3) }, "\(name) is named by hour: \(result.findings)")
            }
            try BundleFiles.write("tampered-\(name)", tampered, expectedExit: 2)
        }

        // Another key: nothing verifies under it; the token key is no digest key.
        let other = DigestSigningKey(seed: Array(repeating: UInt8(7), count: 32))!
        #expect(verify(intact, trusted: [other.publicKey]).findings.contains { $0.description.contains("not a trusted digest key") })
        try BundleFiles.write("tampered-wrong-key", intact, expectedExit: 2, arguments: "--public-key \(Crypto.hex(other.publicKey))")

        // --since: the last digest kept from this bundle still holds in a later one; a rewritten one does not.
        let kept = try #require(ExportBundle.keptDigest(intact[digestLines.last!]))
        #expect(verify(intact, since: kept).intact)
        var forged = kept
        forged.digest.signature = String(repeating: "0", count: 128)
        #expect(verify(intact, since: forged).findings.contains { $0.description.contains("rewritten") })
        try Data(intact[digestLines.last!].utf8).write(to: BundleFiles.directory.appendingPathComponent("kept-digest.json"))
        try BundleFiles.write("intact-since", intact, expectedExit: 0, arguments: "--since \(BundleFiles.directory.appendingPathComponent("kept-digest.json").path)")
    }

    @Test("a bundle exported a moment after ingest is signed to its last event; one event removed is never exit 0")
    func checkpointOnExport() async throws {
        var app = try await TestApp(conninfo: database.appConninfo)
        app.services.digestWriter = DigestWriter(key: key, sealDelay: 300)  // nothing is sealed by a pass here
        let validator = EventValidator(now: Date(), retentionDays: 90, redactor: Redactor())
        let now = Date()
        let times = [hourStart(3).addingTimeInterval(60), hourStart(3).addingTimeInterval(120),
                     max(hourStart(0), now.addingTimeInterval(-30)), max(hourStart(0), now.addingTimeInterval(-20)).addingTimeInterval(1),
                     max(hourStart(0), now.addingTimeInterval(-10)).addingTimeInterval(2)]
        let events = try times.enumerated().map { index, occurred in
            let draft = try validator.validate(.object([
                "tenant": "org_fresh", "id": .string("f\(index)"), "occurred_at": .string(Timestamp.format(occurred)),
                "action": "user.invited", "actor": .object(["id": "u_1"]),
            ]), index: 0).get()
            return StoredEvent(draft: draft, receivedAt: Date(), message: "invited")
        }
        _ = try await app.database.ingestor.ingest(events)
        let fresh = try await app.test { client in lines(try await bundle(client, "org_fresh", from: hourStart(4))) }
        let header = try #require(JSONValue.parse(Array(fresh[0].utf8))?.objectValue)
        #expect(header["to"] == .string(Timestamp.format(hourStart(0).addingTimeInterval(3600))))
        #expect(header["signed_until"] != nil)
        let report = verify(fresh)
        #expect(report.exitCode == 0, "\(report.findings) \(report.unsigned)")
        #expect(report.events == 5)
        try BundleFiles.write("checkpoint-fresh", fresh, expectedExit: 0)

        // One event of the open hour deleted and the end count fixed: tampering, in both verifiers.
        let removed = edit(fresh, where: { $0.contains(#""id":"f3""#) }) { _ in nil }
            .map { $0 == #"{"events":5,"type":"end"}"# ? #"{"events":4,"type":"end"}"# : $0 }
        let tampered = verify(removed)
        #expect(tampered.exitCode == 2)
        #expect(tampered.findings.contains { $0.description.contains("1 event(s) removed") && $0.hour == hourStart(0) }, "\(tampered.findings)")
        try BundleFiles.write("checkpoint-open-hour-event-removed", removed, expectedExit: 2)

        // An event no digest covers (received after the checkpoint, its hash consistent): not
        // yet signed, exit 3, never intact.
        let lastEvent = try #require(fresh.lastIndex { $0.hasPrefix(#"{"event":"#) })
        guard case .object(var line)? = JSONValue.parse(Array(fresh[lastEvent].utf8)), case .object(var record)? = line["event"],
              case .string(let signedUntil)? = header["signed_until"], let until = Timestamp.parse(signedUntil) else {
            Issue.record("unreadable bundle line")
            return
        }
        record["id"] = "f9_unsigned"
        record["received_at"] = .string(Timestamp.format(until.addingTimeInterval(1)))
        record.removeValue(forKey: "hash")
        var hashed = record
        hashed.removeValue(forKey: "received_at")
        record["hash"] = .string(Crypto.hex(Crypto.sha256(Array(JSONValue.object(hashed).canonicalText.utf8))))
        line["event"] = .object(record)
        var added = fresh
        added.insert(JSONValue.object(line).canonicalText, at: lastEvent + 1)
        added = added.map { $0 == #"{"events":5,"type":"end"}"# ? #"{"events":6,"type":"end"}"# : $0 }
        let unsigned = verify(added)
        #expect(unsigned.intact, "\(unsigned.findings)")
        #expect(unsigned.exitCode == 3)
        #expect(unsigned.unsigned == [hourStart(0): 1])
        try BundleFiles.write("unsigned-event", added, expectedExit: 3)

        // A late arrival into an hour the checkpoint sealed: the next export signs it too.
        let late = try validator.validate(.object([
            "tenant": "org_fresh", "id": "f_late", "occurred_at": .string(Timestamp.format(hourStart(3).addingTimeInterval(90))),
            "action": "user.invited", "actor": .object(["id": "u_1"]),
        ]), index: 0).get()
        var withWriter = try await TestApp(conninfo: database.appConninfo)
        _ = try await withWriter.database.ingestor.ingest([StoredEvent(draft: late, receivedAt: Date(), message: "invited")])
        withWriter.services.digestWriter = DigestWriter(key: key, sealDelay: 300)
        let again = try await withWriter.test { client in lines(try await bundle(client, "org_fresh", from: hourStart(4))) }
        let secondReport = verify(again)
        #expect(secondReport.exitCode == 0, "\(secondReport.findings) \(secondReport.unsigned)")
        #expect(secondReport.events == 7)  // the first export's own audit_log.exported entry too
        #expect(again.contains { $0.contains(#""action":"audit_log.exported""#) })
        let lateRemoved = edit(again, where: { $0.contains(#""id":"f_late""#) }) { _ in nil }
            .map { $0 == #"{"events":7,"type":"end"}"# ? #"{"events":6,"type":"end"}"# : $0 }
        #expect(verify(lateRemoved).exitCode == 2)
        try BundleFiles.write("checkpoint-late-arrival-removed", lateRemoved, expectedExit: 2)
    }

    @Test("what the service role slips into a sealed hour or an empty one, and a digest it forges, show in the next bundle by hour")
    func serviceRoleInsertion() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        try await seed(app, tenant: "org_slip")
        for (id, hours) in [("slipped", 3), ("empty_hour", 1)] {
            let hour = Timestamp.format(hourStart(hours).addingTimeInterval(1500))
            try await database.asApp { connection in
                try connection.executeScript(unsafeSQL: """
                    BEGIN; SET LOCAL auditlog.tenant = 'org_slip'; SET LOCAL auditlog.role = 'publisher';
                    INSERT INTO audit.event_id (tenant_id, id, occurred_at, hash) VALUES ('org_slip', '\(id)', '\(hour)', repeat('e', 64));
                    INSERT INTO audit.event (tenant_id, id, occurred_at, action, category, actor_type, actor_id, message, hash)
                    VALUES ('org_slip', '\(id)', '\(hour)', 'a.b', 'a', 'user', 'u', 'm', repeat('e', 64));
                    COMMIT
                    """)
            }
        }
        try await seal(app)
        let slipped = try await app.test { client in lines(try await bundle(client, "org_slip", from: hourStart(5))) }
        var result = verify(slipped)
        #expect(result.findings.contains { $0.description.contains("event slipped was altered") && $0.hour == hourStart(3) })
        #expect(result.findings.contains { $0.description.contains("event empty_hour was altered") && $0.hour == hourStart(1) })
        #expect(result.lateArrivals.map(\.hour) == [hourStart(3), hourStart(1)])
        try BundleFiles.write("tampered-service-role-slipped", slipped, expectedExit: 2)

        // A digest the maintenance role appends with covered_until in 2099 and a signature of its own making.
        try await database.asApp { connection in
            try connection.executeScript(unsafeSQL: """
                BEGIN; SET LOCAL auditlog.tenant = 'org_slip'; SET LOCAL auditlog.role = 'maintenance';
                INSERT INTO audit.digest (tenant_id, hour, hour_end, sequence, position, event_count, late_count, events_sha256,
                    covered_until, previous_signature, signature, key_id, format)
                SELECT 'org_slip', hour, hour_end, 9, position + 1, 0, 0, repeat('0', 64), '2099-01-01', signature, repeat('a', 128), key_id, 2
                FROM audit.digest ORDER BY position DESC LIMIT 1;
                COMMIT
                """)
        }
        let forged = try await TestApp(conninfo: database.appConninfo).test { client in
            lines(try await bundle(client, "org_slip", from: hourStart(5)))
        }
        result = verify(forged)
        #expect(result.findings.contains { $0.description.contains("has not come yet") && $0.hour != nil }, "\(result.findings)")
        #expect(result.findings.contains { $0.description.contains("signature does not match") && $0.hour != nil })
        try BundleFiles.write("tampered-service-role-forged-digest", forged, expectedExit: 2)
    }

    @Test("a backdated POST into a sealed hour is 201; then GET /v1/digests and late:true report the late arrival")
    func backdatedPost() async throws {
        let admin = database.adminConninfo
        let key = try await runBlocking { try PublisherKeys.create(name: "late", tenant: TenantID("org_late"), adminConninfo: admin).key }
        let app = try await TestApp(conninfo: database.appConninfo)
        try await seed(app, tenant: "org_late")
        let occurred = Timestamp.format(hourStart(3).addingTimeInterval(2000))
        let (posted, digests, late) = try await app.test { client in
            let posted = try await client.execute(uri: "/v1/events", method: .post,
                headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"tenant":"org_late","id":"backdated","occurred_at":"\#(occurred)","action":"client.renamed","actor":{"id":"u_2"}}"#))
            try await seal(app)
            let owner: HTTPFields = [.authorization: "Bearer \(TestApp.token("org_late", .owner))"]
            let digests = try await client.execute(uri: "/v1/digests", method: .get, headers: owner)
            let late = try await client.execute(uri: "/v1/events?q=late:true", method: .get, headers: owner)
            return (posted.status, String(buffer: digests.body), String(buffer: late.body))
        }
        #expect(posted == .created)
        let body = try #require(JSONValue.parse(Array(digests.utf8))?.objectValue)
        guard case .array(let arrivals)? = body["late_arrivals"] else { Issue.record("no late_arrivals: \(digests)"); return }
        #expect(arrivals.count == 1)
        let arrival = try #require(arrivals.first?.objectValue)
        #expect(arrival["hour"] == .string(Timestamp.format(hourStart(3))))
        #expect(arrival["events"] == .number(1))
        guard case .string(let message)? = arrival["message"] else { Issue.record("no message"); return }
        #expect(message.hasPrefix("1 event arrived for \(Timestamp.format(hourStart(3)).prefix(13)):00Z after it was sealed at "))
        #expect(late.contains(#""id":"backdated""#))
        #expect(!late.contains(#""id":"e3""#))
    }

    @Test("GET /v1/digests pages the chain by cursor, keeps the hours of from and to, and refuses what it cannot do")
    func digestPages() async throws {
        let app = try await TestApp(conninfo: database.appConninfo)
        try await seed(app, tenant: "org_pages")
        try await app.test { client in
            let owner: HTTPFields = [.authorization: "Bearer \(TestApp.token("org_pages", .owner))"]
            func page(_ query: String) async throws -> (status: HTTPResponse.Status, body: [String: JSONValue]) {
                let response = try await client.execute(uri: "/v1/digests?\(query)", method: .get, headers: owner)
                return (response.status, JSONValue.parse(Array(String(buffer: response.body).utf8))?.objectValue ?? [:])
            }
            func positions(_ body: [String: JSONValue]) -> [Int] {
                guard case .array(let digests)? = body["digests"] else { return [] }
                return digests.compactMap { if case .number(let p)? = $0.objectValue?["position"] { return Int(p) }; return nil }
            }
            let whole = try await page("limit=1000")
            #expect(whole.status == .ok)
            #expect(whole.body["next_cursor"] == .null)
            let all = positions(whole.body)
            #expect(all.count >= 4)
            var walked: [Int] = []
            var cursor: String?
            repeat {
                let next = try await page("limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(next.status == .ok)
                #expect(positions(next.body).count <= 2)
                walked += positions(next.body)
                if case .string(let value)? = next.body["next_cursor"] { cursor = value } else { cursor = nil }
            } while cursor != nil && walked.count <= all.count
            #expect(walked == all)

            let hour3 = try await page("from=\(Timestamp.format(hourStart(3)))&to=\(Timestamp.format(hourStart(2)))")
            guard case .array(let digests)? = hour3.body["digests"] else { Issue.record("no digests"); return }
            #expect(!digests.isEmpty)
            for digest in digests {
                guard case .string(let hour)? = digest.objectValue?["hour"], case .string(let end)? = digest.objectValue?["hour_end"],
                      let start = Timestamp.parse(hour), let stop = Timestamp.parse(end) else { Issue.record("bad digest"); continue }
                #expect(start < hourStart(2) && stop > hourStart(3))
            }
            for (query, field) in [("limit=0", "limit"), ("limit=1001", "limit"), ("cursor=nope", "cursor"), ("from=2026-13-40", "from"),
                                   ("from=\(Timestamp.format(hourStart(2)))&to=\(Timestamp.format(hourStart(3)))", "to")] {
                let refused = try await client.execute(uri: "/v1/digests?\(query)", method: .get, headers: owner)
                #expect(refused.status == .badRequest, "\(query)")
                #expect(try ErrorBody(refused.body).error.details.first?.field == field, "\(query)")
            }
            let unknown = try await client.execute(uri: "/v1/digests?since=1", method: .get, headers: owner)
            #expect(unknown.status == .badRequest)
            #expect(try ErrorBody(unknown.body).error.code == "unknown_parameter")
        }
    }

    @Test("a bundle refuses filters, support readers, and windows with no sealed hour")
    func refusals() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let filtered = try await client.execute(uri: "/v1/events/export?format=bundle&category=billing", method: .get,
                                                    headers: [.authorization: "Bearer \(TestApp.token("org_none", .owner))"])
            #expect(filtered.status == .badRequest)
            #expect(try ErrorBody(filtered.body).error.details.first?.field == "category")
            let support = try await client.execute(uri: "/v1/events/export?format=bundle", method: .get,
                                                   headers: [.authorization: "Bearer \(TestApp.token("org_none", .support))"])
            #expect(support.status == .forbidden)
            let unsealed = try await bundle(client, "org_none", from: hourStart(2))
            #expect(unsealed.status == .badRequest)
            #expect(try ErrorBody(unsealed.body).error.message.contains("sealed"))
        }
    }
}
