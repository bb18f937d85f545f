import DLSMSCore
import DLSMSEngine
import Foundation
import JWTKit
import Synchronization

/// The claims of a DL-SMS token: `sub` (user id), `student_id`, `role`, `iat`, `exp`.
struct TokenClaims: JWTPayload, Equatable {
    var sub: SubjectClaim
    var studentID: String
    var role: String
    var iat: IssuedAtClaim
    var exp: ExpirationClaim

    enum CodingKeys: String, CodingKey {
        case sub, role, iat, exp
        case studentID = "student_id"
    }

    /// jwt-kit checks the signature; expiry is checked by ``TokenService/verify(_:now:)`` against
    /// the engine's clock (the real one, or the one a test injects).
    func verify(using algorithm: some JWTAlgorithm) throws {}
}

/// Who a valid token says the caller is.
public struct Caller: Sendable, Hashable {
    public var userID: UserID
    public var studentID: String
    public var isAdmin: Bool

    var requester: Requester { Requester(userID: userID, isAdmin: isAdmin) }
}

/// Issues and checks HS256 tokens with jwt-kit.
///
/// jwt-kit's key collection is an actor; to keep it off the path of every request, tokens that
/// verified are cached (by their exact text, at most ``cacheLimit``) with their expiry, which is
/// checked again on every use. A token of another algorithm (`none`, RS256, …) never verifies:
/// only the HS256 key is registered.
public final class TokenService: Sendable {
    public let lifetime: Int64
    private let keys: JWTKeyCollection
    private let cache = Mutex<[String: (Caller, Timestamp)]>([:])
    static let cacheLimit = 100_000

    public init(secret: [UInt8], lifetimeSeconds: Int64) async {
        lifetime = lifetimeSeconds
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    /// A token for `user`, valid from `now` for ``lifetime`` seconds.
    public func issue(for user: User, now: Timestamp) async throws -> (token: String, expiresAt: Timestamp) {
        let exp = now + lifetime
        let claims = TokenClaims(
            sub: SubjectClaim(value: String(user.id)), studentID: user.studentID, role: user.role.name,
            iat: IssuedAtClaim(value: Date(timeIntervalSince1970: TimeInterval(now))),
            exp: ExpirationClaim(value: Date(timeIntervalSince1970: TimeInterval(exp))))
        return (try await keys.sign(claims), exp)
    }

    /// The caller a token names, or `nil` if it is malformed, forged, of another algorithm, or expired.
    public func verify(_ token: String, now: Timestamp) async -> Caller? {
        if let (caller, exp) = cache.withLock({ $0[token] }) {
            return now < exp ? caller : nil
        }
        guard token.utf8.count <= 4_096, let claims = try? await keys.verify(token, as: TokenClaims.self),
            let id = UserID(claims.sub.value)
        else { return nil }
        let exp = Timestamp(claims.exp.value.timeIntervalSince1970)
        guard now < exp else { return nil }
        let caller = Caller(userID: id, studentID: claims.studentID, isAdmin: claims.role == Role.admin.name)
        cache.withLock { c in
            if c.count >= Self.cacheLimit { c.removeAll(keepingCapacity: true) }
            c[token] = (caller, exp)
        }
        return caller
    }

    /// The secret from `JWT_SECRET`, or the one kept in the data directory, or a new random one
    /// written there with mode 0600. There is no built-in default secret.
    public static func loadSecret(configured: String?, dataDirectory: String) throws -> [UInt8] {
        if let configured, !configured.isEmpty { return Array(configured.utf8) }
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

/// Failed logins per key (student id, client address) in a fixed one-minute window.
public final class LoginLimiter: Sendable {
    private let entries = Mutex<[String: (count: Int, windowStart: Timestamp)]>([:])
    public let window: Int64 = 60

    public init() {}

    /// Seconds until `key` may try again, or `nil` if it may now.
    public func retryAfter(_ key: String, limit: Int, now: Timestamp) -> Int64? {
        entries.withLock { e in
            guard let entry = e[key], now - entry.windowStart < window, entry.count >= limit else { return nil }
            return entry.windowStart + window - now
        }
    }

    public func recordFailure(_ key: String, now: Timestamp) {
        entries.withLock { e in
            if e.count > 100_000 { e = e.filter { now - $0.value.windowStart < window } }
            if let entry = e[key], now - entry.windowStart < window {
                e[key] = (entry.count + 1, entry.windowStart)
            } else {
                e[key] = (1, now)
            }
        }
    }

    public func reset(_ key: String) { _ = entries.withLock { $0.removeValue(forKey: key) } }
}
