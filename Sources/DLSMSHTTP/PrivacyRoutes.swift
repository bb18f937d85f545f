import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Hummingbird

/// A student's own data: `GET /me/export`, everything DL-SMS holds about the caller, as one JSON
/// document (GDPR articles 15 and 20).
package func addPrivacyRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine

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
