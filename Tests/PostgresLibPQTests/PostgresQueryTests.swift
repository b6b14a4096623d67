import PostgresLibPQ
import Testing

@Suite("building queries")
struct PostgresQueryTests {
    @Test("interpolated values become numbered binds, never SQL text")
    func binds() {
        let name = "x'); DROP TABLE audit.event; --"
        let query: PostgresQuery = "SELECT * FROM t WHERE a = \(name) AND b = \(42)"
        #expect(query.sql == "SELECT * FROM t WHERE a = $1 AND b = $2")
        #expect(query.binds == [name, "42"])
    }

    @Test("nested queries are renumbered after the outer binds")
    func nested() {
        let inner: PostgresQuery = "c = \("one") AND d = \("two")"
        let outer: PostgresQuery = "SELECT 1 WHERE a = \(1) AND \(inner) AND e = \(3)"
        #expect(outer.sql == "SELECT 1 WHERE a = $1 AND c = $2 AND d = $3 AND e = $4")
        #expect(outer.binds == ["1", "one", "two", "3"])
    }

    @Test("renumbering keeps everything but placeholders byte for byte: non-ASCII text, a lone $, $10 and more")
    func renumberingText() {
        let values = (1...11).map { "v\($0)" }
        var inner = PostgresQuery(unsafeSQL: "x = 'é — $' AND y IN ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) AND z = $", binds: values)
        inner.sql += " -- ✓"
        let outer: PostgresQuery = "SELECT \(0) WHERE \(inner)"
        #expect(outer.sql == "SELECT $1 WHERE x = 'é — $' AND y IN ($2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) AND z = $ -- ✓")
        #expect(outer.binds == ["0"] + values)
        let long: PostgresQuery = "SELECT \(1), \(PostgresQuery(unsafeSQL: "'$12345678901'"))"
        #expect(long.sql == "SELECT $1, '$12345678901'")
        var appended: PostgresQuery = "SELECT \(1)"
        appended.append(", \(2)::text")
        #expect(appended.sql == "SELECT $1, $2::text")
    }

    @Test("NULL is a nil bind and the description hides values")
    func nullAndDescription() {
        let missing: String? = nil
        let query: PostgresQuery = "SELECT \(missing), \("secret")"
        #expect(query.binds == [nil, "secret"])
        #expect(!query.description.contains("secret"))
    }
}
