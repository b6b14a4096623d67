/// `AUDITLOG_FRAME_ANCESTORS`: who may embed the viewer page in a frame, as the CSP
/// `frame-ancestors` directive takes it.
public enum FrameAncestors {
    /// CSP source expressions only: schemes, hosts, ports, wildcards and the quoted keywords
    /// 'self' and 'none', nothing that could end the directive or the header; `'none'` when unset.
    public static func parse(_ raw: String?) throws(FrameAncestorsError) -> String {
        guard let raw else { return "'none'" }
        let sources = raw.split(whereSeparator: { $0 == " " || $0 == "," }).map(String.init)
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:/*")
        for source in sources where source != "'self'" && source != "'none'" {
            guard source.allSatisfy({ allowed.contains($0) }), source.count <= 253 else {
                throw FrameAncestorsError(description: """
                    AUDITLOG_FRAME_ANCESTORS takes CSP sources separated by spaces, such as 'self' https://app.example.com; \
                    '\(source)' is not one
                    """)
            }
        }
        return sources.isEmpty ? "'none'" : sources.joined(separator: " ")
    }
}

public struct FrameAncestorsError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
