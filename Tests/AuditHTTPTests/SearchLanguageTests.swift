import AuditCore
@testable import AuditHTTP
@testable import AuditStore
import Foundation
import Hummingbird
import HummingbirdTesting
import PostgresLibPQ
import PropertyBased
import Testing
import TestSupport

/// The search language of SPEC §6.2 through `GET /v1/events`: every key negatable, a key repeated
/// means any of its values, different keys and a parameter with a `q` term all apply, `OR`
/// between words, prefixes for action, changed and target ids, and free text that finds what
/// support staff paste (ids, emails, IPs, request ids, user agents). Checked against a reference
/// model of the language for random queries, and case by case.
@Suite("the search language: nothing ignored, nothing reinterpreted, what support pastes is found")
struct SearchLanguageTests {
    let database: TestDatabase

    /// One of the 48 events of org_s, as the model sees it.
    struct Sample {
        var id: String
        var occurred: Date
        var actorID: String
        var actorName: String
        var email: String?
        var action: String
        var category: String
        var targets: [(type: String, id: String, name: String)]
        /// Every changed field path with its prefixes.
        var changed: Set<String>
        var outcome: String
        var ip: String
        var requestID: String
        var userAgent: String?
        var message: String

        /// The lexemes free text finds (as the `simple` parser splits them) and the whole
        /// identifiers (lowercased).
        var lexemes: Set<String> {
            var words = EventFilter.lexemes(message) + EventFilter.lexemes(action) + EventFilter.lexemes(actorName)
                + targets.flatMap { EventFilter.lexemes($0.name) } + changed.flatMap(EventFilter.lexemes)
            if let userAgent { words += EventFilter.lexemes(userAgent) }
            return Set(words)
        }

        var wholeTokens: Set<String> {
            Set([actorID, email, ip, requestID].compactMap { $0?.lowercased() } + targets.map { $0.id.lowercased() })
        }
    }

