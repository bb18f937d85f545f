import DLSMSCore
import DLSMSEngine
import Hummingbird

/// `/auth/…`: registration, login, the caller's account, password change.
///
/// Every password check or hash is guarded before it runs:
/// - login reserves an attempt under the student id (5 a minute) and the client address (20 a
///   minute) first, so concurrent guesses count at once; a success clears the student's count;
/// - registration reserves one under the client address (10 an hour), and a duplicate student id
///   is only found after the hash, so it answers no faster than a real registration;
/// - the hash queue gives each client address a small share (``PasswordHasher``).
func addAuthRoutes(public router: Router<APIContext>, api: RouterGroup<APIContext>, service: DLSMSService) {
    let engine = service.engine

    router.post("/auth/register") { request, context -> Response in
        guard service.configuration.selfRegistration else { throw APIError.registrationClosed }
        var request = request
        let body = try await request.decodeJSON(Credentials.self)
        guard let studentID = body.studentId, let password = body.password else {
            throw APIError.badRequest("student_id and password are required")
        }
        guard body.role == nil else { throw APIError.badRequest("role cannot be chosen at registration") }
        let user = try await registerStudent(
            studentID: studentID, password: password, name: body.name, client: context.clientAddress,
            service: service)
        return try await loginResponse(user, status: .created, service: service)
    }

    router.post("/auth/login") { request, context -> Response in
        var request = request
        let body = try await request.decodeJSON(Credentials.self)
        guard let studentID = body.studentId, let password = body.password else {
            throw APIError.badRequest("student_id and password are required")
        }
        let user = try await checkPassword(
            password, studentID: studentID, client: context.clientAddress, service: service)
        return try await loginResponse(user, status: .ok, service: service)
    }

    api.get("/auth/me") { _, context -> Response in
        let caller = try context.requireCaller()
        guard let user = engine.user(id: caller.userID) else { throw APIError.unauthorized }
        return Render.response { Render.user(user, &$0) }
    }

    // The caller's own password: the current one is checked like a login (same limits), and
    // every token issued before stops working; the answer carries a new one.
    api.post("/auth/password") { request, context -> Response in
        let caller = try context.requireCaller()
        var request = request
        let body = try await request.decodeJSON(PasswordChange.self)
        guard let current = body.currentPassword, let new = body.newPassword else {
            throw APIError.badRequest("current_password and new_password are required")
        }
        try validateNewPassword(new, rules: engine.rules)
        _ = try await checkPassword(
            current, studentID: caller.studentID, client: context.clientAddress, service: service)
        let hash = try await service.hasher.hash(new, client: context.clientAddress)
        let user = try await engine.updateUser(id: caller.userID) {
            $0.passwordHash = hash
            $0.tokenGeneration &+= 1
        }
        return try await loginResponse(user, status: .ok, service: service)
    }
}

/// A new student account (self-registration, REST and gRPC): the rules of the id, name and
/// password first, then the per-address limit, then the hash; a duplicate id is only found after
/// the hash, so it answers no faster than a real registration.
func registerStudent(studentID: String, password: String, name: String?, client: String, service: DLSMSService)
    async throws -> User
{
    guard service.configuration.selfRegistration else { throw APIError.registrationClosed }
    let engine = service.engine
    try BookingRules.validateStudentID(studentID)
    try validateNewPassword(password, rules: engine.rules)
    let name = name ?? studentID
    try BookingRules.validateName(name)
    let now = engine.clock.now()
    let key = "reg:" + client
    if let wait = service.registrationLimiter.reserve(
        [(key, service.configuration.limits.registrationsPerAddressPerHour)], now: now)
    {
        throw APIError(
            .tooManyRequests, "rate_limited", "too many registrations from this address; try again later",
            retryAfter: wait)
    }
    let hash: String
    do {
        hash = try await service.hasher.hash(password, client: client)
    } catch {
        service.registrationLimiter.release(key, now: now)
        throw error
    }
    return try await engine.register(studentID: studentID, name: name, passwordHash: hash)
}

/// The account whose password this is, under the login limits; 401 (the same answer for an
/// unknown student, a wrong password and a disabled account) or 429.
func checkPassword(_ password: String, studentID: String, client: String, service: DLSMSService)
    async throws -> User
{
    let limiter = service.loginLimiter
    let limits = service.configuration.limits
    let now = service.engine.clock.now()
    let addressKey = "ip:" + client
    var keys = [(key: addressKey, limit: limits.loginFailuresPerAddress)]
    // Only a student id that could exist gets a key: the table is not for arbitrary strings.
    let validID = (try? BookingRules.validateStudentID(studentID)) != nil
    let idKey = "id:" + studentID
    if validID { keys.insert((idKey, limits.loginFailuresPerStudent), at: 0) }
    let suspect = limiter.count(addressKey, now: now) > 0
    if let wait = limiter.reserve(keys, now: now) {
        throw APIError(.tooManyRequests, "rate_limited", "too many failed logins; try again later", retryAfter: wait)
    }
    let user = validID ? service.engine.user(studentID: studentID) : nil
    let matches: Bool
    do {
        matches = try await service.hasher.verify(
            password, hash: user?.passwordHash, client: client, suspect: suspect)
    } catch {
        for (key, _) in keys { limiter.release(key, now: now) }  // not evaluated: not a failure
        throw error
    }
    // A failure keeps its reserved attempts: they are the failure count.
    guard matches, let user, !user.disabled else {
        throw APIError(.unauthorized, "unauthorized", "invalid student id or password")
    }
    limiter.reset(idKey)
    limiter.release(addressKey, now: now)
    return user
}

func validateNewPassword(_ password: String, rules: BookingRules) throws(APIError) {
    guard password.count >= rules.minPasswordLength else { throw APIError(EngineError.weakPassword) }
    guard password.utf8.count <= 72, !password.utf8.contains(0) else {
        throw APIError.badRequest("the password must be at most 72 bytes, without NUL")
    }
}

func loginResponse(_ user: User, status: HTTPResponse.Status, service: DLSMSService) async throws -> Response {
    let (token, expires) = try await service.tokens.issue(for: user, now: service.engine.clock.now())
    return Render.response(status) {
        $0.object {
            $0.field("token", token)
            $0.field("token_type", "Bearer")
            $0.time("expires_at", expires)
            $0.field("user_id", user.id)
            $0.field("student_id", user.studentID)
            $0.field("name", user.name)
            $0.field("role", user.role.name)
        }
    }
}
