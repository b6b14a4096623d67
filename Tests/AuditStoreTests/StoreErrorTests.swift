@testable import AuditStore
import PostgresLibPQ
import Testing

/// The one mapping from what PostgreSQL (or the pool) says to the store's codes, which the HTTP
/// layer then maps to statuses once.
@Suite("StoreError: SQLSTATE to stable codes")
struct StoreErrorTests {
    @Test("server errors map by SQLSTATE class, never by their text", arguments: [
        ("22P02", StoreError.Code.invalidInput), ("22008", .invalidInput), ("23514", .invalidInput), ("23502", .invalidInput),
        ("23505", .conflict), ("42501", .forbidden), ("57014", .timeout), ("55P03", .timeout), ("40001", .unavailable),
        ("53200", .unavailable), ("53300", .unavailable), ("57P01", .unavailable), ("08006", .unavailable),
        ("42P01", .internal), ("XX000", .internal),
    ])
    func bySQLState(_ state: String, _ expected: StoreError.Code) {
        let mapped = StoreError.from(PostgresError(code: .server, sqlState: state, message: "value 'secret' of tenant org_b"))
        #expect(mapped.code == expected)
        #expect(!mapped.message.contains("secret"), "the client's message never carries the server's words")
        #expect(mapped.operatorDetail.contains("secret"), "the operator's detail keeps them")
    }

    @Test("a pool that could not give a connection, or a closed one, is unavailable")
    func poolErrors() {
        #expect(StoreError.from(PostgresError(code: .unavailable, message: "no connection")).code == .unavailable)
        #expect(StoreError.from(PostgresError(code: .poolClosed, message: "closed")).code == .unavailable)
        #expect(StoreError.from(PostgresError(code: .connectionFailed, message: "refused")).code == .unavailable)
    }
}
