import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// The seat over the day: extend, step away and back, move, weekly series, seats together
/// (`docs/seat-over-the-day.md`).
package func addStayRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine

    /// A route on `/reservations/:id/…` that changes the reservation; staff may act on any
    /// (`override` only for them).
    func change<Body: Decodable & Sendable>(
        _ body: Body.Type, attempt: Bool,
        _ act: @escaping @Sendable (ReservationID, Body?, Caller, AuditActor) async throws -> Response
    ) -> @Sendable (Request, APIContext) async throws -> Response {
        { request, context in
            let caller = try context.requireCaller()
            guard let id = try context.pathID("reservation id") else {
                throw APIError(.notFound, "not_found", "reservation not found")
            }
            var request = request
            let decoded: Body? = Body.self == EmptyBody.self ? nil : try await request.decodeJSON(Body.self)
            if attempt { try APIError.mapping { () throws(AppError) in try service.bookingAttempt(caller.userID) } }
            return try await act(id, decoded, caller, context.auditActor)
        }
    }

    api.post(
        "/reservations/:id/extend",
        use: change(ExtendBody.self, attempt: true) { id, body, caller, _ in
            let end = try parseBodyTime(body?.endTime, "end_time")
            let override = try staffOverride(body?.override, caller)
            let r = try await engine.extend(id: id, to: end, requester: caller.requester, override: override)
            return Render.response { Render.reservation(r, &$0) }
        })
    api.post(
        "/reservations/:id/away",
        use: change(EmptyBody.self, attempt: false) { id, _, caller, _ in
            let r = try await engine.stepAway(id: id, requester: caller.requester)
            return Render.response { Render.reservation(r, &$0) }
        })
    api.post(
        "/reservations/:id/back",
        use: change(EmptyBody.self, attempt: false) { id, _, caller, _ in
            let r = try await engine.comeBack(id: id, requester: caller.requester)
            return Render.response { Render.reservation(r, &$0) }
        })
    api.post(
        "/reservations/:id/move",
        use: change(MoveBody.self, attempt: true) { id, body, caller, actor in
            guard let seat = body?.seatId else { throw APIError.badRequest("seat_id is required") }
            let override = try staffOverride(body?.override, caller)
            guard let target = SeatID(exactly: seat) else {
                throw APIError(.notFound, "not_found", "seat \(seat) not found")
            }
            let moved = try await engine.move(id: id, to: target, requester: caller.requester, override: override)
            if caller.isAdmin && moved.old.userID != caller.userID {
                try await service.audit(
                    actor, "reservation.moved_by_staff", subject: "reservation:\(id)",
                    before: AuditChain.value { w in w.object { Render.reservationFields(moved.old, &$0) } },
                    after: AuditChain.value { w in
                        w.object {
                            Render.reservationFields(moved.new, &$0)
                            $0.field("override", override)
                        }
                    })
            }
            return Render.response {
                $0.object {
                    $0.field("reservation", object: { Render.reservationFields(moved.new, &$0) })
                    $0.field("previous", object: { Render.reservationFields(moved.old, &$0) })
                }
            }
        })
    addSeriesRoutes(to: api, service: service)
    addTogetherRoutes(to: api, service: service)
}

/// `override` is staff's, and only staff's.
func staffOverride(_ override: Bool?, _ caller: Caller) throws(APIError) -> Bool {
    guard override == true else { return false }
    guard caller.isAdmin else { throw APIError(.forbidden, "forbidden", "only staff override a student's policy") }
    return true
}

