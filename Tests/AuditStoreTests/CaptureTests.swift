import AuditCore
@testable import AuditStore
import Foundation
import PostgresLibPQ
import Testing
import TestSupport

/// `auditlog attach` (SPEC §10): a SaaS table's changes captured in the writer's transaction,
/// checked in the database as the SaaS's own role writes.
@Suite("capture: auditlog attach puts a trigger on a SaaS table; changes are captured with the writer's transaction")
struct CaptureTests {
    let database: TestDatabase
    /// The SaaS's role: owns nothing of auditlog's (one per suite database; roles are cluster-wide).
    let role: String

    init() async throws {
        database = try await TestCluster.shared.database("capture")
        role = "saas_" + database.name.suffix(12).filter { $0.isLetter || $0.isNumber }.lowercased()
        let role = role
        try await database.asAdmin { connection in
            try connection.executeScript(unsafeSQL: """
                CREATE ROLE \(role) NOLOGIN;
                CREATE SCHEMA saas;
                CREATE TABLE saas.client (id text PRIMARY KEY, org_id text, name text, secret text, updated_at timestamptz);
                CREATE TABLE saas.note (body text);
                GRANT USAGE ON SCHEMA saas TO \(role);
                GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON saas.client TO \(role);
                """)
            _ = try Attachments.attach(AttachRequest(table: "saas.client", tenantColumn: "org_id", displayColumn: "name",
                                                     ignoreColumns: ["updated_at"], excludeColumns: ["secret"]), on: connection)
        }
    }

    /// Runs `statements` as the SaaS role in one transaction (committed unless `rollback`).
    func asSaaS(_ statements: [String], actor: String? = nil, rollback: Bool = false) async throws {
        try await database.asRole(role, statements, actor: actor, rollback: rollback)
    }

    struct Captured: Equatable {
        var tenant: String, operation: String, key: String?, old: String?, new: String?, actor: String?
    }

    func captures() async throws -> [Captured] {
        try await database.asAdmin { connection in
            try connection.query("""
                SELECT tenant_id, operation, row_key, old_row::text, new_row::text, actor FROM audit.capture ORDER BY capture_id
                """).rows.map {
                Captured(tenant: try $0.decode(String.self, at: 0), operation: try $0.decode(String.self, at: 1), key: try $0.decode(String?.self, at: 2),
                         old: try $0.decode(String?.self, at: 3), new: try $0.decode(String?.self, at: 4), actor: try $0.decode(String?.self, at: 5))
            }
        }
    }

    @Test("attach names the row by its primary key and the entity by the table; a committed change is captured with its actor, an excluded column nowhere")
    func committedChange() async throws {
        let list = try await database.asAdmin { try Attachments.list(on: $0) }
        #expect(list.map(\.table) == ["saas.client"] && list[0].keyColumns == ["id"] && list[0].entity == "client" && list[0].category == "client")
        let actor = #"{"type":"user","id":"u_7","name":"Alice"}"#
        try await asSaaS(["INSERT INTO saas.client VALUES ('c_1', 'org_1', 'Acme', 's3cr3t', now())"], actor: actor)
        let found = try await captures()
        #expect(found.count == 1)
        #expect(found.first?.tenant == "org_1" && found.first?.operation == "INSERT" && found.first?.key == "c_1")
        #expect(found.first?.actor == actor)
        #expect(found.first?.new?.contains("Acme") == true)
        #expect(found.allSatisfy { ($0.new ?? "").contains("s3cr3t") == false && ($0.new ?? "").contains("secret") == false })
    }

    @Test("a transaction that rolls back leaves no capture; a change of only an ignored column is not captured")
    func rollbackAndIgnored() async throws {
        try await asSaaS(["INSERT INTO saas.client VALUES ('c_2', 'org_1', 'Beta', 'x', now())"], rollback: true)
        #expect(try await captures().isEmpty)
        try await asSaaS(["INSERT INTO saas.client VALUES ('c_3', 'org_1', 'Gamma', 'x', now())"])
        try await asSaaS(["UPDATE saas.client SET updated_at = now() + interval '1 minute', secret = 'y' WHERE id = 'c_3'"])
        #expect(try await captures().map(\.operation) == ["INSERT"])
        try await asSaaS(["UPDATE saas.client SET name = 'Gamma Ltd' WHERE id = 'c_3'"])
        let update = try await captures().last
        #expect(update?.operation == "UPDATE" && update?.old?.contains("\"Gamma\"") == true && update?.new?.contains("Gamma Ltd") == true)
        #expect(update?.actor == nil)
    }

