import DLSMSCore
import DLSMSEngine
import Foundation
import HTTPTypes

/// The proxies whose forwarding header is believed: addresses or CIDR ranges, IPv4 or IPv6
/// (`127.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`).
///
/// With none configured (the default), the client is the socket's peer and forwarding headers
/// are ignored: anyone can send them. With some, a request whose peer is trusted is attributed to
/// the nearest address in its forwarding chain that is not itself trusted. Only one header is
/// read, the one the proxy writes (`X-Forwarded-For` by default, as nginx's
/// `$proxy_add_x_forwarded_for` appends to it): a header the proxy passes through untouched would
/// let the client choose its own address.
public struct TrustedProxies: Sendable, Hashable {
    /// The forwarding header the proxy maintains.
    public enum Header: String, Sendable, Hashable {
        case xForwardedFor = "x-forwarded-for"
        case forwarded
    }

    public var header: Header = .xForwardedFor

    package struct Range: Sendable, Hashable {
        var bytes: [UInt8]
        var prefix: Int

        func contains(_ address: [UInt8]) -> Bool {
            guard address.count == bytes.count else { return false }
            var bits = prefix
            for i in bytes.indices where bits > 0 {
                let mask: UInt8 = bits >= 8 ? 0xFF : ~(0xFF >> UInt8(bits))
                if address[i] & mask != bytes[i] & mask { return false }
                bits -= 8
            }
            return true
        }
    }

    package var ranges: [Range] = []

    public init() {}

    /// Parses a comma-separated list; throws naming the first entry that is not an address or range.
    public init(parsing text: String) throws(ConfigurationError) {
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            let parts = item.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let bytes = Self.parse(parts[0]) else {
                throw ConfigurationError("trusted proxy '\(item)' is not an IP address or CIDR range")
            }
            var prefix = bytes.count * 8
            if parts.count == 2 {
                // Digits only, and not /0: "trust every address" is never what an operator means.
                guard parts[1].allSatisfy(\.isASCII), parts[1].allSatisfy(\.isNumber), let p = Int(parts[1]),
                    (1...bytes.count * 8).contains(p)
                else {
                    throw ConfigurationError(
                        "trusted proxy '\(item)' needs a prefix length of 1…\(bytes.count * 8)")
                }
                prefix = p
            }
            ranges.append(Range(bytes: bytes, prefix: prefix))
        }
    }

    public var isEmpty: Bool { ranges.isEmpty }

    public func trusts(_ address: String) -> Bool {
        guard !ranges.isEmpty, let bytes = Self.parse(address) else { return false }
        return ranges.contains { $0.contains(bytes) }
    }

    /// The client of a request that arrived from `peer` with `headers`.
    public func client(peer: String, headers: HTTPFields) -> String {
        guard trusts(peer) else { return peer }
        var chain: [String] = []
        if header == .forwarded, let forwarded = headers[.init("Forwarded")!] {
            // RFC 7239: `for=1.2.3.4;proto=https, for="[2001:db8::1]:4711"`
            for element in forwarded.split(separator: ",") {
                for pair in element.split(separator: ";") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    guard kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces).lowercased() == "for" else {
                        continue
                    }
                    chain.append(Self.strip(String(kv[1])))
                }
            }
        } else if header == .xForwardedFor, let xff = headers[.init("X-Forwarded-For")!] {
            chain = xff.split(separator: ",").map { Self.strip(String($0)) }
        }
        // From the nearest hop outwards: the first address we do not trust is the client.
        for hop in chain.reversed() {
            guard Self.parse(hop) != nil else { return peer }  // garbage: do not guess
            if !trusts(hop) { return hop }
        }
        return chain.first.flatMap { Self.parse($0) != nil ? $0 : nil } ?? peer
    }

    /// `"[2001:db8::1]:4711"` → `2001:db8::1`, `1.2.3.4:80` → `1.2.3.4`.
    package static func strip(_ raw: String) -> String {
        var s = raw.trimmingCharacters(in: .whitespaces)
        if s.hasPrefix("\""), s.hasSuffix("\""), s.count >= 2 { s = String(s.dropFirst().dropLast()) }
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") {
            return String(s[s.index(after: s.startIndex)..<close])
        }
        if s.filter({ $0 == ":" }).count == 1, let colon = s.firstIndex(of: ":") { return String(s[..<colon]) }
        return s
    }

    /// The key a client is counted under: IPv4 as dotted quad (an IPv4-mapped IPv6 address too),
    /// IPv6 by its /64 (one subscriber's network: rotating addresses inside it gains nothing),
    /// each in one canonical spelling; anything else as it is.
    public static func key(_ address: String) -> String {
        guard var bytes = parse(address) else { return address }
        if bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            bytes = Array(bytes[12...])
        }
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var prefix = in6_addr()
        withUnsafeMutableBytes(of: &prefix) { raw in
            for i in 0..<8 { raw[i] = bytes[i] }
        }
        guard inet_ntop(AF_INET6, &prefix, &text, socklen_t(text.count)) != nil else { return address }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) + "/64"
    }

    package static func parse(_ text: String) -> [UInt8]? {
        guard text.utf8.count <= 64 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }
}

/// A setting that cannot be used, with a message for the operator.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
