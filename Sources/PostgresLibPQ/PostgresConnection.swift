import CLibPQ
import Foundation

/// One blocking libpq connection (`PGconn*`), finished on `deinit`.
///
/// Every call blocks the calling thread until the server answers, so a connection is only
/// ever used from the serial queue that `ConnectionPool` gives it, never from Swift's
/// cooperative thread pool. It is deliberately not `Sendable`.
public final class PostgresConnection {
    private var handle: OpaquePointer
    /// Cancels the statement running on this session from any thread (`PQcancel`).
    public let canceller = Canceller()
    /// `SET` statements run on every (re)connect, e.g. `statement_timeout`; program text only.
    private let sessionSettings: [String: String]
    /// Prepared statement names by SQL text (`PQprepare` once, then `PQexecPrepared`).
    private var statements: [String: String] = [:]
    private var statementCounter = 0
    /// The opening of a deferred transaction (`withDeferredTransaction`: its `BEGIN` and context)
    /// not sent yet: it goes out with the next query, in the same round trip.
    private var pendingOpening: [PostgresQuery]?
    /// A read-only transaction's `COMMIT` sent without waiting for its answer (see
    /// `withDeferredTransaction`); read by `settle()` before the session does anything else.
    private var commitInFlight = false
    /// Statements kept per connection before the cache is emptied and started again.
    static let statementCacheLimit = 512

    /// Connects with a libpq conninfo string (`host=… dbname=…`) or URI (`postgresql://…`).
    ///
    /// `sessionSettings` are applied with `SET` after every connect (names from the program,
    /// values quoted): a pool gives its sessions their statement timeout this way.
    public init(conninfo: String, sessionSettings: [String: String] = [:]) throws {
        self.sessionSettings = sessionSettings
        guard let handle = PQconnectdb(conninfo) else {
            throw PostgresError(code: .connectionFailed, message: "libpq could not allocate a connection")
        }
        self.handle = handle
        guard PQstatus(handle) == CONNECTION_OK else {
            // Throwing after every property is set runs deinit, which finishes the handle.
            let message = PostgresError.connectionMessage(handle) ?? "connection failed"
            throw PostgresError(code: .connectionFailed, message: message)
        }
        try configureSession()
    }

    deinit {
        canceller.replace(nil)
        PQfinish(handle)
    }

    /// True when the connection is open and not inside a transaction.
    public var isIdle: Bool {
        PQstatus(handle) == CONNECTION_OK && !isInTransaction
    }

    /// True when the session is inside a transaction block (open, failed or with a statement running).
    /// A transaction whose `COMMIT` is sent and not yet answered is not: it is ending.
    public var isInTransaction: Bool {
        if commitInFlight { return false }
        let status = PQtransactionStatus(handle)
        return status == PQTRANS_INTRANS || status == PQTRANS_INERROR || status == PQTRANS_ACTIVE
    }

    /// Rolls back whatever transaction is open; a connection that cannot is reset.
    public func rollback() {
        settle()
        rollbackQuietly()
        if PQstatus(handle) == CONNECTION_OK, PQtransactionStatus(handle) != PQTRANS_IDLE {
            statements.removeAll()
            PQreset(handle)
            canceller.replace(PQgetCancel(handle))
        }
    }

    private func configureSession() throws {
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        guard PQsetClientEncoding(handle, "UTF8") == 0 else {
            throw PostgresError(code: .connectionFailed, message: "the server refused UTF8 client encoding")
        }
        var script = "SET DateStyle = 'ISO'; SET TimeZone = 'UTC'; SET IntervalStyle = 'iso_8601'"
        for (name, value) in sessionSettings.sorted(by: { $0.key < $1.key }) {
            script += "; SET \(name) = \(try escapeLiteral(value))"
        }
        _ = try check(PQexec(handle, script))
        canceller.replace(PQgetCancel(handle))
    }

    // MARK: Health

