import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// HTTP/1.1 as bytes over a plain TCP socket, for what a client library would never send:
/// malformed chunks, bodies cut short, a client that leaves mid-request.
public final class RawHTTP: @unchecked Sendable {
    // @unchecked: one test task uses a connection at a time.
    private let socket: Int32

    public init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw ObservationError(message: "cannot connect to 127.0.0.1:\(port)") }
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(socket) }

    /// Sends `bytes`; returns false when the server closed the connection while we were sending.
    @discardableResult
    public func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    public func send(_ text: String) { send(Array(text.utf8)) }

    /// Says we will send nothing more (TCP half-close), as a client that gave up does.
    public func finishSending() { shutdown(socket, Int32(SHUT_WR)) }

    /// Everything the server sends until it closes the connection (or 30 s pass: nil).
    public func readUntilClosed() -> String? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count == 0 { return String(decoding: received, as: UTF8.self) }
            if count < 0 { return errno == ECONNRESET ? String(decoding: received, as: UTF8.self) : nil }
            received += buffer[..<count]
        }
    }

    /// One response whose body has a `Content-Length` (keep-alive goes on), or nil.
    public func readResponse() -> String? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            if let end = received.firstRange(of: Array("\r\n\r\n".utf8)) {
                let length = String(decoding: received[..<end.lowerBound], as: UTF8.self).lowercased()
                    .split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) }
                if let length, received.count - end.upperBound >= length { return String(decoding: received, as: UTF8.self) }
            }
            let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return nil }
            received += buffer[..<count]
        }
    }

    /// Closes the socket at once (a client that went away).
    public func abandon() { shutdown(socket, Int32(SHUT_RDWR)) }
}
