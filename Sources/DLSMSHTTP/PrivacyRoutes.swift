import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Hummingbird

/// A student's own data: `GET /me/export`, everything DL-SMS holds about the caller, as one JSON
/// document (GDPR articles 15 and 20); `DELETE /me`, the caller's account erased (article 17);
/// `DELETE /admin/users/{id}`, an account erased by staff (audited).
package func addPrivacyRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine

    api.delete("/me") { request, context -> Response in
        let caller = try context.requireCaller()
        guard !caller.isAdmin else {
            throw APIError(.conflict, "invalid_state", "a staff account is erased by another admin")
        }
        var request = request
        _ = try await erasureBody(&request)
        let anonymised = try await erase(caller.userID, service: service)
        // The student's own act: named by number only, so the trail keeps nothing of them.
        try await service.audit(
            AuditActor(userID: caller.userID, studentID: "(self)", address: "-"), "account.erased",
            subject: "user:\(caller.userID)", after: erasureValue(anonymised))
        return erasureAnswer(caller.userID, anonymised: anonymised)
    }

    api.delete("/admin/users/:id") { request, context -> Response in
        let staff = try context.requireAdmin()
        var request = request
        let body = try await erasureBody(&request)
        let reason = body.reason ?? ""
        try BookingRules.validateText(reason, field: "reason", maxBytes: 200, required: true)
        let user = try context.userAccount(engine)
        guard user.id != staff.userID else {
            throw APIError(.conflict, "invalid_state", "an admin cannot erase their own account")
        }
        let anonymised = try await erase(user.id, service: service)
        try await service.audit(
            AuditActor(staff, address: context.clientAddress), "account.erased", subject: "user:\(user.id)",
            reason: reason, before: AuditChain.value { $0.object { $0.field("role", user.role.name) } },
            after: erasureValue(anonymised))
        return erasureAnswer(user.id, anonymised: anonymised)
    }

    api.get("/me/export") { _, context -> Response in
        let caller = try context.requireCaller()
        guard let user = engine.user(id: caller.userID) else { throw APIError.unauthorized }
        // The archive file is read whole: one export at a time, the others wait in line.
        let archived = try await service.exports.run {
            do {
                return try service.durable.archivedReservations(of: user.id)
            } catch {
                throw APIError(.serviceUnavailable, "unavailable", "the archive could not be read; try again")
            }
        }
        let current = await engine.reservations(of: user.id, limit: Int.max).items.sorted { $0.id < $1.id }
        let answer = PrivacyJSON.export(
            user, current: current, archived: archived, engine: engine, now: engine.clock.now())
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/json; charset=utf-8",
                .contentDisposition: "attachment; filename=\"dlsms-export-\(user.id).json\"",
                .cacheControl: "no-store",
            ],
            body: .init(byteBuffer: ByteBuffer(bytes: answer.bytes)))
    }
}

/// The JSON of a student's export.
enum PrivacyJSON {
    static func export(
        _ user: User, current: [Reservation], archived: [Reservation], engine: SeatEngine, now: Timestamp
    ) -> JSONWriter {
        var w = JSONWriter()
        w.object {
            $0.time("exported_at", now)
            $0.field("account", object: { Render.userFields(user, &$0) })
            $0.field(
                "groups",
                object: {
                    $0.field("identity", array: user.groups) { $0.value($1) }
                    $0.field("assigned", array: engine.assignedGroups(of: user.id)) { $0.value($1) }
                    $0.field("effective", array: engine.effectiveRules(for: user.id).groups) { $0.value($1) }
                })
            $0.field(
                "sign_in",
                object: {
                    $0.field("source", user.source.name)
                    $0.field("password_set", !user.passwordHash.isEmpty)
                })
            $0.field("calendar", object: { $0.field("feed_enabled", !user.calendarFeed.isEmpty) })
            $0.field("reservations", array: current) { Render.reservation($1, &$0) }
            $0.field("archived_reservations", array: archived) { Render.reservation($1, &$0) }
            let waiting = engine.waitlist(of: user.id)
            $0.field("waitlist", array: waiting) { Render.waitlist($1.entry, position: $1.position, &$0) }
            let told = engine.notifications.list(user: user.id, since: 0)
            $0.field("notifications", array: told) { Render.notification($1, &$0) }
            $0.field(
                "strikes",
                object: {
                    let strikes = engine.strikes(of: user.id)
                    $0.field("strikes", array: strikes) { PolicyJSON.strike($1, engine: engine, &$0) }
                    let lift = engine.suspensionLift(of: user.id)
                    PolicyJSON.suspension(engine.suspension(of: user.id), lift: lift, &$0)
                })
        }
        return w
    }
}

/// The body of an erasure. `confirm` is true only for the JSON `true` (a string or a number is no
/// confirmation); `reason`, if given, must be a string.
/// Erases an account; returns how many of its reservations were anonymised, in memory and in
/// `archive.log` (whose rewrite is the compaction's, within a minute).
private func erase(_ id: UserID, service: LibraryService) async throws -> Int {
    let archived = try await service.exports.run {
        (try? service.durable.archivedReservations(of: id).count) ?? 0
    }
    return try await service.engine.eraseAccount(id) + archived
}

package struct ErasureBody: Decodable {
    package var confirm = false
    package var reason: String?

    enum CodingKeys: String, CodingKey { case confirm, reason }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        confirm = (try? c.decodeIfPresent(Bool.self, forKey: .confirm)) == true
        reason = try c.decodeIfPresent(String.self, forKey: .reason)
    }
}

/// The body of an erasure: `{"confirm": true}`. None, or JSON without the confirmation, is 400
/// `confirmation_required`; malformed JSON or a wrong type 400 `bad_request`; over 64 KiB 413.
private func erasureBody(_ request: inout Request) async throws -> ErasureBody {
    let refused = APIError(
        .badRequest, "confirmation_required",
        "erasing an account cannot be undone: send {\"confirm\": true} to confirm")
    if request.headers[.contentLength] == "0" { throw refused }
    let body: ErasureBody
    do {
        body = try await request.decodeJSON(ErasureBody.self)
    } catch let e as APIError
        where e.code == APIError.jsonBodyRequired.code && e.message == APIError.jsonBodyRequired.message
    {
        throw refused
    }
    guard body.confirm else { throw refused }
    return body
}

private func erasureValue(_ anonymised: Int) -> String {
    AuditChain.value {
        $0.object {
            $0.field("erased", true)
            $0.field("reservations_anonymised", anonymised)
        }
    }
}

private func erasureAnswer(_ id: UserID, anonymised: Int) -> Response {
    Render.response {
        $0.object {
            $0.field("erased", true)
            $0.field("user_id", id)
            $0.field("reservations_anonymised", anonymised)
        }
    }
}