    @Test("a row without a tenant is refused, not dropped; a row moved to another tenant leaves one log and enters the other; TRUNCATE is captured per tenant")
    func tenants() async throws {
        let error = await #expect(throws: PostgresError.self) {
            try await asSaaS(["INSERT INTO saas.client VALUES ('c_4', NULL, 'Nobody', 'x', now())"])
        }
        #expect(error?.sqlState == "23502" && error?.message.contains("no tenant") == true)
        let stored = try await database.asAdmin { try $0.query("SELECT count(*) FROM saas.client WHERE id = 'c_4'").rows[0].decode(Int.self, at: 0) }
        #expect(stored == 0)
        try await asSaaS(["INSERT INTO saas.client VALUES ('c_5', 'org_1', 'Delta', 'x', now())",
                          "INSERT INTO saas.client VALUES ('c_6', 'org_2', 'Echo', 'x', now())"])
        try await asSaaS(["UPDATE saas.client SET org_id = 'org_3' WHERE id = 'c_5'"])
        let moved = try await captures().suffix(2)
        #expect(moved.map(\.tenant) == ["org_1", "org_3"] && moved.map(\.operation) == ["DELETE", "INSERT"])
        try await asSaaS(["TRUNCATE saas.client"])
        let truncated = try await captures().filter { $0.operation == "TRUNCATE" }.map(\.tenant).sorted()
        #expect(truncated == ["org_2", "org_3"])
    }

    @Test("the SaaS's role and the service role can neither read nor write the capture table")
    func noRights() async throws {
        for statement in ["SELECT count(*) FROM audit.capture", "INSERT INTO audit.capture (tenant_id, table_name, operation) VALUES ('org_1', 'x', 'INSERT')",
                          "DELETE FROM audit.capture", "SELECT count(*) FROM audit.attached_table"] {
            let saas = await #expect(throws: PostgresError.self) { try await asSaaS([statement]) }
            #expect(saas?.sqlState == "42501")
            let app = await #expect(throws: PostgresError.self) {
                try await database.asApp { try $0.executeScript(unsafeSQL: statement) }
            }
            #expect(app?.sqlState == "42501")
        }
    }

    @Test("attach refuses what it cannot capture, naming it; detach stops capture; attach again is idempotent")
    func attachAndDetach() async throws {
        func attach(_ request: AttachRequest) async -> String? {
            do {
                _ = try await database.asAdmin { try Attachments.attach(request, on: $0) }
                return nil
            } catch let error as PostgresError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        #expect(await attach(AttachRequest(table: "saas.note", tenantColumn: "body"))?.contains("no primary key") == true)
        #expect(await attach(AttachRequest(table: "saas.client", tenantColumn: "tenant"))?.contains("no column tenant") == true)
        #expect(await attach(AttachRequest(table: "saas.client", tenantColumn: "org_id", excludeColumns: ["org_id"]))?.contains("cannot be excluded") == true)
        #expect(await attach(AttachRequest(table: "saas.client", tenantColumn: "org_id", entity: "Client; DROP"))?.contains("entity") == true)
        #expect(await attach(AttachRequest(table: "saas.missing", tenantColumn: "org_id"))?.contains("does not exist") == true)
        #expect(await attach(AttachRequest(table: "audit.event", tenantColumn: "tenant_id"))?.contains("auditlog's own") == true)
        #expect(await attach(AttachRequest(table: "saas.client", tenantColumn: "org_id", entity: "customer", excludeColumns: ["secret"])) == nil)
        let list = try await database.asAdmin { try Attachments.list(on: $0) }
        #expect(list.count == 1 && list[0].entity == "customer")
        #expect(try await database.asAdmin { try Attachments.detach("saas.client", on: $0) })
        #expect(try await database.asAdmin { try Attachments.detach("saas.client", on: $0) } == false)
        try await asSaaS(["INSERT INTO saas.client VALUES ('c_9', 'org_1', 'Zeta', 'x', now())"])
        #expect(try await captures().isEmpty)
    }
}
