import DLSMSCore
import DLSMSEngine

/// Accounts: self-registration, password checks under the login limits, and tokens (REST and
/// gRPC alike).
///
/// Every password check or hash is guarded before it runs:
/// - login reserves an attempt under the student id (5 a minute) and the client address (20 a
///   minute) first, so concurrent guesses count at once; a success clears the student's count;
/// - registration reserves one under the client address (10 an hour), and a duplicate student id
///   is only found after the hash, so it answers no faster than a real registration;
/// - the hash queue gives each client address a small share (``PasswordHasher``).
extension LibraryService {
    /// A new student account (self-registration, REST and gRPC): the rules of the id, name and
    /// password first, then the per-address limit, then the hash; a duplicate id is only found after
    /// the hash, so it answers no faster than a real registration.
    public func register(studentID: String, password: String, name: String?, client: String) async throws -> User {
        guard configuration.selfRegistration else { throw AppError.registrationClosed }
        try BookingRules.validateStudentID(studentID)
        try Self.validateNewPassword(password, rules: engine.rules)
        let name = name ?? studentID
        try BookingRules.validateName(name)
        let now = engine.clock.now()
        let key = "reg:" + client
        if let wait = registrationLimiter.reserve(
            [(key, configuration.limits.registrationsPerAddressPerHour)], now: now)
        {
            throw AppError(
                .rateLimited, "rate_limited", "too many registrations from this address; try again later",
                retryAfter: wait)
        }
        let hash: String
        do {
            hash = try await hasher.hash(password, client: client)
        } catch {
            registrationLimiter.release(key, now: now)
            throw error
        }
        return try await engine.register(studentID: studentID, name: name, passwordHash: hash)
    }

    /// The account whose password this is, under the login limits; 401 (the same answer for an
    /// unknown student, a wrong password and a disabled account) or 429.
    public func checkPassword(_ password: String, studentID: String, client: String) async throws -> User {
        let limiter = loginLimiter
        let limits = configuration.limits
        let now = engine.clock.now()
        let addressKey = "ip:" + client
        var keys = [(key: addressKey, limit: limits.loginFailuresPerAddress)]
        // Only a student id that could exist gets a key: the table is not for arbitrary strings.
        let validID = (try? BookingRules.validateStudentID(studentID)) != nil
        let idKey = "id:" + studentID
        if validID { keys.insert((idKey, limits.loginFailuresPerStudent), at: 0) }
        let suspect = limiter.count(addressKey, now: now) > 0
        if let wait = limiter.reserve(keys, now: now) {
            throw AppError(.rateLimited, "rate_limited", "too many failed logins; try again later", retryAfter: wait)
        }
        let user = validID ? engine.user(studentID: studentID) : nil
        let matches: Bool
        do {
            matches = try await hasher.verify(
                password, hash: user?.passwordHash, client: client, suspect: suspect)
        } catch {
            for (key, _) in keys { limiter.release(key, now: now) }  // not evaluated: not a failure
            throw error
        }
        // A failure keeps its reserved attempts: they are the failure count.
        guard matches, let user, !user.disabled else {
            throw AppError.invalidCredentials
        }
        limiter.reset(idKey)
        limiter.release(addressKey, now: now)
        return user
    }

    public static func validateNewPassword(_ password: String, rules: BookingRules) throws(AppError) {
        guard password.count >= rules.minPasswordLength else { throw AppError(EngineError.weakPassword) }
        guard password.utf8.count <= 72, !password.utf8.contains(0) else {
            throw AppError.badRequest("the password must be at most 72 bytes, without NUL")
        }
    }

    /// A token for `user`, and when it expires.
    public func issueToken(for user: User) async throws -> (token: String, expiresAt: Timestamp) {
        try await tokens.issue(for: user, now: engine.clock.now())
    }
}