private func addSeriesRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    api.post("/reservations/series") { request, context -> Response in
        let caller = try context.requireCaller()
        var request = request
        let body = try await request.decodeJSON(SeriesBody.self)
        guard let seat = body.seatId else { throw APIError.badRequest("seat_id is required") }
        let start = try parseBodyTime(body.startTime, "start_time")
        let end = try parseBodyTime(body.endTime, "end_time")
        let until = try parseUntil(body.until)
        guard let names = body.weekdays, !names.isEmpty, names.count <= 7 else {
            throw APIError.badRequest("weekdays is required: a list of MO, TU, WE, TH, FR, SA, SU")
        }
        var days: Set<Int> = []
        for name in names {
            guard let d = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"].firstIndex(of: name.uppercased()) else {
                throw APIError.badRequest("weekdays: '\(name.prefix(16))' is not one of MO, TU, WE, TH, FR, SA, SU")
            }
            days.insert(d + 1)
        }
        // Staff book a series for a student with `user_id` (and `override`), as a single booking.
        var user = caller.userID
        if let target = body.userId, target != Int64(caller.userID) {
            guard caller.isAdmin else { throw APIError(.forbidden, "forbidden", "only staff book for another student") }
            guard let id = UserID(exactly: target), id > 0, engine.user(id: id) != nil else {
                throw APIError(.notFound, "not_found", "user \(target) not found")
            }
            user = id
        }
        let override = try staffOverride(body.override, caller)
        try APIError.mapping { () throws(AppError) in try service.bookingAttempt(caller.userID) }
        guard let seatID = SeatID(exactly: seat) else {
            throw APIError(.notFound, "not_found", "seat \(seat) not found")
        }
        let q = SeriesRequest(
            seatID: seatID, start: start, end: end, weekdays: days, until: until,
            allOrNothing: body.allOrNothing ?? false)
        let instances = try await engine.bookSeries(user: user, q, override: override)
        let booked = instances.filter { (try? $0.outcome.get()) != nil }
        let seriesID = booked.compactMap { try? $0.outcome.get().extras.seriesID }.first
        // None booked: the contract's error (409 `nothing_booked`), with every date's reason.
        var w = JSONWriter()
        w.object {
            if booked.isEmpty {
                $0.field("error", "no date of the series could be booked")
                $0.field("code", "nothing_booked")
            }
            $0.field("series_id", seriesID)
            $0.field("booked", booked.count)
            $0.field("refused", instances.count - booked.count)
            $0.field("instances", array: instances) { w, i in seriesInstance(i, &w) }
        }
        return Render.response(w, status: booked.isEmpty ? .conflict : .created)
    }

    api.delete("/reservations/series/:id") { request, context -> Response in
        let caller = try context.requireCaller()
        guard let id = try context.pathID("series id") else {
            throw APIError(.notFound, "not_found", "series not found")
        }
        let from = try request.query("from").map { text throws(APIError) in try parseUntil(text, name: "from") }
        let cancelled = try await engine.cancelSeries(
            id, from: from ?? service.engine.clock.now(), requester: caller.requester)
        return Render.response {
            $0.object {
                $0.field("series_id", id)
                $0.field("cancelled", cancelled.count)
                $0.field("reservations", array: cancelled) { Render.reservation($1, &$0) }
            }
        }
    }
}

private func seriesInstance(_ i: SeriesInstance, _ w: inout JSONWriter) {
    w.object {
        $0.field("date", i.date)
        $0.time("start_time", i.start)
        $0.time("end_time", i.end)
        switch i.outcome {
        case .success(let r):
            $0.field("status", "booked")
            $0.field("reservation", object: { Render.reservationFields(r, &$0) })
        case .failure(let e):
            $0.field("status", "refused")
            $0.field("code", e.code)
            $0.field("error", e.message)
        }
    }
}

/// An instant (RFC 3339) or a date (`YYYY-MM-DD`, its whole day in UTC; the series counts local
/// days of the seat's branch from it).
func parseUntil(_ value: String?, name: String = "until") throws(APIError) -> Timestamp {
    guard let value else { throw APIError.badRequest("\(name) is required") }
    if let t = RFC3339.parse(value) { return t }
    if let d = RFC3339.parseDate(value) { return d + Seconds.day - 1 }
    throw APIError.badRequest("\(name) is not an RFC 3339 time or a YYYY-MM-DD date: \(value.prefix(40))")
}

