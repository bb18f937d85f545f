import DLSMSCore
import DLSMSEngine
import Foundation
import JWTKit
import Synchronization

/// The claims of a DL-SMS token: `sub` (user id), `student_id`, `role`, `gen` (the account's
/// token generation; absent in tokens of earlier versions, which means 0), `iat`, `exp`, and
/// `jti` (random: two sign-ins in the same second get different tokens, so signing one out
/// leaves the other; absent in tokens of earlier versions).
package struct TokenClaims: JWTPayload, Equatable {
    package var sub: SubjectClaim
    package var studentID: String
    package var role: String
    package var gen: UInt32?
    package var iat: IssuedAtClaim
    package var exp: ExpirationClaim
    package var jti: String?

    package enum CodingKeys: String, CodingKey {
        case sub, role, iat, exp, gen, jti
        case studentID = "student_id"
    }

    /// jwt-kit checks the signature; expiry is checked by ``TokenService/verify(_:now:)`` against
    /// the engine's clock (the real one, or the one a test injects).
    package func verify(using algorithm: some JWTAlgorithm) throws {}
}

/// Who a valid token says the caller is.
public struct Caller: Sendable, Hashable {
    public var userID: UserID
    public var studentID: String
    public var isAdmin: Bool
    /// The account's token generation when the token was issued.
    public var generation: UInt32
    /// When the token expires.
    public var expiresAt: Timestamp = 0

    /// `true` when the stored account still is what the token says: same student id and role,
    /// enabled, and no password change or "revoke sessions" since the token was issued.
    public func matches(_ user: User) -> Bool {
        user.id == userID && user.studentID == studentID && (user.role == .admin) == isAdmin && !user.disabled
            && user.tokenGeneration == generation
    }

    package var requester: Requester { Requester(userID: userID, isAdmin: isAdmin) }
}

/// Issues and checks HS256 tokens with jwt-kit.
///
/// jwt-kit's key collection is an actor; to keep it off the path of every request, tokens that
/// verified are cached (by their exact text, at most `cacheLimit`) with their expiry, which is
/// checked again on every use. A token of another algorithm (`none`, RS256, …) never verifies:
/// only the HS256 key is registered.
public final class TokenService: Sendable {
    public let lifetime: Int64
    private let keys: JWTKeyCollection
    private let cache = Mutex<[String: (Caller, Timestamp)]>([:])
    package let cacheLimit: Int

    public init(secret: [UInt8], lifetimeSeconds: Int64, cacheLimit: Int = Limits().tokenCache) async {
        lifetime = lifetimeSeconds
        self.cacheLimit = cacheLimit
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    /// A token for `user`, valid from `now` for ``lifetime`` seconds.
    public func issue(for user: User, now: Timestamp) async throws -> (token: String, expiresAt: Timestamp) {
        let exp = now + lifetime
        let claims = TokenClaims(
            sub: SubjectClaim(value: String(user.id)), studentID: user.studentID, role: user.role.name,
            gen: user.tokenGeneration, iat: IssuedAtClaim(value: Date(timeIntervalSince1970: TimeInterval(now))),
            exp: ExpirationClaim(value: Date(timeIntervalSince1970: TimeInterval(exp))),
            jti: Base64URL.encode(Base64URL.random(12)))
        return (try await keys.sign(claims), exp)
    }

    /// The caller a token names, or `nil` if it is malformed (including base64url that is not
    /// canonical), forged, of another algorithm, expired, or has a claim out of range.
    public func verify(_ token: String, now: Timestamp) async -> Caller? {
        if let (caller, exp) = cache.withLock({ $0[token] }) {
            return now < exp ? caller : nil
        }
        guard Self.isCanonicalCompactJWS(token), Self.headerIsHS256(token),
            let claims = try? await keys.verify(token, as: TokenClaims.self),
            let id = UserID(claims.sub.value), id > 0, String(id) == claims.sub.value,
            claims.role == Role.admin.name || claims.role == Role.student.name,
            let exp = Self.timestamp(claims.exp.value), let iat = Self.timestamp(claims.iat.value)
        else { return nil }
        // Expired, or issued in the future (beyond a little clock skew): refused.
        guard now < exp, iat <= now + 300 else { return nil }
        let caller = Caller(
            userID: id, studentID: claims.studentID, isAdmin: claims.role == Role.admin.name,
            generation: claims.gen ?? 0, expiresAt: exp)
        cache.withLock { c in
            if c.count >= cacheLimit { c.removeAll(keepingCapacity: true) }
            c[token] = (caller, exp)
        }
        return caller
    }

    /// A date claim as whole seconds, or `nil` when it is not finite or out of any sensible range
    /// (a signed token with `exp` 2^63 or 1e300 must be refused, not trap).
    package static func timestamp(_ date: Date) -> Timestamp? {
        let t = date.timeIntervalSince1970
        guard t.isFinite, t > -1e12, t < 1e12 else { return nil }
        return Timestamp(t)
    }

    /// The header names HS256 (jwt-kit would check the signature with the HS256 key whatever the
    /// header says; a token that claims another algorithm is refused outright).
    package static func headerIsHS256(_ token: String) -> Bool {
        guard let first = token.split(separator: ".", maxSplits: 1).first else { return false }
        var text = first.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text),
            let header = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        else { return false }
        return header["alg"] as? String == "HS256" && (header["typ"] == nil || header["typ"] as? String == "JWT")
    }

