import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Hummingbird

/// `/admin/users…`: accounts that staff control. Every change is a journal record; disabling an
/// account, resetting its password and revoking its sessions all raise its token generation, so
/// its outstanding tokens stop working at once.
package func addAccountRoutes(api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    addUserListRoutes(api: api, service: service, engine: engine)
    addUserRoutes(api: api, service: service, engine: engine)
}

/// The list of accounts, and a new one.
private func addUserListRoutes(api: RouterGroup<APIContext>, service: LibraryService, engine: SeatEngine) {
    api.get("/admin/users") { request, context -> Response in
        _ = try context.requireAdmin()
        let pages = service.configuration.limits
        let (limit, offset) = try request.queryPage(
            max: pages.adminPageSize, default: pages.pageSize, served: pages.adminPageServed)
        let page: (users: [User], total: Int)
        if let studentID = request.query("student_id") {
            // One account by the id people see (`S2021001`), as the staff pages look students up.
            let found = engine.user(studentID: studentID).map { [$0] } ?? []
            page = (Array(found.dropFirst(offset).prefix(limit)), found.count)
        } else if let ids = try request.queryIDs(max: pages.adminPageServed) {
            let found = ids.sorted().compactMap { UserID(exactly: $0).flatMap(engine.user(id:)) }
            page = (Array(found.dropFirst(offset).prefix(limit)), found.count)
        } else {
            page = engine.users(offset: offset, limit: limit)
        }
        let fit = Render.fitting(page.users, budget: pages.answerBytes) { u, w in Render.user(u, &w) }
        let users = page.users.prefix(fit)
        return Render.response {
            $0.object {
                $0.field("users", array: users) { w, u in Render.user(u, &w) }
                $0.field("count", users.count)
                $0.field("total", page.total)
            }
        }
    }

    api.post("/admin/users") { request, context -> Response in
        _ = try context.requireAdmin()
        var request = request
        let body = try await request.decodeJSON(Credentials.self)
        guard let studentID = body.studentId, let password = body.password else {
            throw APIError.badRequest("student_id and password are required")
        }
        try BookingRules.validateStudentID(studentID)
        try LibraryService.validateNewPassword(password, rules: engine.rules)
        let role: Role
        switch body.role ?? "student" {
        case "student": role = .student
        case "admin": role = .admin
        default: throw APIError.badRequest("role must be student or admin")
        }
        let name = body.name ?? studentID
        try BookingRules.validateName(name)
        let hash = try await service.hasher.hash(password, client: context.clientAddress)
        let user = try await engine.register(studentID: studentID, name: name, passwordHash: hash, role: role)
        try await service.audit(
            context.auditActor, "account.created", subject: "user:\(user.id)", after: AuditChain.account(user))
        return Render.response(.created) { Render.user(user, &$0) }
    }
}

/// `/admin/users/:id…`: one account, its password, and what disables or revokes it.
private func addUserRoutes(api: RouterGroup<APIContext>, service: LibraryService, engine: SeatEngine) {
    api.get("/admin/users/:id") { _, context -> Response in
        _ = try context.requireAdmin()
        let id = try userID(context, engine: engine)
        guard let user = engine.user(id: id) else { throw APIError(.notFound, "not_found", "user not found") }
        return Render.response { Render.user(user, &$0) }
    }

    api.post("/admin/users/:id/password") { request, context -> Response in
        _ = try context.requireAdmin()
        let id = try userID(context, engine: engine)
        var request = request
        guard let password = try await request.decodeJSON(PasswordChange.self).password else {
            throw APIError.badRequest("password is required")
        }
        try LibraryService.validateNewPassword(password, rules: engine.rules)
        let hash = try await service.hasher.hash(password, client: context.clientAddress)
        let before = engine.user(id: id)
        let user = try await engine.updateUser(id: id) {
            $0.passwordHash = hash
            $0.tokenGeneration &+= 1
        }
        try await service.audit(
            context.auditActor, "account.password_reset", subject: "user:\(id)",
            before: before.map(AuditChain.account) ?? "",
            after: AuditChain.value {
                $0.object {
                    $0.field("password_changed", true)
                    $0.field("token_generation", Int64(user.tokenGeneration))
                }
            })
        return Render.response { Render.user(user, &$0) }
    }

    addUserChange(
        "/admin/users/:id/disable", audit: "account.disabled", api: api, service: service,
        {
            $0.disabled = true
            $0.tokenGeneration &+= 1
        }, selfAllowed: false)
    addUserChange(
        "/admin/users/:id/enable", audit: "account.enabled", api: api, service: service, { $0.disabled = false },
        selfAllowed: true)
    addUserChange(
        "/admin/users/:id/revoke-sessions", audit: "account.sessions_revoked", api: api, service: service,
        { $0.tokenGeneration &+= 1 }, selfAllowed: true)
}

/// A route that changes an account by `body`; `selfAllowed: false` refuses it on the caller's own.
private func addUserChange(
    _ path: RouterPath, audit kind: String, api: RouterGroup<APIContext>, service: LibraryService,
    _ body: @escaping @Sendable (inout User) -> Void, selfAllowed: Bool
) {
    let engine = service.engine
    api.post(path) { _, context -> Response in
        let caller = try context.requireAdmin()
        let id = try userID(context, engine: engine)
        guard selfAllowed || id != caller.userID else {
            throw APIError(.conflict, "invalid_state", "an admin cannot disable their own account")
        }
        let before = engine.user(id: id)
        let user = try await engine.updateUser(id: id, body)
        try await service.audit(
            context.auditActor, kind, subject: "user:\(id)", before: before.map(AuditChain.account) ?? "",
            after: AuditChain.account(user))
        return Render.response { Render.user(user, &$0) }
    }
}

/// The `:id` of the path, an existing account's.
private func userID(_ context: APIContext, engine: SeatEngine) throws(APIError) -> UserID {
    guard let n = try context.pathID("user id"), let id = UserID(exactly: n), engine.user(id: id) != nil else {
        throw APIError(.notFound, "not_found", "user not found")
    }
    return id
}
