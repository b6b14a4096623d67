/// Why the embedded database could not be prepared, started or stopped; the message is for people.
public struct EmbeddedPostgresError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(message: String) { self.message = message }
    public var description: String { message }
}