    /// `header.payload.signature`, each part non-empty canonical base64url: only `A–Z a–z 0–9 - _`,
    /// no padding, no length that cannot be base64, and zero bits after the last byte.
    package static func isCanonicalCompactJWS(_ token: String) -> Bool {
        guard token.utf8.count <= 4_096 else { return false }
        var parts = 0
        var length = 0
        var last: UInt8 = 0
        func partEnds() -> Bool {
            parts += 1
            guard length > 0, length % 4 != 1 else { return false }
            let value = sextet(last)
            switch length % 4 {
            case 2: return value & 0x0F == 0
            case 3: return value & 0x03 == 0
            default: return true
            }
        }
        for b in token.utf8 {
            if b == UInt8(ascii: ".") {
                guard partEnds() else { return false }
                length = 0
                continue
            }
            guard sextet(b) != 0xFF else { return false }
            length += 1
            last = b
        }
        return partEnds() && parts == 3
    }

    private static func sextet(_ b: UInt8) -> UInt8 {
        switch b {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return b - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return b - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0") + 52
        case UInt8(ascii: "-"): return 62
        case UInt8(ascii: "_"): return 63
        default: return 0xFF
        }
    }

    /// The shortest secret accepted: HS256's key should have at least as many bytes as its output.
    public static let minimumSecretBytes = 32

    /// The secret from `JWT_SECRET`, or the one kept in the data directory, or a new random one
    /// written there with mode 0600. There is no built-in default secret; one shorter than
    /// ``minimumSecretBytes`` is refused.
    /// Writes `secret` as the data directory's token secret (a standby copies its primary's).
    package static func storeSecret(_ secret: [UInt8], dataDirectory: String) throws {
        let path = dataDirectory + "/jwt-secret"
        try? FileManager.default.removeItem(atPath: path)
        guard
            FileManager.default.createFile(atPath: path, contents: Data(secret), attributes: [.posixPermissions: 0o600])
        else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
    }

    public static func loadSecret(configured: String?, dataDirectory: String) throws -> [UInt8] {
        if let configured, !configured.isEmpty {
            guard configured.utf8.count >= minimumSecretBytes else {
                throw ConfigurationError(
                    "JWT_SECRET must be at least \(minimumSecretBytes) bytes (it has \(configured.utf8.count))")
            }
            return Array(configured.utf8)
        }
        let path = dataDirectory + "/jwt-secret"
        if let existing = FileManager.default.contents(atPath: path), existing.count >= 32 { return Array(existing) }
        var secret = [UInt8](repeating: 0, count: 64)
        var rng = SystemRandomNumberGenerator()
        for i in secret.indices { secret[i] = UInt8.random(in: 0...255, using: &rng) }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        guard
            FileManager.default.createFile(atPath: path, contents: Data(secret), attributes: [.posixPermissions: 0o600])
        else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        return secret
    }
}
