/// Who a database transaction acts for; the row-level security policies read it from
/// `auditlog.role`.
///
/// The four reader roles come from viewer tokens; `publisher` is the SaaS backend's API key.
public enum AccessRole: String, Sendable, CaseIterable, Codable {
    case owner, admin, support, member, publisher

    /// Roles that may read the tenant's log (`member` may not).
    public var canRead: Bool { self != .member }
    /// Roles that may change tenant settings.
    public var canChangeSettings: Bool { self == .owner || self == .publisher }
    /// Roles that may export.
    public var canExport: Bool { self == .owner || self == .admin || self == .publisher }
}