    /// Checks, without blocking, that the server has not closed the session while it sat idle
    /// (a terminated backend or a restarted server sends its goodbye and closes the socket).
    public func checkAlive() -> Bool {
        settle()
        guard PQstatus(handle) == CONNECTION_OK else { return false }
        let socket = PQsocket(handle)
        guard socket >= 0 else { return false }
        var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, 0)
        if ready == 0 { return true }
        // Nothing is expected on an idle session (no LISTEN here): what arrived is the
        // server's goodbye (a terminated backend, a shutdown) or the connection's end.
        return false
    }

    /// Re-establishes the session with the same parameters, dropping prepared statements.
    public func reconnect() throws {
        commitInFlight = false
        statements.removeAll()
        canceller.replace(nil)
        PQreset(handle)
        guard PQstatus(handle) == CONNECTION_OK else {
            throw PostgresError(code: .connectionFailed, message: PostgresError.connectionMessage(handle) ?? "reconnect failed")
        }
        try configureSession()
    }

    // MARK: Queries

    /// Runs one parameterized statement, prepared once per connection and cached by its SQL text.
    /// Inside `withDeferredTransaction`, the transaction's opening goes out with it in one round trip.
    @discardableResult
    public func query(_ query: PostgresQuery) throws -> PostgresResult {
        settle()
        if pendingOpening != nil { return try queries([query])[0] }
        do {
            return try runPrepared(query)
        } catch let error as PostgresError
            where error.sqlState == "0A000" && error.message.contains("cached plan") && PQtransactionStatus(handle) == PQTRANS_IDLE {
            // A table the statement reads changed shape since it was prepared: prepare again.
            try forget(sql: query.sql)
            return try runPrepared(query)
        }
    }

    /// Runs SQL text without parameters, possibly several statements (migrations, `BEGIN; SET LOCAL …`).
    ///
    /// The text must come from the program or the `sql/` folder, never from input.
    @discardableResult
    public func executeScript(unsafeSQL sql: String) throws -> PostgresResult {
        settle()
        try sendPendingOpening()
        return try check(PQexec(handle, sql))
    }

    /// Quotes a string as an SQL literal with `PQescapeLiteral`, for the few commands that take no binds (`SET`).
    public func escapeLiteral(_ value: String) throws -> String {
        let utf8 = Array(value.utf8)
        guard let escaped = PQescapeLiteral(handle, value, utf8.count) else {
            throw PostgresError(code: .server, message: PostgresError.connectionMessage(handle) ?? "could not escape a literal")
        }
        defer { PQfreemem(escaped) }
        return String(cString: escaped)
    }

    /// Runs `body` inside `BEGIN … COMMIT`, rolling back when it throws.
    ///
    /// `preamble` is sent in the same round trip as `BEGIN` (for `SET LOCAL`); it must be
    /// program text with any values quoted by `escapeLiteral`.
    ///
    /// `beginSeparately` sends `BEGIN` in a round trip of its own before the preamble (for servers
    /// that replay a query string starting with `BEGIN`, as a Citus coordinator does).
    public func withTransaction<T>(preamble: String? = nil, beginSeparately: Bool = false, _ body: (PostgresConnection) throws -> T) throws -> T {
        let value = try rollingBackOnError {
            if beginSeparately || preamble == nil {
                try executeScript(unsafeSQL: "BEGIN")
                if let preamble { try executeScript(unsafeSQL: preamble) }
            } else {
                try executeScript(unsafeSQL: "BEGIN; \(preamble!)")
            }
            return try body(self)
        }
        try executeScript(unsafeSQL: "COMMIT")
        return value
    }

    /// Runs `body`; when it throws, an open transaction is rolled back before the error goes on.
    private func rollingBackOnError<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch {
            rollbackQuietly()
            throw error
        }
    }

    /// Runs `body` in a transaction whose `BEGIN` and `opening` statements (`set_config(…, true)`
    /// for the tenant context) are not sent on their own: they go out with the body's first query
    /// in one round trip (libpq pipeline mode); `queries` sends several of the body's statements
    /// in that round trip. A body that runs no query costs no round trip.
    ///
    /// `readOnly`: the transaction is `BEGIN READ ONLY`, so it can write nothing, and its `COMMIT`
    /// is sent without waiting for the answer: the value goes back to the caller a round trip
    /// sooner, and the session's next use reads the answer first (`settle()`), by then without
    /// waiting for it.
    public func withDeferredTransaction<T>(
        opening: [PostgresQuery], readOnly: Bool = false, _ body: (PostgresConnection) throws -> T
    ) throws -> T {
        settle()
        pendingOpening = [readOnly ? "BEGIN READ ONLY" : "BEGIN"] + opening
        defer { pendingOpening = nil }
        let value = try rollingBackOnError { try body(self) }
        pendingOpening = nil
        if PQtransactionStatus(handle) != PQTRANS_IDLE {
            if readOnly, PQsendQuery(handle, "COMMIT") == 1 {
                commitInFlight = true
            } else {
                try executeScript(unsafeSQL: "COMMIT")
            }
        }
        return value
    }

    /// Reads the answer to a read-only transaction's `COMMIT` sent without waiting. It has nothing
    /// to lose: a session that failed there is found by the next `checkAlive`.
    private func settle() {
        guard commitInFlight else { return }
        commitInFlight = false
        drainResults()
    }

    /// Opens a deferred transaction now, for a statement that cannot join a pipeline (a script, COPY).
    private func sendPendingOpening() throws {
        guard let opening = pendingOpening else { return }
        _ = try pipeline(opening)
        pendingOpening = nil
    }

    /// Runs several statements in one round trip (libpq pipeline mode), after a deferred
    /// transaction's opening if it is still to be sent; their results in order. A failure rolls
    /// an open transaction back; a statement whose cached plan went stale (a migration changed a
    /// table) is prepared again and the round trip repeated once, if it opened the transaction.
    public func queries(_ list: [PostgresQuery]) throws -> [PostgresResult] {
        settle()
        let opening = pendingOpening ?? []
        let startsFresh = !opening.isEmpty || PQtransactionStatus(handle) == PQTRANS_IDLE
        let results: [PostgresResult]
        do {
            results = try pipeline(opening + list)
        } catch let error as PostgresError
            where error.sqlState == "0A000" && error.message.contains("cached plan") && startsFresh {
            for query in list { try forget(sql: query.sql) }
            results = try pipeline(opening + list)
        }
        pendingOpening = nil
        return Array(results.suffix(list.count))
    }

    /// Sends `queries` as prepared statements in one round trip (libpq pipeline mode) and returns
    /// their results in order. The first failure is thrown (the server skips the statements after
    /// it) and leaves an open transaction rolled back.
    ///
    /// A statement new to the session is prepared inside the pipeline, just before it runs: so
    /// its parse (which locks the tables it names) comes after the transaction's opening and is
    /// bounded by the `statement_timeout` that opening sets, not by the session's.
    private func pipeline(_ queries: [PostgresQuery]) throws -> [PostgresResult] {
        if statements.count + queries.count > Self.statementCacheLimit {
            _ = try check(PQexec(handle, "DEALLOCATE ALL"))
            statements.removeAll()
        }
        var steps: [(name: String, prepare: Bool)] = []
        var preparing: [String: String] = [:]
        for query in queries {
            if !query.prepared {
                steps.append(("", false))
            } else if let name = statements[query.sql] ?? preparing[query.sql] {
                steps.append((name, false))
            } else {
                let name = nextStatementName()
                preparing[query.sql] = name
                steps.append((name, true))
            }
        }
        guard PQenterPipelineMode(handle) == 1 else {
            throw PostgresError(code: .server, message: PostgresError.connectionMessage(handle) ?? "could not enter pipeline mode")
        }
        var results: [PostgresResult] = []
        var failure: PostgresError?
        // What was queued, in order: a prepare (with its SQL, recorded once it succeeds) or a statement.
        var sent: [String?] = []
        for (query, step) in zip(queries, steps) {
            if step.prepare {
                guard PQsendPrepare(handle, step.name, query.sql, 0, nil) == 1 else {
                    failure = PostgresError(code: .connectionFailed, message: PostgresError.connectionMessage(handle) ?? "could not send a statement")
                    break
                }
                sent.append(query.sql)
            }
            let queued = withParameters(query.binds) { values, count in
                query.prepared ? PQsendQueryPrepared(handle, step.name, count, values, nil, nil, 0)
                    : PQsendQueryParams(handle, query.sql, count, nil, values, nil, nil, 0)
            }
            guard queued == 1 else {
                failure = PostgresError(code: .connectionFailed, message: PostgresError.connectionMessage(handle) ?? "could not send a statement")
                break
            }
            sent.append(nil)
        }
        if failure == nil, PQpipelineSync(handle) != 1 {
            failure = PostgresError(code: .connectionFailed, message: PostgresError.connectionMessage(handle) ?? "could not send the pipeline")
        }
        if failure == nil {
            // One result per prepare and statement, each followed by NULL, then the sync point.
            for preparedSQL in sent {
                guard let result = PQgetResult(handle) else {
                    failure = failure ?? PostgresError(code: .connectionFailed, message: PostgresError.connectionMessage(handle) ?? "no result from the server")
                    break
                }
                switch PQresultStatus(result) {
                case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY:
                    if let preparedSQL {
                        statements[preparedSQL] = preparing[preparedSQL]
                        PQclear(result)
                    } else {
                        results.append(PostgresResult(handle: result))
                    }
                case PGRES_PIPELINE_ABORTED:
                    PQclear(result)
                default:
                    failure = failure ?? PostgresError.fromResult(result, connection: handle)
                    PQclear(result)
                }
                while let extra = PQgetResult(handle) { PQclear(extra) }
            }
            if failure == nil || PQstatus(handle) == CONNECTION_OK {
                while let result = PQgetResult(handle) {
                    let status = PQresultStatus(result)
                    PQclear(result)
                    if status == PGRES_PIPELINE_SYNC { break }
                }
            }
        }
        if PQexitPipelineMode(handle) != 1 {
            // Results still pending (a broken exchange): a new session is the only clean state.
            failure = failure ?? PostgresError(code: .connectionFailed, message: PostgresError.connectionMessage(handle) ?? "could not leave pipeline mode")
            try? reconnect()
        }
        if let failure {
            rollbackQuietly()
            throw failure
        }
        return results
    }

    private func rollbackQuietly() {
        guard PQstatus(handle) == CONNECTION_OK, PQtransactionStatus(handle) != PQTRANS_IDLE else { return }
        if let result = PQexec(handle, "ROLLBACK") { PQclear(result) }
    }

    // MARK: COPY

    /// Streams rows into `COPY … FROM STDIN` (text format); returns the number of rows copied.
    ///
    /// `sql` is program text; each row's values are escaped here for COPY's text format.
    @discardableResult
    public func copyIn(unsafeSQL sql: String, rows: some Sequence<[String?]>) throws -> Int {
        settle()
        try sendPendingOpening()
        let start = PQexec(handle, sql)
        guard let start, PQresultStatus(start) == PGRES_COPY_IN else {
            _ = try check(start)
            throw PostgresError(code: .copyFailed, message: "the statement did not start COPY FROM STDIN")
        }
        PQclear(start)
        var buffer = [UInt8]()
        buffer.reserveCapacity(1 << 16)
        var count = 0
        func flush() throws {
            guard !buffer.isEmpty else { return }
            let sent = buffer.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
            }
            guard sent == 1 else {
                throw PostgresError(code: .copyFailed, message: PostgresError.connectionMessage(handle) ?? "COPY data was not sent")
            }
            buffer.removeAll(keepingCapacity: true)
        }
        do {
            for row in rows {
                CopyTextFormat.append(row: row, to: &buffer)
                count += 1
                if buffer.count >= 1 << 16 { try flush() }
            }
            try flush()
        } catch {
            _ = PQputCopyEnd(handle, "client aborted COPY")
            drainResults()
            throw error
        }
        guard PQputCopyEnd(handle, nil) == 1 else {
            throw PostgresError(code: .copyFailed, message: PostgresError.connectionMessage(handle) ?? "COPY end was not sent")
        }
        var failure: PostgresError?
        while let result = PQgetResult(handle) {
            if PQresultStatus(result) != PGRES_COMMAND_OK, failure == nil {
                failure = PostgresError.fromResult(result, connection: handle)
            }
            PQclear(result)
        }
        if let failure { throw failure }
        return count
    }

    private func drainResults() {
        while let result = PQgetResult(handle) { PQclear(result) }
    }

    // MARK: Internals

    private func runPrepared(_ query: PostgresQuery) throws -> PostgresResult {
        let name = try preparedName(for: query.sql)
        let result = withParameters(query.binds) { values, count in
            PQexecPrepared(handle, name, count, values, nil, nil, 0)
        }
        return try check(result)
    }

    private func preparedName(for sql: String) throws -> String {
        if let name = statements[sql] { return name }
        if statements.count >= Self.statementCacheLimit {
            _ = try check(PQexec(handle, "DEALLOCATE ALL"))
            statements.removeAll()
        }
        let name = nextStatementName()
        _ = try check(PQprepare(handle, name, sql, 0, nil))
        statements[sql] = name
        return name
    }

    private func nextStatementName() -> String {
        statementCounter += 1
        return "s\(statementCounter)"
    }

    private func forget(sql: String) throws {
        guard let name = statements.removeValue(forKey: sql) else { return }
        _ = try check(PQexec(handle, "DEALLOCATE \(name)"))
    }

    private func withParameters<R>(_ binds: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>?, Int32) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = binds.map { $0.map { strdup($0) } }
        defer { pointers.forEach { free($0) } }
        return pointers.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: max(binds.count, 1)) {
                body(binds.isEmpty ? nil : $0, Int32(binds.count))
            }
        }
    }

    private func check(_ result: OpaquePointer?) throws -> PostgresResult {
        guard let result else {
            throw PostgresError(code: .connectionFailed, message: PostgresError.connectionMessage(handle) ?? "no result from the server")
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_SINGLE_TUPLE:
            return PostgresResult(handle: result)
        default:
            let error = PostgresError.fromResult(result, connection: handle)
            PQclear(result)
            throw error
        }
    }
}

/// COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
enum CopyTextFormat {
    static func append(row: [String?], to buffer: inout [UInt8]) {
        for (index, value) in row.enumerated() {
            if index > 0 { buffer.append(UInt8(ascii: "\t")) }
            guard let value else {
                buffer.append(UInt8(ascii: "\\"))
                buffer.append(UInt8(ascii: "N"))
                continue
            }
            for byte in value.utf8 {
                switch byte {
                case UInt8(ascii: "\\"): buffer.append(contentsOf: [92, 92])
                case UInt8(ascii: "\t"): buffer.append(contentsOf: [92, UInt8(ascii: "t")])
                case UInt8(ascii: "\n"): buffer.append(contentsOf: [92, UInt8(ascii: "n")])
                case UInt8(ascii: "\r"): buffer.append(contentsOf: [92, UInt8(ascii: "r")])
                default: buffer.append(byte)
                }
            }
        }
        buffer.append(UInt8(ascii: "\n"))
    }
}

/// Asks the server to cancel whatever a session is running, from any thread.
///
/// libpq's `PGcancel` is made for this: `PQcancel` may be called while another thread blocks in
/// the session's own call. The lock only guards swapping the handle on reconnect.
public final class Canceller: @unchecked Sendable {
    private let lock = NSLock()
    private var handle: OpaquePointer?

    func replace(_ new: OpaquePointer?) {
        lock.lock()
        defer { lock.unlock() }
        if let handle { PQfreeCancel(handle) }
        handle = new
    }

    /// Sends the cancel request; true when the server received it (the statement, if any, then
    /// fails with SQLSTATE 57014 and its transaction rolls back).
    @discardableResult
    public func cancel() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let handle else { return false }
        var buffer = [CChar](repeating: 0, count: 256)
        return PQcancel(handle, &buffer, Int32(buffer.count)) == 1
    }
}
