import AuditCore

/// What a publisher is told after its events committed.
public struct IngestResult: Sendable, Equatable {
    /// The ids of the request's events, in request order (duplicates included).
    public var ids: [String]
    /// How many were already stored and were not written again.
    public var duplicates: Int
}

/// Events refused inside the transaction (e.g. older than their tenant's own retention);
/// nothing of the request was written.
public struct IngestRejection: Error, Sendable {
    public var problems: [EventProblem]
}
