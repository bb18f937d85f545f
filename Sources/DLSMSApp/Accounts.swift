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
        guard configuration.selfRegistration, configuration.identity.local == .all else {
            throw AppError.registrationClosed
        }
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

    /// `POST /auth/login` and gRPC `Login`: a local password where local sign-in allows it for the
    /// account, else the directory (LDAP) when one is configured — under the same login limits.
    public func signIn(studentID: String, password: String, client: String) async throws -> User {
        let identity = configuration.identity
        let local = engine.user(studentID: studentID)
        if let directory, local.map({ !identity.allowsLocalPassword(for: $0) }) ?? true {
            let found = try await limitedAttempt(studentID: studentID, client: client) { _ in
                try await directory.authenticate(username: studentID, password: password)
            }
            return try await account(for: found)
        }
        let user = try await checkPassword(password, studentID: studentID, client: client)
        guard identity.allowsLocalPassword(for: user) else {
            throw AppError(
                .forbidden, "local_sign_in_disabled", "sign in with your campus account; DL-SMS passwords are for staff"
            )
        }
        return user
    }

    /// The account whose password this is, under the login limits; 401 (the same answer for an
    /// unknown student, a wrong password and a disabled account) or 429.
    public func checkPassword(_ password: String, studentID: String, client: String) async throws -> User {
        try await limitedAttempt(studentID: studentID, client: client) { suspect in
            let validID = (try? BookingRules.validateStudentID(studentID)) != nil
            let user = validID ? engine.user(studentID: studentID) : nil
            let matches = try await hasher.verify(
                password, hash: user?.passwordHash, client: client, suspect: suspect)
            guard matches, let user, !user.disabled else { return nil }
            return user
        }
    }

    /// One password check under the login limits: an attempt is reserved under the student id
    /// and the client address first, so concurrent guesses count at once; a failure (`nil`) keeps
    /// them (they are the failure count); a success clears the student's; a check that could not
    /// be made (an error: the hash queue full, the directory down) gives them back.
    private func limitedAttempt<Found>(
        studentID: String, client: String, _ check: (_ suspect: Bool) async throws -> Found?
    ) async throws -> Found {
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
        let found: Found?
        do {
            found = try await check(suspect)
        } catch {
            for (key, _) in keys { limiter.release(key, now: now) }  // not evaluated: not a failure
            throw error
        }
        guard let found else { throw AppError.invalidCredentials }
        limiter.reset(idKey)
        limiter.release(addressKey, now: now)
        return found
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
