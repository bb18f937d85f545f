import Crypto
import DLSMSCore
import DLSMSEngine
import Foundation

/// The seats' check-in codes. A code is 16 bytes in base64url (22 characters): the seat id and
/// the first 12 bytes of an HMAC-SHA256, over the seat id and its branch's code generation, with
/// a key derived from the server's token secret. So codes cannot be guessed or forged, one seat's
/// code is no other's, and raising the branch's generation (rotation) voids every printed code
/// of the branch. Changing the token secret voids them all.
public struct SeatCodes: Sendable {
    package let key: SymmetricKey
    package static let macBytes = 12

    package init(secret: [UInt8]) {
        let base = secret.isEmpty ? SymmetricKey(size: .bits256) : SymmetricKey(data: secret)
        key = SymmetricKey(
            data: Array(HMAC<SHA256>.authenticationCode(for: Array("dl-sms seat codes v1".utf8), using: base)))
    }

    package func mac(seat: SeatID, generation: UInt32) -> [UInt8] {
        let message = Base64URL.bytes(UInt32(bitPattern: seat)) + Base64URL.bytes(generation)
        return Array(HMAC<SHA256>.authenticationCode(for: message, using: key).prefix(Self.macBytes))
    }

    package func code(seat: SeatID, generation: UInt32) -> String {
        Base64URL.encode(Base64URL.bytes(UInt32(bitPattern: seat)) + mac(seat: seat, generation: generation))
    }

    /// The seat a code names, if it is a well-formed code (not yet checked against the seat).
    package static func seat(in code: String) -> (SeatID, [UInt8])? {
        guard let bytes = Base64URL.decode(code, count: 4 + macBytes) else { return nil }
        return (SeatID(bitPattern: Base64URL.uint32(bytes)), Array(bytes[4...]))
    }

    /// `true` when `code` is the current code of its seat.
    package func verify(_ mac: [UInt8], seat: SeatID, generation: UInt32) -> Bool {
        Bcrypt.constantTimeEquals(mac, self.mac(seat: seat, generation: generation))
    }
}
