import Crypto
import DLSMSCore
import DLSMSEngine
import Foundation
import Synchronization

/// Accounts from a campus identity (OpenID Connect, LDAP, an SSO proxy), sign-out, and the
/// one-time codes that carry a browser sign-in to the web app.
extension LibraryService {
    /// The account of `identity`: created at the first sign-in (a student, or staff when the
    /// identity is in the staff group), refreshed (name, email, groups, role) when the source says
    /// something new, refused when DL-SMS disabled it.
    ///
    /// An identity never takes over a local account that has a password of ours while local
    /// sign-in still lets it in (`account_conflict`); a local student account whose password no
    /// longer signs in (local sign-in `staff` or `off`) becomes the identity's. A local staff
    /// account with a password is never taken over.
    public func account(for identity: ExternalIdentity) async throws -> User {
        do {
            try BookingRules.validateStudentID(identity.studentID)
        } catch {
            throw AppError(
                .forbidden, "identity_not_usable",
                "the campus identity's user name is not a valid student id here (1-64 letters, digits, '-', '_' or '.')"
            )
        }
        let settings = configuration.identity
        let groups = identity.accountGroups
        let staff = settings.staffGroup.map { groups.contains($0) } ?? false
        guard let existing = engine.user(studentID: identity.studentID) else {
            let result: Result<User, EngineError>
            do {
                result = .success(
                    try await engine.register(
                        studentID: identity.studentID, name: identity.accountName, passwordHash: "",
                        role: staff ? .admin : .student
                    ) { user in
                        user.source = identity.source
                        user.email = identity.accountEmail
                        user.groups = groups
                    })
            } catch {
                result = .failure(error)
            }
            if case .failure(.duplicateUser) = result {
                return try await account(for: identity)  // created by a sign-in at the same moment
            }
            return try result.get()
        }
        if existing.disabled {
            throw AppError(.forbidden, "account_disabled", "this account is disabled; ask the library staff")
        }
        // A local staff account is never taken over (with or without a password); a local
        // student's only once its password no longer signs it in.
        let local = existing.source == .local
        if local
            && (existing.role == .admin
                || !existing.passwordHash.isEmpty && settings.allowsLocalPassword(for: existing))
        {
            throw AppError(
                .conflict, "account_conflict",
                "an account with this student id signs in with a DL-SMS password; ask the library staff")
        }
        var wanted = existing
        wanted.source = identity.source
        wanted.passwordHash = ""
        wanted.name = identity.accountName
        wanted.email = identity.accountEmail
        wanted.groups = groups
        if settings.staffGroup != nil { wanted.role = staff ? .admin : .student }
        guard wanted != existing else { return existing }
        let becomesCampus = existing.source != identity.source
        return try await engine.updateUser(id: existing.id) { user in
            guard !user.disabled else { return }
            // An account that changes hands (a local account adopted, another source) ends every
            // token issued before: whoever held the local account's sessions holds nothing now.
            if becomesCampus { user.tokenGeneration &+= 1 }
            user.source = wanted.source
            user.passwordHash = ""
            user.name = wanted.name
            user.email = wanted.email
            user.groups = wanted.groups
            user.role = wanted.role
        }
    }

    /// Signs one token out on every node (a replicated revocation entry); when the account
    /// already has the most signed-out tokens kept for it, all its sessions end instead.
    public func signOut(token: String, caller: Caller) async throws {
        let revocation = SessionRevocation(
            userID: caller.userID, digest: Self.revocationDigest(token), expiresAt: caller.expiresAt)
        if try await engine.revokeSession(revocation) {
            // A live stream opened with this token ends too (streams are the account's, not the
            // token's: the account's other sessions reconnect with their own tokens).
            engine.notifications.finishStreams(of: caller.userID)
            return
        }
        _ = try await engine.updateUser(id: caller.userID) { $0.tokenGeneration &+= 1 }
    }

    /// Whether a verified token was signed out.
    func isSignedOut(_ token: String) -> Bool {
        guard engine.hasRevokedSessions else { return false }
        return engine.isRevoked(Self.revocationDigest(token))
    }

    /// How a revocation names a token: the first bytes of the SHA-256 of its text.
    private static func revocationDigest(_ token: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(token.utf8)).prefix(SessionRevocation.digestBytes))
    }
}

/// One-time codes that carry a sign-in made in the browser (OpenID Connect callback, SSO proxy)
/// to the web app: the redirect puts the code, never the token, in the address; the web app
/// exchanges it once, within ``lifetime`` seconds, for a token (`POST /auth/handoff`).
public final class SignInHandoff: Sendable {
    public static let lifetime: Timestamp = 120
    private let codes = Mutex<[String: (user: UserID, expires: Timestamp, browser: [UInt8])]>([:])
    private let capacity: Int

    public init(capacity: Int = 10_000) { self.capacity = capacity }

    /// A new code for `user`, redeemable only with `browser` (the value of the browser's binding
    /// cookie: a code carried to another browser signs nobody in there); `nil` when too many are
    /// waiting (a flood of sign-ins not redeemed).
    public func issue(for user: UserID, browser: String, now: Timestamp) -> String? {
        let code = Base64URL.encode(Base64URL.random(32))
        let bound = OIDCRelyingParty.digest(browser)
        return codes.withLock { c in
            if c.count >= capacity { c = c.filter { $0.value.expires > now } }
            guard c.count < capacity else { return nil }
            c[code] = (user, now + Self.lifetime, bound)
            return code
        }
    }

    /// The account a code was issued for, once, from the browser it was issued to; `nil` for an
    /// unknown, used or expired code, or another browser (the code is spent either way).
    public func redeem(_ code: String, browser: String?, now: Timestamp) -> UserID? {
        guard code.utf8.count <= 128, let entry = codes.withLock({ $0.removeValue(forKey: code) }),
            let browser, Bcrypt.constantTimeEquals(OIDCRelyingParty.digest(browser), entry.browser)
        else { return nil }
        return entry.expires > now ? entry.user : nil
    }
}
