import DLSMSCore
import DLSMSEngine
import Foundation

/// The tokens that travel in URLs (calendar feeds, seat codes, generated webhook secrets):
/// base64url without padding (RFC 4648 §5), ids in them big-endian.
package enum Base64URL {
    package static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Canonical base64url without padding of exactly `count` bytes; `nil` for anything else
    /// (the unused low bits of the last character must be zero: one spelling per token).
    package static func decode(_ text: String, count: Int) -> [UInt8]? {
        guard text.utf8.count == (count * 8 + 5) / 6,
            text.utf8.allSatisfy({
                $0 == 0x2D || $0 == 0x5F || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0)
                    || (0x61...0x7A).contains($0)
            })
        else { return nil }
        var padded = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while padded.utf8.count % 4 != 0 { padded += "=" }
        guard let data = Data(base64Encoded: padded), data.count == count else { return nil }
        let bytes = [UInt8](data)
        return encode(bytes) == text ? bytes : nil
    }

    /// Canonical base64url of any length up to `limit` bytes.
    package static func decode(_ text: String, limit: Int) -> [UInt8]? {
        let count = text.utf8.count * 6 / 8
        guard count <= limit else { return nil }
        return decode(text, count: count)
    }

    /// `n` bytes from the system's secure generator.
    package static func random(_ n: Int) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    /// A 32-bit value as 4 bytes, big-endian.
    package static func bytes(_ value: UInt32) -> [UInt8] { withUnsafeBytes(of: value.bigEndian) { Array($0) } }

    /// The 32-bit value of the first 4 bytes, big-endian.
    package static func uint32(_ b: [UInt8]) -> UInt32 {
        UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    }
}
