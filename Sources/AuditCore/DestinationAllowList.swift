#if canImport(Glibc)
import Glibc
#endif

/// `AUDITLOG_STREAM_ALLOW_HOSTS`: destinations a stream may reach although they are loopback or
/// private, and over plain `http://` (a SIEM inside your own network; tests name `127.0.0.1`).
///
/// Entries are separated by commas or spaces: a host name or IP address, optionally with a port
/// (`hooks.internal:8088`, `127.0.0.1`, `[::1]:9000`), or a CIDR block (`10.20.0.0/16`,
/// `fd12::/64`). Link-local and cloud metadata addresses (169.254.0.0/16, fe80::/10,
/// fd00:ec2::254) can never be allowed: an entry naming one is refused, and an address in them
/// is refused whatever the list says.
public struct DestinationAllowList: Sendable, Equatable {
    public struct HostEntry: Sendable, Equatable {
        public var host: String
        public var port: Int?
    }

    public struct Block: Sendable, Equatable {
        /// 4 or 16 bytes.
        public var network: [UInt8]
        public var prefix: Int

        public func contains(_ address: [UInt8]) -> Bool {
            guard address.count == network.count else { return false }
            var remaining = prefix
            for (a, n) in zip(address, network) {
                if remaining <= 0 { return true }
                let bits = min(8, remaining)
                let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
                if a & mask != n & mask { return false }
                remaining -= bits
            }
            return true
        }
    }

    public var hosts: [HostEntry] = []
    public var blocks: [Block] = []

    public init() {}

    public var isEmpty: Bool { hosts.isEmpty && blocks.isEmpty }

    /// Parses the variable's text; throws a sentence naming the entry it cannot use.
    public static func parse(_ text: String) throws(DestinationAllowListError) -> DestinationAllowList {
        var list = DestinationAllowList()
        for raw in text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\n" || $0 == "\t" }) {
            let entry = String(raw)
            if let slash = entry.firstIndex(of: "/") {
                guard let bytes = Self.address(String(entry[..<slash])), let prefix = Int(entry[entry.index(after: slash)...]),
                      (0...(bytes.count * 8)).contains(prefix) else {
                    throw DestinationAllowListError(message: "'\(entry)' is not a CIDR block such as 10.0.0.0/8 or fd00::/8")
                }
                let block = Block(network: bytes, prefix: prefix)
                if Self.neverAllowedBlocks.contains(where: { $0.network.count == bytes.count && (block.contains($0.network) || $0.contains(bytes)) }) {
                    throw DestinationAllowListError(message: "'\(entry)' overlaps link-local or metadata addresses, which streams never reach")
                }
                list.blocks.append(block)
                continue
            }
            var host = entry
            var port: Int?
            if entry.hasPrefix("[") {
                guard let close = entry.firstIndex(of: "]") else { throw DestinationAllowListError(message: "'\(entry)' has no closing ]") }
                host = String(entry[entry.index(after: entry.startIndex)..<close])
                let rest = entry[entry.index(after: close)...]
                if !rest.isEmpty {
                    guard rest.hasPrefix(":"), let number = Int(rest.dropFirst()) else {
                        throw DestinationAllowListError(message: "'\(entry)' must be [address] or [address]:port")
                    }
                    port = number
                }
            } else if entry.filter({ $0 == ":" }).count == 1, let colon = entry.firstIndex(of: ":") {
                host = String(entry[..<colon])
                guard let number = Int(entry[entry.index(after: colon)...]) else {
                    throw DestinationAllowListError(message: "'\(entry)' must be host or host:port")
                }
                port = number
            }
            if let port, !(1...65535).contains(port) { throw DestinationAllowListError(message: "'\(entry)' has a port outside 1-65535") }
            let validName = !host.isEmpty && host.count <= 253
                && host.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "." || $0 == "-" || $0 == ":") }
            guard validName else { throw DestinationAllowListError(message: "'\(entry)' is not a host name, address or CIDR block") }
            if let bytes = Self.address(host), Self.isNeverAllowed(bytes) {
                throw DestinationAllowListError(message: "'\(entry)' is a link-local or metadata address, which streams never reach")
            }
            list.hosts.append(HostEntry(host: host.lowercased(), port: port))
        }
        return list
    }

    /// True when `host` (as the URL names it, without brackets) on `port` is listed by name or address.
    public func allowsHost(_ host: String, port: Int) -> Bool {
        let lower = host.lowercased()
        let bytes = Self.address(lower)
        return hosts.contains { entry in
            guard entry.port == nil || entry.port == port else { return false }
            if entry.host == lower { return true }
            if let bytes, let listed = Self.address(entry.host) { return bytes == listed }
            return false
        }
    }

    /// True when the resolved `address` lies in a listed block.
    public func allowsAddress(_ address: [UInt8]) -> Bool {
        blocks.contains { $0.contains(address) }
    }

    /// The bytes of an IPv4 or IPv6 address in text (an IPv4-mapped IPv6 address as its IPv4 bytes).
    public static func address(_ text: String) -> [UInt8]? {
        var four = [UInt8](repeating: 0, count: 4)
        if inet_pton(AF_INET, text, &four) == 1 { return four }
        var sixteen = [UInt8](repeating: 0, count: 16)
        guard inet_pton(AF_INET6, text, &sixteen) == 1 else { return nil }
        if sixteen.prefix(12) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] { return Array(sixteen.suffix(4)) }
        return sixteen
    }

    /// 169.254.0.0/16, fe80::/10 and fd00:ec2::254 (the IPv6 address of a cloud's metadata service).
    static let neverAllowedBlocks: [Block] = [
        Block(network: [169, 254, 0, 0], prefix: 16),
        Block(network: [0xFE, 0x80] + [UInt8](repeating: 0, count: 14), prefix: 10),
        Block(network: [0xFD, 0, 0x0E, 0xC2] + [UInt8](repeating: 0, count: 10) + [0x02, 0x54], prefix: 128),
    ]

    /// Link-local or metadata: refused whatever the list says.
    public static func isNeverAllowed(_ address: [UInt8]) -> Bool {
        neverAllowedBlocks.contains { $0.contains(address) }
    }
}

public struct DestinationAllowListError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { "AUDITLOG_STREAM_ALLOW_HOSTS: \(message)" }
}
