import AuditCore
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where a stream may send: `https://` to a public address. A host that resolves to loopback,
/// a private, shared (CGNAT), multicast or unspecified address is refused (the service would
/// otherwise reach into the network it runs in: server-side request forgery), and so is plain
/// `http://`, unless `AUDITLOG_STREAM_ALLOW_HOSTS` lists the host (by name or address, with or
/// without its port) or a block holding every address it resolves to. Link-local and metadata
/// addresses are refused always. Checked, after resolving the name, when a stream is configured
/// and again before each delivery (a name may resolve elsewhere later); deliveries follow no
/// redirect, so a destination cannot send them on to an address this check never saw.
public enum DestinationGuard {
    /// Nil when `url` may be sent to; otherwise why not.
    public static func problem(with url: String, allow: DestinationAllowList) async -> String? {
        guard url.utf8.count <= 2048, let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty else {
            return "must be an absolute https:// URL of at most 2048 characters"
        }
        if components.user != nil || components.password != nil { return "must not carry a user name or password" }
        guard scheme == "https" || scheme == "http" else { return "must use https://" }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        let listed = allow.allowsHost(bare, port: port)
        let addresses = await resolve(bare)
        if addresses.isEmpty { return "names a host that does not resolve" }
        var everyInBlock = true
        for address in addresses {
            let bytes = DestinationAllowList.address(address) ?? []
            if DestinationAllowList.isNeverAllowed(bytes) {
                return "resolves to \(address), a link-local or metadata address, which streams never reach"
            }
            let inBlock = allow.allowsAddress(bytes)
            everyInBlock = everyInBlock && inBlock
            if !listed && !inBlock && isPrivate(address) {
                return "resolves to \(address), a loopback or private address (list it in AUDITLOG_STREAM_ALLOW_HOSTS to allow it)"
            }
        }
        if scheme == "http" && !listed && !everyInBlock {
            return "must use https:// (plain http:// only to a destination AUDITLOG_STREAM_ALLOW_HOSTS lists)"
        }
        return nil
    }

    /// The host's addresses as text; getaddrinfo blocks, so it runs off Swift's cooperative threads.
    static func resolve(_ host: String) async -> [String] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, nil, &hints, &result) == 0, let first = result else {
                    continuation.resume(returning: [])
                    return
                }
                defer { freeaddrinfo(first) }
                var addresses: [String] = []
                var cursor: UnsafeMutablePointer<addrinfo>? = first
                while let entry = cursor {
                    var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                    if getnameinfo(entry.pointee.ai_addr, entry.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0, NI_NUMERICHOST) == 0 {
                        addresses.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
                    }
                    cursor = entry.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }

    /// True for loopback, private, link-local, shared, multicast, reserved and unspecified addresses.
    static func isPrivate(_ address: String) -> Bool {
        if address.contains(":") {
            let lower = address.lowercased()
            if lower.hasPrefix("::ffff:"), lower.dropFirst(7).contains(".") { return isPrivate(String(lower.dropFirst(7))) }
            var bytes = [UInt8](repeating: 0, count: 16)
            guard inet_pton(AF_INET6, lower, &bytes) == 1 else { return true }
            if bytes == [UInt8](repeating: 0, count: 16) { return true }                        // ::
            if bytes.prefix(15).allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }         // ::1
            if bytes[0] & 0xFE == 0xFC { return true }                                          // fc00::/7
            if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return true }                      // fe80::/10
            if bytes[0] == 0xFF { return true }                                                 // multicast
            if bytes.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] {                 // ::ffff:a.b.c.d
                return isPrivate(bytes.suffix(4).map(String.init).joined(separator: "."))
            }
            return false
        }
        let parts = address.split(separator: ".").compactMap { UInt8($0) }
        guard parts.count == 4 else { return true }
        switch (parts[0], parts[1]) {
        case (0, _), (10, _), (127, _): return true
        case (100, 64...127): return true          // shared address space (CGNAT)
        case (169, 254): return true               // link-local (cloud metadata services)
        case (172, 16...31): return true
        case (192, 168): return true
        case (192, 0) where parts[2] == 0: return true
        case (198, 18...19): return true           // benchmarking
        case (224...255, _): return true           // multicast, reserved, broadcast
        default: return false
        }
    }
}
