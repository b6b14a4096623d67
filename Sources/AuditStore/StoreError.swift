import Foundation
internal import PostgresLibPQ

/// A failure of the store, with a stable code the HTTP layer and the CLI map (SPEC §6.3).
///
/// `message` is safe to show a client: it never carries SQL, bound values or another tenant's
/// data. `operatorDetail` carries the server's own words for logs and the operator's terminal.
public struct StoreError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public enum Code: String, Sendable {
        /// A value the database refused as data (SQLSTATE classes 22 and 23): the caller's input.
        case invalidInput = "invalid_input"
        /// The row exists already (SQLSTATE 23505).
        case conflict
        /// Nothing there (or another tenant's).
        case notFound = "not_found"
        /// The role may not do this (SQLSTATE 42501, a row-level security refusal).
        case forbidden
        /// The database cannot be reached, or no connection became free in time.
        case unavailable
        /// The statement ran past its time limit and was cancelled by the server.
        case timeout
        /// The caller went away (its task was cancelled) and the statement was cancelled.
        case cancelled
        /// Anything else: a bug, logged with its detail.
        case `internal`
    }

    public var code: Code
    public var message: String
    public var operatorDetail: String
    /// The server's SQLSTATE, when there was one.
    public var sqlState: String?

    public init(_ code: Code, _ message: String, operatorDetail: String? = nil, sqlState: String? = nil) {
        self.code = code
        self.message = message
        self.operatorDetail = operatorDetail ?? message
        self.sqlState = sqlState
    }

    public var description: String { "StoreError(\(code.rawValue)\(sqlState.map { ", sqlState: \($0)" } ?? ""))" }
    public var debugDescription: String { "\(description): \(operatorDetail)" }

    /// True when trying again later may help (503 with Retry-After).
    public var isTransient: Bool { code == .unavailable || code == .timeout }

    /// The one mapping from database and pool failures to store codes.
    static func from(_ error: any Error) -> any Error {
        switch error {
        case let error as StoreError: return error
        case is IngestRejection, is TaggedRejection, is MigrationError, is ConfigurationError, is EmbeddedPostgresError: return error
        case is CancellationError:
            return StoreError(.cancelled, "The request was cancelled.")
        case let error as PostgresError: return from(error)
        default: return error
        }
    }

    static func from(_ error: PostgresError) -> StoreError {
        let detail = error.debugDescription
        if error.isConnectionProblem {
            return StoreError(.unavailable, "The database is unavailable; try again shortly.", operatorDetail: detail, sqlState: error.sqlState)
        }
        guard let state = error.sqlState else {
            return StoreError(.internal, "An unexpected database error occurred.", operatorDetail: detail)
        }
        switch state {
        case "57014":
            // query_canceled: our own PQcancel when the caller's task was cancelled, else statement_timeout.
            if Task.isCancelled { return StoreError(.cancelled, "The request was cancelled.", operatorDetail: detail, sqlState: state) }
            return StoreError(.timeout, "The database took too long to answer; narrow the search or try again.",
                              operatorDetail: detail, sqlState: state)
        case "55P03":
            return StoreError(.timeout, "The database is busy; try again shortly.", operatorDetail: detail, sqlState: state)
        case "40001", "40P01":
            // Serialization failures, deadlocks, and a standby's recovery conflicts: transient.
            return StoreError(.unavailable, "The database is busy; try again shortly.", operatorDetail: detail, sqlState: state)
        case "23505":
            return StoreError(.conflict, "That already exists.", operatorDetail: detail, sqlState: state)
        case "42501":
            return StoreError(.forbidden, "This role may not do that.", operatorDetail: detail, sqlState: state)
        default:
            if state.hasPrefix("22") || state.hasPrefix("23") {
                return StoreError(.invalidInput, "A value in the request is out of range or not allowed.", operatorDetail: detail, sqlState: state)
            }
            if state.hasPrefix("53") || state.hasPrefix("57P") || state.hasPrefix("08") {
                return StoreError(.unavailable, "The database is unavailable; try again shortly.", operatorDetail: detail, sqlState: state)
            }
            return StoreError(.internal, "An unexpected database error occurred.", operatorDetail: detail, sqlState: state)
        }
    }
}

/// Runs `body`, turning database failures into `StoreError`.
func mappingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw StoreError.from(error)
    }
}