private func addTogetherRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    api.post("/reservations/group") { request, context -> Response in
        let caller = try context.requireCaller()
        var request = request
        let body = try await request.decodeJSON(GroupBody.self)
        guard let seats = body.seatIds, !seats.isEmpty else { throw APIError.badRequest("seat_ids is required") }
        guard seats.count <= SeatEngine.maxTogether else {
            throw APIError.badRequest("seat_ids: at most \(SeatEngine.maxTogether) seats together")
        }
        guard Set(seats).count == seats.count else { throw APIError.badRequest("seat_ids: a seat is named twice") }
        let start = try parseBodyTime(body.startTime, "start_time")
        let end = try parseBodyTime(body.endTime, "end_time")
        let members = try groupMembers(body.members, seats: seats.count, caller: caller, engine: engine)
        let override = try staffOverride(body.override, caller)
        try APIError.mapping { () throws(AppError) in try service.bookingAttempt(caller.userID) }
        if let wide = seats.first(where: { SeatID(exactly: $0) == nil }) {
            throw APIError(.notFound, "not_found", "seat \(wide) not found")
        }
        let items = zip(seats, members).map { TogetherItem(seatID: SeatID($0), userID: $1, start: start, end: end) }
        let who = engine.user(id: caller.userID)?.studentID ?? "a fellow student"
        let made = try await engine.bookTogether(
            items, override: override,
            notice: { r in
                r.userID == caller.userID
                    ? nil
                    : (.bookedTogether, "\(who) booked seat \(r.seatID) for you with their group: reservation \(r.id).")
            }, extras: { ReservationExtras(groupID: $0) })
        return Render.response(.created) {
            $0.object {
                $0.field("group_id", made.first?.extras.groupID)
                $0.field("reservations", array: made) { Render.reservation($1, &$0) }
            }
        }
    }

    api.get("/seats/together") { request, context -> Response in
        let caller = try context.requireCaller()
        guard let branch = request.query("branch"), !branch.isEmpty else {
            throw APIError.badRequest("branch is required")
        }
        guard let countText = request.query("count"), let count = Int(countText),
            (2...SeatEngine.maxTogether).contains(count)
        else { throw APIError.badRequest("count must be between 2 and \(SeatEngine.maxTogether)") }
        guard let window = try request.queries.queryWindow() else {
            throw APIError.badRequest("start_time and end_time are required")
        }
        // A search like GET /seats: through the same gate (503 when too many run at once).
        let area = request.query("area")
        let options = try await service.searches.run {
            try await engine.seatsTogether(
                branch: branch, area: area, count: count, start: window.0, end: window.1, user: caller.userID)
        }
        return Render.response {
            $0.object {
                $0.field("count", count)
                $0.time("start_time", window.0)
                $0.time("end_time", window.1)
                $0.field("options", array: options) { w, option in
                    w.object {
                        $0.field("area", option.first?.area)
                        $0.field("seat_ids", array: option.map(\.id)) { $0.value($1) }
                        $0.field("seats", array: option) { w, seat in
                            w.object {
                                $0.field("id", seat.id)
                                $0.field("label", seat.displayLabel)
                                $0.field("x", seat.x)
                                $0.field("y", seat.y)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The members' accounts, one per seat: student ids; the caller must be one of them (staff
/// book for any students).
private func groupMembers(_ ids: [String]?, seats: Int, caller: Caller, engine: SeatEngine) throws(APIError)
    -> [UserID]
{
    guard let ids, ids.count == seats else {
        throw APIError.badRequest("members is required: one student id per seat, in the order of seat_ids")
    }
    var users: [UserID] = []
    for id in ids {
        guard let u = engine.user(studentID: id), !u.disabled, u.role == .student || caller.isAdmin else {
            throw APIError(.notFound, "not_found", "student '\(id.prefix(64))' not found")
        }
        users.append(u.id)
    }
    guard Set(users).count == users.count else { throw APIError.badRequest("members: a student is named twice") }
    guard caller.isAdmin || users.contains(caller.userID) else {
        throw APIError(.forbidden, "forbidden", "you book seats together for a group you are in")
    }
    return users
}

package struct EmptyBody: Decodable, Sendable {}

package struct ExtendBody: Decodable, Sendable {
    package var endTime: String?
    package var override: Bool?
}

package struct MoveBody: Decodable, Sendable {
    package var seatId: Int64?
    package var override: Bool?
}

package struct SeriesBody: Decodable, Sendable {
    package var seatId: Int64?
    package var userId: Int64?
    package var override: Bool?
    package var startTime: String?
    package var endTime: String?
    package var weekdays: [String]?
    package var until: String?
    package var allOrNothing: Bool?
}

package struct GroupBody: Decodable, Sendable {
    package var seatIds: [Int64]?
    package var startTime: String?
    package var endTime: String?
    package var members: [String]?
    package var override: Bool?
}
