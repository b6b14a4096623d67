/// One thing wrong with one event of a request: which event, which field, and why.
public struct EventProblem: Sendable, Hashable, Error {
    public var index: Int
    public var field: String
    public var message: String

    public init(index: Int, field: String, message: String) {
        self.index = index
        self.field = field
        self.message = message
    }
}
