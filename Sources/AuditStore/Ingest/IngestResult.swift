import AuditCore

/// What a publisher is told after its events committed.
public struct IngestResult: Sendable, Equatable {
    /// The ids of the request's events, in request order (duplicates included).
    public var ids: [String]
    /// How many were already stored and were not written again.
    public var duplicates: Int
}

/// Events refused inside the transaction (older than their tenant's own retention, or an id
/// already stored as a different event); nothing of the request was written.
public struct IngestRejection: Error, Sendable {
    public enum Kind: Sendable {
        /// 422 invalid_events.
        case invalid
        /// 409 id_conflict.
        case idConflict
    }
    public var kind: Kind = .invalid
    public var problems: [EventProblem]
}
