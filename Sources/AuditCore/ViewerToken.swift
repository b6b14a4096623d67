import Foundation

/// The claims of a viewer token (SPEC §5): who reads which tenant's log, as what.
public struct ViewerClaims: Sendable, Hashable {
    public var tenant: TenantID
    public var role: AccessRole
    /// The reader's id in the SaaS product (`sub`).
    public var actorID: String
    public var actorName: String?
    public var issuedAt: Date
    public var expiresAt: Date

    public init(tenant: TenantID, role: AccessRole, actorID: String, actorName: String?, issuedAt: Date, expiresAt: Date) {
        self.tenant = tenant
        self.role = role
        self.actorID = actorID
        self.actorName = actorName
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}

/// Why a token was refused; all of them answer 401, the reason goes to the logs.
public enum ViewerTokenError: Error, Sendable, Equatable {
    case malformed, unsupportedAlgorithm, badSignature, expired, notYetValid, invalidClaims
}

/// JWT with HS256 only, signed with `AUDITLOG_SIGNING_KEY` (HMAC-SHA-256 from OpenSSL,
/// compared in constant time). Any other `alg`, `none` included, is refused.
public struct ViewerTokenCodec: Sendable {
    /// Accepted clock difference for `exp` and `iat`.
    public static let clockSkew: TimeInterval = 60
    /// Longest lifetime a token may be minted with.
    public static let maxLifetime: TimeInterval = 24 * 3600

    /// The signing key (`AUDITLOG_SIGNING_KEY`); digests have a key of their own.
    public let key: [UInt8]

    public init(key: [UInt8]) {
        self.key = key
    }

    public func mint(_ claims: ViewerClaims) -> String {
        let header = JSONValue.object(["alg": .string("HS256"), "typ": .string("JWT")])
        var payload: [String: JSONValue] = [
            "tid": .string(claims.tenant.rawValue),
            "role": .string(claims.role.rawValue),
            "sub": .string(claims.actorID),
            "iat": .number(claims.issuedAt.timeIntervalSince1970.rounded(.down)),
            "exp": .number(claims.expiresAt.timeIntervalSince1970.rounded(.down)),
        ]
        if let name = claims.actorName { payload["name"] = .string(name) }
        let signingInput = Crypto.base64URL(Array(header.canonicalText.utf8)) + "." + Crypto.base64URL(Array(JSONValue.object(payload).canonicalText.utf8))
        return signingInput + "." + Crypto.base64URL(Crypto.hmacSHA256(key: key, message: Array(signingInput.utf8)))
    }

    public func verify(_ token: String, now: Date = Date()) throws(ViewerTokenError) -> ViewerClaims {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count < 8192,
              let headerBytes = Crypto.base64URLDecode(parts[0]), let payloadBytes = Crypto.base64URLDecode(parts[1]),
              let signature = Crypto.base64URLDecode(parts[2]),
              case .object(let header)? = JSONValue.parse(headerBytes),
              case .object(let payload)? = JSONValue.parse(payloadBytes) else {
            throw .malformed
        }
        guard header["alg"] == .string("HS256") else { throw .unsupportedAlgorithm }
        let expected = Crypto.hmacSHA256(key: key, message: Array("\(parts[0]).\(parts[1])".utf8))
        guard Crypto.constantTimeEquals(expected, signature) else { throw .badSignature }
        guard case .string(let tenantText)? = payload["tid"], let tenant = TenantID(tenantText),
              case .string(let roleText)? = payload["role"], let role = AccessRole(rawValue: roleText), role != .publisher,
              case .string(let subject)? = payload["sub"], (1...256).contains(subject.count), !subject.utf8.contains(0),
              case .number(let expires)? = payload["exp"] else {
            throw .invalidClaims
        }
        var name: String?
        if let value = payload["name"], !value.isNull {
            guard case .string(let text) = value, text.count <= 256, !text.utf8.contains(0) else { throw .invalidClaims }
            name = text
        }
        // iat and exp both required, at most 24 hours apart; nbf honoured (duplicate claims were
        // refused by the parser: a payload naming "role" twice is malformed).
        guard case .number(let iat)? = payload["iat"], iat.isFinite, expires.isFinite, iat < expires,
              expires - iat <= Self.maxLifetime else { throw .invalidClaims }
        let issued = Date(timeIntervalSince1970: iat)
        guard issued <= now.addingTimeInterval(Self.clockSkew) else { throw .invalidClaims }
        if let value = payload["nbf"], !value.isNull {
            guard case .number(let notBefore) = value, notBefore.isFinite else { throw .invalidClaims }
            guard now.timeIntervalSince1970 >= notBefore - Self.clockSkew else { throw .notYetValid }
        }
        guard now.timeIntervalSince1970 < expires + Self.clockSkew else { throw .expired }
        return ViewerClaims(tenant: tenant, role: role, actorID: subject, actorName: name,
                            issuedAt: issued, expiresAt: Date(timeIntervalSince1970: expires))
    }

}

/// `AUDITLOG_SIGNING_KEY`: at least 32 bytes, given as hex or base64.
public enum SigningKey {
    public static func parse(_ text: String) -> [UInt8]? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.count % 2 == 0, trimmed.allSatisfy(\.isHexDigit) {
            var bytes: [UInt8] = []
            var index = trimmed.startIndex
            while index < trimmed.endIndex {
                let next = trimmed.index(index, offsetBy: 2)
                guard let byte = UInt8(trimmed[index..<next], radix: 16) else { return nil }
                bytes.append(byte)
                index = next
            }
            return bytes.count >= 32 ? bytes : nil
        }
        guard let data = Data(base64Encoded: trimmed) ?? Data(base64Encoded: trimmed.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")) else {
            return nil
        }
        return data.count >= 32 ? Array(data) : nil
    }
}
