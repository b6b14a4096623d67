import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Checks, before `serve` starts anything, that it can listen where it was told: a port in use or
/// an address this machine does not have is an exit 1 naming the address, not a database started,
/// migrated and left behind by a server that never listened.
enum ListenAddress {
    /// Nil when `host:port` can be bound now; otherwise the reason, in the operator's words.
    static func problem(host: String, port: Int) -> String? {
        guard (0...65535).contains(port) else { return "port \(port) is not a TCP port (0-65535)" }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var found: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &found)
        guard resolved == 0, let first = found else {
            return "\(host) is not an address of this machine (\(String(cString: gai_strerror(resolved))))"
        }
        defer { freeaddrinfo(first) }
        var lastError: Int32 = 0
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            if fd >= 0 {
                var yes: Int32 = 1
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
                let bound = bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 && listen(fd, 1) == 0
                lastError = errno
                close(fd)
                if bound { return nil }
            } else {
                lastError = errno
            }
            entry = info.pointee.ai_next
        }
        return String(cString: strerror(lastError))
    }
}
