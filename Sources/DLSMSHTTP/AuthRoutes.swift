import DLSMSApp
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
package func addAuthRoutes(public router: Router<APIContext>, api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine

    router.post("/auth/register") { request, context -> Response in
        guard service.configuration.selfRegistration, service.configuration.identity.local == .all else {
            throw AppError.registrationClosed
        }
        var request = request
        let body = try await request.decodeJSON(Credentials.self)
        guard let studentID = body.studentId, let password = body.password else {
            throw APIError.badRequest("student_id and password are required")
        }
        guard body.role == nil else { throw APIError.badRequest("role cannot be chosen at registration") }
        let user = try await service.register(
            studentID: studentID, password: password, name: body.name, client: context.clientAddress)
        return try await loginResponse(user, status: .created, service: service)
    }

    router.post("/auth/login") { request, context -> Response in
        var request = request
        let body = try await request.decodeJSON(Credentials.self)
        guard let studentID = body.studentId, let password = body.password else {
            throw APIError.badRequest("student_id and password are required")
        }
        let user = try await service.signIn(studentID: studentID, password: password, client: context.clientAddress)
        return try await loginResponse(user, status: .ok, service: service, signInFrom: context.clientAddress)
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
        try LibraryService.validateNewPassword(new, rules: engine.rules)
        guard let account = engine.user(id: caller.userID) else { throw APIError.unauthorized }
        guard account.source == .local else {
            throw APIError(
                .conflict, "no_local_password", "this account signs in through the campus; change the password there")
        }
        // Where local passwords no longer sign this account in, changing one would hand out a
        // new token all the same: refused like the sign-in.
        guard service.configuration.identity.allowsLocalPassword(for: account) else {
            throw APIError(
                .forbidden, "local_sign_in_disabled", "sign in with your campus account; DL-SMS passwords are for staff"
            )
        }
        _ = try await service.checkPassword(current, studentID: caller.studentID, client: context.clientAddress)
        let hash = try await service.hasher.hash(new, client: context.clientAddress)
        let user = try await engine.updateUser(id: caller.userID) {
            $0.passwordHash = hash
            $0.tokenGeneration &+= 1
        }
        return try await loginResponse(user, status: .ok, service: service)
    }
}

/// The answer of a sign-in: a new token. A staff sign-in (`signInFrom`: the client's address) is
/// audited first; on a standby, which writes nothing, it is only logged.
package func loginResponse(
    _ user: User, status: HTTPResponse.Status, service: LibraryService, signInFrom address: String? = nil
) async throws -> Response {
    if let address { try await service.auditSignIn(user, address: address) }
    let (token, expires) = try await service.issueToken(for: user)
    var response = Render.response(status) {
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
    response.headers[.cacheControl] = "no-store"  // a token: never kept by a cache
    return response
}