    static let now = Date()
    static let actors: [(String, String, String?)] = [
        ("u_1", "Ann Lee", "ann@example.com"), ("u_2", "Bob Kay", nil), ("u_3", "Cat Roy", "Cat@Example.com"), ("u_4", "Eve Ng", "eve@example.com"),
    ]
    static let actions = [
        ("client.renamed", "client_mapping"), ("client.deleted", "client_mapping"), ("integration.connected", "integration"),
        ("integration.synced", "integration"), ("user.invited", "user"), ("settings.changed", "settings"),
    ]
    static let targetSets: [[(type: String, id: String, name: String)]] = [
        [("client", "c_1402", "Acme")], [("integration", "i_7", "ConnectWise")], [("integration", "i_8", "HubSpot")],
        [("client", "c_1403", "Zenith"), ("integration", "i_7", "ConnectWise")], [],
    ]
    /// before, after, and the paths that changed (with their prefixes).
    static let changeSets: [(String, String, Set<String>)] = [
        (#"{"plan": "basic"}"#, #"{"plan": "pro"}"#, ["plan"]),
        (#"{"settings": {"theme": "dark"}}"#, #"{"settings": {"theme": "light"}}"#, ["settings", "settings.theme"]),
        (#"{"settings": {"locale": "en"}}"#, #"{"settings": {"locale": "fr"}}"#, ["settings", "settings.locale"]),
        ("", "", []),
    ]
    static let words = ["alpha", "bravo", "charlie", "delta", "echo"]

    static let samples: [Sample] = (0..<48).map { index in
        let actor = actors[index % 4]
        let (action, category) = actions[index % 6]
        return Sample(
            id: "s\(index)", occurred: now.addingTimeInterval(-Double(index) * 5 * 3600 - 1800),
            actorID: actor.0, actorName: actor.1, email: actor.2, action: action, category: category,
            targets: targetSets[index % 5], changed: changeSets[index % 4].2, outcome: index % 7 == 0 ? "failure" : "success",
            ip: "203.0.113.\(100 + index % 9)", requestID: "req_\(index % 11)x",
            userAgent: ["Firefox Linux", "curl", nil][index % 3],
            message: "\(words[index % 5]) \(words[(index / 5) % 5]) \(words[(index + 2) % 5])")
    }

    init() async throws {
        database = try await TestCluster.shared.database("search_language")
        let admin = database.adminConninfo
        let key = try await runBlocking { try PublisherKeys.create(name: "backend", tenant: nil, adminConninfo: admin).key }
        let events = Self.samples.enumerated().map { index, sample in
            let actor = sample.email.map { #"{"id": "\#(sample.actorID)", "name": "\#(sample.actorName)", "email": "\#($0)"}"# }
                ?? #"{"id": "\#(sample.actorID)", "name": "\#(sample.actorName)"}"#
            let targets = sample.targets.map { #"{"type": "\#($0.type)", "id": "\#($0.id)", "name": "\#($0.name)"}"# }
            let change = Self.changeSets[index % 4]
            let changes = change.0.isEmpty ? "" : #", "before": \#(change.0), "after": \#(change.1)"#
            let agent = sample.userAgent.map { #", "user_agent": "\#($0)""# } ?? ""
            return #"""
                {"tenant": "org_s", "id": "\#(sample.id)", "occurred_at": "\#(Timestamp.format(sample.occurred))",
                 "action": "\#(sample.action)", "category": "\#(sample.category)", "actor": \#(actor),
                 "targets": [\#(targets.joined(separator: ","))], "outcome": "\#(sample.outcome)", "message": "\#(sample.message)",
                 "context": {"ip": "\#(sample.ip)", "request_id": "\#(sample.requestID)"\#(agent)}\#(changes)}
                """#
        }
        try await TestApp(conninfo: database.appConninfo).test { client in
            let response = try await client.execute(uri: "/v1/events", method: .post,
                headers: [.authorization: "Bearer \(key)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"events": [\#(events.joined(separator: ","))]}"#))
            #expect(response.status == .created, "\(String(buffer: response.body))")
        }
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~:"))) ?? text
    }

    /// The ids `GET /v1/events` answers for a query string, or the 400's message.
    static func ids(_ client: any TestClientProtocol, _ query: String) async throws -> Result<[String], QueryFailure> {
        let response = try await client.execute(uri: "/v1/events?limit=200&" + query, method: .get,
                                                headers: [.authorization: "Bearer \(TestApp.token("org_s", .admin))"])
        let body = JSONValue.parse(Array(response.body.readableBytesView))
        guard response.status == .ok else {
            return .failure(QueryFailure(status: Int(response.status.code), body: String(buffer: response.body)))
        }
        let events = body?.objectValue?["events"]?.arrayValue ?? []
        return .success(events.compactMap { $0.objectValue?["id"]?.stringValue })
    }

    struct QueryFailure: Error, Equatable {
        var status: Int
        var body: String
    }

    func expectIDs(_ client: any TestClientProtocol, _ query: String, where predicate: (Sample) -> Bool,
                   sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let expected = Self.samples.filter(predicate).map(\.id)
        let answer = try await Self.ids(client, query)
        #expect(answer == .success(expected), "\(query)", sourceLocation: sourceLocation)
        #expect(!expected.isEmpty, "the case \(query) should find something", sourceLocation: sourceLocation)
    }

    @Test("each case that was ignored or rewritten now means what it says")
    func cases() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            // Negation of a key.
            try await expectIDs(client, "q=-actor:u_4") { $0.actorID != "u_4" }
            try await expectIDs(client, "q=-category:integration+-outcome:failure") { $0.category != "integration" && $0.outcome != "failure" }
            // A key repeated: any of its values (actor, action, changed alike).
            try await expectIDs(client, "q=actor:u_4+actor:u_3") { ["u_3", "u_4"].contains($0.actorID) }
            try await expectIDs(client, "q=action:user.invited+action:client.deleted") { ["user.invited", "client.deleted"].contains($0.action) }
            try await expectIDs(client, "q=changed:plan+changed:settings.theme") { $0.changed.contains("plan") || $0.changed.contains("settings.theme") }
            // A parameter and a q term both apply: u_3 and u_4 are different people.
            #expect(try await Self.ids(client, "q=actor:u_3&actor=u_4") == .success([]))
            try await expectIDs(client, "q=actor:u_3+actor:u_4&actor=u_4") { $0.actorID == "u_4" }
            try await expectIDs(client, "q=-category:user&category=user&category=settings") { $0.category == "settings" }
            // OR between words and phrases.
            try await expectIDs(client, "q=ConnectWise+OR+HubSpot") { $0.targets.contains { ["ConnectWise", "HubSpot"].contains($0.name) } }
            try await expectIDs(client, "q=zenith+OR+%22alpha+bravo%22") { sample in
                sample.targets.contains { $0.name == "Zenith" } || sample.message.contains("alpha bravo")
            }
            // Prefixes of action, changed and target ids.
            try await expectIDs(client, "q=changed:settings.*") { $0.changed.contains { $0.hasPrefix("settings.") } }
            try await expectIDs(client, "q=action:client*") { $0.action.hasPrefix("client") }
            try await expectIDs(client, "q=target:client/c_14*") { $0.targets.contains { $0.type == "client" && $0.id.hasPrefix("c_14") } }
            try await expectIDs(client, "q=-target:integration/i_7") { !$0.targets.contains { $0.id == "i_7" } }
            // What support pastes.
            try await expectIDs(client, "q=203.0.113.105") { $0.ip == "203.0.113.105" }
            try await expectIDs(client, "q=req_3x") { $0.requestID == "req_3x" }
            try await expectIDs(client, "q=c_1402") { $0.targets.contains { $0.id == "c_1402" } }
            try await expectIDs(client, "q=eve@example.com") { $0.email == "eve@example.com" }
            try await expectIDs(client, "q=actor:eve@example.com") { $0.actorID == "u_4" }
            try await expectIDs(client, "q=actor:CAT@example.com") { $0.actorID == "u_3" }
            try await expectIDs(client, "actor=ann@example.com") { $0.actorID == "u_1" }
            try await expectIDs(client, "q=firefox") { $0.userAgent == "Firefox Linux" }
            try await expectIDs(client, "q=u_2") { $0.actorID == "u_2" }
            // Dates: negated after is before.
            let cut = Timestamp.format(Self.now.addingTimeInterval(-3 * 86_400))
            try await expectIDs(client, "q=-after:\(cut)") { $0.occurred < Self.now.addingTimeInterval(-3 * 86_400) }
        }
    }

    @Test("what the language cannot express is a 400 that names the token", arguments: [
        ("(alpha OR bravo)", "(alpha"), ("alpha)", "alpha)"), ("category:bill*", "category:bill*"), ("actor:u_*", "actor:u_*"),
        ("al*pha", "al*pha"), ("*", "'*'"), ("OR alpha", "OR"), ("alpha OR", "OR"), ("alpha OR OR bravo", "OR"),
        ("actor:u_1 OR actor:u_2", "actor:u_1 OR"), ("alpha OR actor:u_2", "OR actor:u_2"), ("colour:red", "colour:"),
        ("-", "'-'"), ("!!!", "'!!!'"), ("\"\"", "empty phrase"), ("\"alpha*\"", "\"alpha*\""), ("late:false", "late:false"),
        ("after:2026-13-01", "after:2026-13-01"), ("-changed:.plan", "changed:.plan"), ("target:client", "target:client"),
        ("outcome:maybe", "outcome:maybe"), ("action:Client.*", "action:Client.*"), ("a\"b\"", "a\"b\""),
    ])
    func refusals(_ query: String, _ named: String) async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            let answer = try await Self.ids(client, "q=" + Self.encode(query))
            guard case .failure(let failure) = answer else {
                Issue.record("\(query) was answered \(answer)")
                return
            }
            #expect(failure.status == 400)
            #expect(failure.body.contains("invalid_query"))
            #expect(failure.body.contains(named.replacingOccurrences(of: "\"", with: "\\\"")), "\(failure.body)")
        }
    }

    @Test("parameters: a repeated filter means any value, a repeated single one is refused, reversed dates are named")
    func parameters() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            try await expectIDs(client, "actor=u_1&actor=u_2") { ["u_1", "u_2"].contains($0.actorID) }
            for query in ["limit=5&limit=6", "q=a&q=b", "target_type=client&target_type=user&target_id=c_1402"] {
                guard case .failure(let failure) = try await Self.ids(client, query) else {
                    Issue.record("\(query) was not refused")
                    continue
                }
                #expect(failure.body.contains("more than once"), "\(failure.body)")
            }
            guard case .failure(let reversed) = try await Self.ids(client, "from=2026-11-20&to=2026-11-01") else {
                Issue.record("reversed dates were not refused")
                return
            }
            #expect(reversed.body.contains("to=2026-11-01"), "\(reversed.body)")
            // A q that narrows the window to nothing matches nothing.
            #expect(try await Self.ids(client, "q=after:2026-11-02+before:2026-11-01") == .success([]))
        }
    }

    // MARK: The reference model

    /// One random query: `q` items and parameters, with the model's verdict on a sample.
    struct Query: CustomStringConvertible {
        var items: [Item]
        var parameters: [(String, String)]

        var description: String {
            "q=\(items.map(\.text).joined(separator: " ")) " + parameters.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        }

        var queryString: String {
            var parts = parameters.map { "\($0.0)=\(SearchLanguageTests.encode($0.1))" }
            if !items.isEmpty { parts.append("q=" + SearchLanguageTests.encode(items.map(\.text).joined(separator: " "))) }
            return parts.joined(separator: "&")
        }

        /// SPEC §6.2 read straight: each key's values any (negated: none), keys all, the
        /// parameters' keys on top, text groups all, each an OR of its terms.
        func matches(_ sample: Sample) -> Bool {
            var keyed: [String: [(String, Bool)]] = [:]
            for item in items {
                if case let .key(key, value, negated) = item { keyed["\(key)|\(negated)", default: []].append((value, negated)) }
            }
            for (group, values) in keyed {
                let key = String(group.split(separator: "|")[0])
                let any = values.contains { SearchLanguageTests.keyMatches(key, $0.0, sample) }
                if values[0].1 ? any : !any { return false }
            }
            var parameterGroups: [String: [String]] = [:]
            for (key, value) in parameters { parameterGroups[key, default: []].append(value) }
            for (key, values) in parameterGroups where !values.contains(where: { SearchLanguageTests.keyMatches(key, $0, sample) }) {
                return false
            }
            for item in items {
                if case let .text(terms) = item, !terms.contains(where: { SearchLanguageTests.textMatches($0, sample) }) { return false }
            }
            return true
        }
    }

    enum Item {
        case key(String, String, negated: Bool)
        /// Terms joined by OR: (kind, text, negated).
        case text([Term])

        var text: String {
            switch self {
            case let .key(key, value, negated): (negated ? "-" : "") + key + ":" + value
            case let .text(terms): terms.map(\.text).joined(separator: " OR ")
            }
        }
    }

    struct Term {
        enum Kind { case word, prefix, phrase }
        var kind: Kind
        var value: String
        var negated: Bool

        var text: String {
            let body = switch kind {
            case .word: value
            case .prefix: value + "*"
            case .phrase: "\"\(value)\""
            }
            return (negated ? "-" : "") + body
        }
    }

    static func day(_ daysAgo: Int) -> String {
        String(Timestamp.format(now.addingTimeInterval(-Double(daysAgo) * 86_400)).prefix(10))
    }

    static let keyValues: [(String, [String])] = [
        ("actor", ["u_1", "u_2", "u_3", "u_4", "u_5", "ann@example.com", "EVE@example.com", "cat@example.com", "bob@example.com"]),
        ("action", ["client.renamed", "user.invited", "client.*", "integration.*", "sett*", "client*", "integration.synced"]),
        ("category", ["client_mapping", "integration", "user", "billing"]),
        ("target", ["client/c_1402", "integration/i_7", "client/c_14*", "integration/i_*", "client/i_7", "integration/i_8"]),
        ("changed", ["plan", "settings", "settings.theme", "settings.*", "sett*", "settings.locale"]),
        ("outcome", ["success", "failure"]),
        ("late", ["true"]),
        ("after", (0...11).map(day)),
        ("before", (0...11).map(day)),
    ]
    static let textWords = [
        "alpha", "bravo", "charlie", "echo", "client", "renamed", "integration", "synced", "changed", "eve", "ng", "ann",
        "connectwise", "hubspot", "acme", "zenith", "firefox", "curl", "u_4", "c_1402", "i_7", "203.0.113.105", "req_3x",
        "eve@example.com", "cat@example.com", "zulu",
    ]
    static let prefixes = ["alp", "con", "hub", "int", "fire", "u_", "203.0.113.10", "req_1", "cat"]
    static let phrases = ["alpha bravo", "bravo charlie", "charlie delta", "echo alpha", "delta echo", "alpha alpha"]

    static func keyMatches(_ key: String, _ value: String, _ sample: Sample) -> Bool {
        func like(_ text: String, _ pattern: String) -> Bool {
            pattern.hasSuffix("*") ? text.hasPrefix(String(pattern.dropLast())) : text == pattern
        }
        switch key {
        case "actor": return sample.actorID == value || sample.email?.lowercased() == value.lowercased()
        case "action": return like(sample.action, value)
        case "category": return sample.category == value
        case "target":
            let parts = value.split(separator: "/", maxSplits: 1).map(String.init)
            return sample.targets.contains { $0.type == parts[0] && like($0.id, parts[1]) }
        case "changed": return sample.changed.contains { like($0, value) }
        case "outcome": return sample.outcome == value
        case "late": return false
        case "after": return sample.occurred >= SearchQuery.parseDate(value)!
        case "before": return sample.occurred < SearchQuery.parseDate(value)!
        default: return false
        }
    }

    static func textMatches(_ term: Term, _ sample: Sample) -> Bool {
        let lexemes = sample.lexemes, whole = sample.wholeTokens
        let all = lexemes.union(whole)
        let found: Bool
        switch term.kind {
        case .word:
            let parts = EventFilter.lexemes(term.value)
            found = whole.contains(term.value.lowercased()) || (parts.count == 1 && all.contains(parts[0]))
        case .prefix:
            let parts = EventFilter.lexemes(term.value)
            found = all.contains { $0.hasPrefix(term.value.lowercased()) } || (parts.count == 1 && all.contains { $0.hasPrefix(parts[0]) })
        case .phrase:
            let words = EventFilter.lexemes(sample.message), wanted = EventFilter.lexemes(term.value)
            found = (0...(words.count - wanted.count)).contains { Array(words[$0..<($0 + wanted.count)]) == wanted }
        }
        return found != term.negated
    }

    /// A query from random choices (each an integer; shrinking makes them smaller and simpler).
    static func query(_ choices: [Int], _ parameterChoices: [Int]) -> Query {
        var items: [Item] = []
        for choice in choices {
            let negated = choice % 5 == 0
            switch choice % 3 {
            case 0, 1:
                let (key, values) = keyValues[(choice / 3) % keyValues.count]
                items.append(.key(key, values[(choice / 7) % values.count], negated: negated))
            default:
                var terms: [Term] = []
                for part in 0..<(1 + (choice / 11) % 3) {
                    let pick = choice / (13 + part * 17)
                    let term = switch pick % 4 {
                    case 0, 1: Term(kind: .word, value: textWords[(pick / 4) % textWords.count], negated: (pick / 3) % 4 == 0)
                    case 2: Term(kind: .prefix, value: prefixes[(pick / 4) % prefixes.count], negated: (pick / 3) % 4 == 0)
                    default: Term(kind: .phrase, value: phrases[(pick / 4) % phrases.count], negated: (pick / 3) % 4 == 0)
                    }
                    terms.append(term)
                }
                items.append(.text(terms))
            }
        }
        let parameterKeys = keyValues.filter { ["actor", "action", "category", "changed", "outcome"].contains($0.0) }
        let parameters = parameterChoices.map { choice in
            let (key, values) = parameterKeys[choice % parameterKeys.count]
            return (key, values[(choice / 5) % values.count])
        }
        return Query(items: items, parameters: parameters)
    }

    @Test("random queries answer exactly what the reference model of SPEC §6.2 says")
    func againstTheModel() async throws {
        try await TestApp(conninfo: database.appConninfo).test { client in
            await propertyCheck(count: 300, input: Gen.int(in: 0...100_000).array(of: 1...5), Gen.int(in: 0...1000).array(of: 0...2)) { choices, parameterChoices in
                let query = Self.query(choices, parameterChoices)
                let expected = Self.samples.filter(query.matches).map(\.id)
                let answer = try? await Self.ids(client, query.queryString)
                #expect(answer == .success(expected), "\(query)")
            }
        }
    }
}
