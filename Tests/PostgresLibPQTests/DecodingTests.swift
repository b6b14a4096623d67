import Foundation
import PostgresLibPQ
import Testing
import TestSupport

@Suite("values round-trip through PostgreSQL")
struct DecodingTests {
    let database: TestDatabase

    init() async throws {
        database = try await TestCluster.shared.database("decoding")
    }

    /// Sends `value` as a bind, casts it on the server, and reads it back.
    func roundTrip<T: PostgresEncodable & PostgresDecodable>(_ value: T, as type: String) async throws -> (T, T?) {
        try await database.asApp { connection in
            let row = try connection.query("SELECT \(value)::\(unsafeSQL: type), NULL::\(unsafeSQL: type)").rows[0]
            return (try row.decode(T.self, at: 0), try row.decode(T?.self, at: 1))
        }
    }

    @Test("text, including quotes, backslashes and non-ASCII")
    func text() async throws {
        let value = "O'Brien said \"hi\" \\ to Zoë 🎉, {braces} and, commas"
        let (back, null) = try await roundTrip(value, as: "text")
        #expect(back == value)
        #expect(null == nil)
    }

    @Test("integers at their limits")
    func integers() async throws {
        #expect(try await roundTrip(Int.max, as: "bigint").0 == Int.max)
        #expect(try await roundTrip(Int64.min, as: "bigint").0 == Int64.min)
        #expect(try await roundTrip(Int32.max, as: "integer").0 == Int32.max)
        #expect(try await roundTrip(-42, as: "integer").1 == nil)
    }

    @Test("booleans and doubles, including infinities")
    func booleansAndDoubles() async throws {
        #expect(try await roundTrip(true, as: "boolean").0 == true)
        #expect(try await roundTrip(false, as: "boolean").0 == false)
        #expect(try await roundTrip(3.25, as: "double precision").0 == 3.25)
        #expect(try await roundTrip(-Double.infinity, as: "double precision").0 == -Double.infinity)
        #expect(try await roundTrip(0.1, as: "double precision").1 == nil)
    }

    @Test("timestamptz keeps microseconds, whatever the session time zone")
    func timestamps() async throws {
        let value = Date(timeIntervalSince1970: 1_795_255_200.123456)
        let (back, null) = try await roundTrip(value, as: "timestamptz")
        #expect(abs(back.timeIntervalSince1970 - value.timeIntervalSince1970) < 0.000001)
        #expect(null == nil)
        let parsedInIndia = try await database.asApp { connection in
            try connection.executeScript(unsafeSQL: "SET TimeZone = 'Asia/Kolkata'")
            return try connection.query("SELECT '2026-11-21 10:00:00+00'::timestamptz").rows[0].decode(Date.self, at: 0)
        }
        #expect(parsedInIndia == Date(timeIntervalSince1970: 1_795_255_200))
    }

    @Test("uuid, bytea and text arrays")
    func uuidBytesArrays() async throws {
        let id = UUID()
        #expect(try await roundTrip(id, as: "uuid").0 == id)
        let bytes = Data([0, 1, 0x7f, 0x80, 0xff])
        #expect(try await roundTrip(bytes, as: "bytea").0 == bytes)
        let words = ["plain", "with space", "comma,inside", "quote\"inside", "back\\slash", "NULL", "{}", ""]
        #expect(try await roundTrip(words, as: "text[]").0 == words)
        #expect(try await roundTrip([String](), as: "text[]").0 == [])
        #expect(try await roundTrip(["x"], as: "text[]").1 == nil)
    }

    @Test("json and jsonb as text")
    func json() async throws {
        let document = PostgresJSON(text: #"{"b": [1, 2], "a": "x"}"#)
        let back = try await roundTrip(document, as: "jsonb").0
        struct Shape: Decodable, Equatable { var a: String; var b: [Int] }
        #expect(try back.decode(Shape.self) == Shape(a: "x", b: [1, 2]))
        #expect(try await roundTrip(document, as: "jsonb").1 == nil)
    }

    @Test("a NULL read as a non-optional value is an error, not a default")
    func unexpectedNull() async throws {
        let error = await #expect(throws: PostgresError.self) {
            try await database.asApp { connection in
                try connection.query("SELECT NULL::text AS nothing").rows[0].decode(String.self, at: 0)
            }
        }
        #expect(error?.code == .unexpectedNull)
    }

    @Test("reading a column as the wrong type is a decoding error")
    func wrongType() async throws {
        let error = await #expect(throws: PostgresError.self) {
            try await database.asApp { connection in
                try connection.query("SELECT 'abc'::text").rows[0].decode(Int.self, at: 0)
            }
        }
        #expect(error?.code == .decoding)
    }
}
