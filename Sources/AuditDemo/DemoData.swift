import AuditCore
import AuditStore
import Foundation

/// `auditlog serve --demo`: two organisations with a month of realistic activity, written
/// through the same validation, diff, redaction and templates as `POST /v1/events`.
public enum DemoData {
    public static let tenants = [TenantID("acme_msp")!, TenantID("northwind_it")!]

    /// Seeds each demo tenant that has no events yet; returns how many events were written.
    public static func seed(_ database: AuditDatabase, messages: MessageRenderer, redactor: Redactor, now: Date = Date()) async throws -> Int {
        var written = 0
        for (position, tenant) in tenants.enumerated() {
            guard try await !database.hasEvents(tenant: tenant) else { continue }
            let documents = events(for: tenant, count: position == 0 ? 320 : 160, now: now, withHostileEvent: position == 0)
            let validator = EventValidator(now: now, retentionDays: database.globalRetentionDays, redactor: redactor)
            var stored: [StoredEvent] = []
            for (index, document) in documents.enumerated() {
                guard case .success(let draft) = validator.validate(document, index: index) else { continue }
                stored.append(StoredEvent(draft: draft, receivedAt: now, message: messages.render(draft)))
            }
            var start = 0
            while start < stored.count {
                let chunk = Array(stored[start..<min(start + 100, stored.count)])
                written += try await database.ingestor.ingest(chunk).ids.count
                start += 100
            }
        }
        return written
    }

    struct Person { let id, name, email: String }

    static func events(for tenant: TenantID, count: Int, now: Date, withHostileEvent: Bool) -> [JSONValue] {
        var random = SeededRandom(seed: UInt64(tenant.rawValue.utf8.reduce(7) { $0 &* 31 &+ UInt64($1) }))
        let domain = tenant.rawValue.replacingOccurrences(of: "_", with: "-") + ".example"
        let names = withHostileEvent
            ? [("Alice Moreau", "alice"), ("Bob Okafor", "bob"), ("Carla Jensen", "carla"), ("Dmitri Novak", "dmitri")]
            : [("Priya Shah", "priya"), ("Tom Lindqvist", "tom"), ("Wen Zhao", "wen"), ("Yusuf Demir", "yusuf")]
        let admins = names.enumerated().map { Person(id: "u_\($0.offset + 1)", name: $0.element.0, email: "\($0.element.1)@\(domain)") }
        let invitees = ["Elena Rossi", "Farid Haddad", "Grace Kim", "Hiro Tanaka", "Ines Silva", "Jonas Weber"]
        let clients = ["Acme Ltd", "Globex GmbH", "Initech LLC", "Umbrella Partners", "Stark Holdings", "Wayne Group",
                       "Wonka Inc", "Tyrell Co", "Cyberdyne Systems", "Soylent Foods", "Hooli", "Vandelay Imports"]
        let integrations = ["QuickBooks Online", "Xero", "ConnectWise", "HubSpot"]
        let services = ["Managed Backup", "Help Desk", "Onboarding", "Cloud Backup", "Security Monitoring"]
        let plans = ["Starter", "Growth", "Business", "Enterprise"]
        let agents = ["Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
                      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/130.0 Safari/537.36",
                      "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"]

        func object(_ members: [String: JSONValue]) -> JSONValue { .object(members) }
        func target(_ type: String, _ id: String, _ name: String) -> JSONValue {
            object(["type": .string(type), "id": .string(id), "name": .string(name)])
        }
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }

