import AuditCore
import AuditStore

/// Who is calling: the SaaS backend with its API key, or a person with a viewer token.
public enum Caller: Sendable {
    case publisher(PublisherKey)
    case viewer(ViewerClaims)

    var publisher: PublisherKey? {
        if case .publisher(let key) = self { return key }
        return nil
    }
}