        var documents: [JSONValue] = []
        for index in 0..<count {
            // Spread over the last 30 days, denser towards now.
            let age = pow(Double(index) / Double(count), 1.6) * 30 * 86_400 + Double(random.next() % 600)
            let occurred = now.addingTimeInterval(-age - 60)
            let actor = pick(admins)
            var event: [String: JSONValue] = [
                "tenant": .string(tenant.rawValue), "id": .string("demo_\(index)"),
                "occurred_at": .string(Timestamp.format(occurred)),
                "actor": object(["type": .string("user"), "id": .string(actor.id), "name": .string(actor.name), "email": .string(actor.email)]),
                "context": object(["ip": .string("203.0.113.\(10 + Int(random.next() % 200))"), "user_agent": .string(pick(agents)),
                                   "request_id": .string("req_\(String(random.next() % 0xffffff, radix: 16))")]),
            ]
            let client = pick(clients)
            let clientID = "c_\(clients.firstIndex(of: client)! + 1400)"
            switch random.next() % 15 {
            case 0:
                let name = pick(invitees)
                event["action"] = "user.invited"
                event["targets"] = .array([target("user", "u_\(100 + Int(random.next() % 50))", name)])
                event["after"] = object(["role": .string(pick(["member", "admin", "billing"])), "email": .string(name.lowercased().replacingOccurrences(of: " ", with: ".") + "@" + domain)])
            case 1:
                let person = pick(admins + [Person(id: "u_7", name: "Grace Kim", email: "grace@\(domain)")])
                event["action"] = "user.role_changed"
                event["targets"] = .array([target("user", person.id, person.name)])
                event["before"] = object(["role": "member"]); event["after"] = object(["role": .string(pick(["admin", "billing", "owner"]))])
            case 2:
                event["action"] = "user.removed"
                event["targets"] = .array([target("user", "u_\(100 + Int(random.next() % 50))", pick(invitees))])
            case 3, 4:
                let integration = pick(integrations)
                event["action"] = "integration.synced"
                event["targets"] = .array([target("integration", "int_" + integration.lowercased().replacingOccurrences(of: " ", with: "_"), integration)])
                let failed = random.next() % 6 == 0
                event["outcome"] = .string(failed ? "failure" : "success")
                event["metadata"] = object(failed ? ["error": "The provider rejected the credentials (401)", "records": 0]
                                                  : ["records": .number(Double(20 + random.next() % 900))])
            case 5:
                let integration = pick(integrations)
                event["action"] = .string(pick(["integration.connected", "integration.disconnected"]))
                event["targets"] = .array([target("integration", "int_" + integration.lowercased().replacingOccurrences(of: " ", with: "_"), integration)])
            case 6:
                let integration = pick(integrations)
                event["action"] = "integration.updated"
                event["targets"] = .array([target("integration", "int_" + integration.lowercased().replacingOccurrences(of: " ", with: "_"), integration)])
                event["before"] = object(["settings": object(["sync_interval": "daily", "api_token": "tok_live_81f2a9"])])
                event["after"] = object(["settings": object(["sync_interval": "hourly", "api_token": "tok_live_c04d17"])])
            case 7, 8:
                let renamed = client + (random.next() % 2 == 0 ? " (EU)" : " Holdings")
                event["action"] = "client.renamed"
                event["targets"] = .array([target("client", clientID, renamed)])
                event["before"] = object(["name": .string(client)]); event["after"] = object(["name": .string(renamed)])
            case 9:
                let other = pick(clients.filter { $0 != client })
                event["action"] = "client.merged"
                event["targets"] = .array([target("client", clientID, client), target("client", "c_\(clients.firstIndex(of: other)! + 1400)", other)])
            case 10:
                event["action"] = "service_mapping.rule_updated"
                let service = pick(services)
                event["targets"] = .array([target("service", "svc_\(services.firstIndex(of: service)! + 1)", service), target("client", clientID, client)])
                event["before"] = object(["rule": object(["agreement": "Standard", "hours": 10])])
                event["after"] = object(["rule": object(["agreement": "Premium", "hours": .number(Double(12 + random.next() % 20))])])
            case 11:
                let from = pick(plans), to = pick(plans.filter { $0 != from })
                event["action"] = "subscription.changed"
                event["category"] = "billing"
                event["targets"] = .array([target("subscription", "sub_\(tenant.rawValue)", "\(tenant.rawValue) subscription")])
                event["before"] = object(["plan": .string(from), "seats": 10]); event["after"] = object(["plan": .string(to), "seats": .number(Double(10 + random.next() % 15))])
            case 12:
                event["action"] = "payment_method.changed"
                event["category"] = "billing"
                event["targets"] = .array([target("payment_method", "pm_\(random.next() % 9000 + 1000)", "Company card")])
                event["before"] = object(["brand": "Visa", "last4": "4242", "card_number": "4242424242424242"])
                event["after"] = object(["brand": "Mastercard", "last4": "4444", "card_number": "5555555555554444"])
            case 13:
                event["action"] = "audit_log.exported"
                event["category"] = "audit"
                event["targets"] = .array([target("audit_log", tenant.rawValue, "Audit log")])
                event["metadata"] = object(["format": .string(pick(["csv", "ndjson"])), "filters": object(["category": "billing"])])
            default:
                event["action"] = "organization.settings_updated"
                event["targets"] = .array([target("organization", tenant.rawValue, tenant.rawValue)])
                event["before"] = object(["timezone": "UTC", "two_factor_required": false])
                event["after"] = object(["timezone": "Europe/Berlin", "two_factor_required": true])
            }
            if event["category"] == nil, case .string(let action)? = event["action"] {
                let categories = ["user": "users", "integration": "integrations", "client": "client_mapping",
                                  "service_mapping": "service_mapping", "organization": "organization"]
                event["category"] = categories[String(action.prefix { $0 != "." })].map(JSONValue.string)
            }
            documents.append(.object(event))
        }
        if withHostileEvent {
            // A client named like an HTML payload: the viewer must show these characters as text.
            let hostile = "<img src=x onerror=alert(1)>"
            documents.append(object([
                "tenant": .string(tenant.rawValue), "id": "demo_hostile", "action": "client.renamed", "category": "client_mapping",
                "occurred_at": .string(Timestamp.format(now.addingTimeInterval(-2 * 3600))),
                "actor": object(["type": "user", "id": "u_2", "name": .string(admins[1].name), "email": .string(admins[1].email)]),
                "targets": .array([target("client", "c_9999", hostile)]),
                "before": object(["name": "Hostile Imports"]), "after": object(["name": .string(hostile)]),
                "message": .string(hostile),
            ]))
        }
        return documents
    }
}

/// A small deterministic generator (SplitMix64), so the demo looks the same on every machine.
struct SeededRandom {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
