import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// `/reservations…`: booking, listings, check-in, checkout, cancel.
package func addReservationRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    let pages = service.configuration.limits

    api.post("/reservations") { request, context -> Response in
        let caller = try context.requireCaller()
        var request = request
        let body = try await request.decodeJSON(BookingBody.self)
        guard let seat = body.seatId else { throw APIError.badRequest("seat_id is required") }
        let start = try parseBodyTime(body.startTime, "start_time")
        let end = try parseBodyTime(body.endTime, "end_time")
        // Staff book on a student's behalf with `user_id` (and `override` past their policy).
        var user = caller.userID
        var staff: UserID?
        if let target = body.userId, target != Int64(caller.userID) {
            guard caller.isAdmin else { throw APIError(.forbidden, "forbidden", "only staff book for another student") }
            guard let id = UserID(exactly: target), id > 0 else {
                throw APIError(.notFound, "not_found", "user \(target) not found")
            }
            user = id
            staff = caller.userID
        } else if body.override == true {
            throw APIError.badRequest("override goes with user_id: staff booking on a student's behalf")
        }
        // The student's attempts (staff booking on their behalf count as theirs).
        try APIError.mapping { () throws(AppError) in try service.bookingAttempt(user) }
        let r: Reservation
        do throws(EngineError) {
            r = try await service.book(
                user: user, seat: SeatID(exactly: seat) ?? -1, start: start, end: end, staff: staff,
                override: body.override ?? false, actor: context.auditActor)
        } catch {
            if case .userNotFound = error, let target = body.userId {
                throw APIError(.notFound, "not_found", "user \(target) not found")
            }
            if case .seatNotFound = error { throw APIError(.notFound, "not_found", "seat \(seat) not found") }
            throw error
        }
        return Render.response(.created) { Render.reservation(r, &$0) }
    }

    api.get("/reservations/mine") { request, context -> Response in
        let caller = try context.requireCaller()
        let status = try parseStatus(request.query("status"))
        let (limit, offset) = try request.queryPage(max: pages.pageSize, default: pages.pageSize)
        let page = await engine.reservations(
            of: caller.userID, status: status, upcomingOnly: try request.queryBool("upcoming_only") ?? false,
            limit: limit, offset: offset)
        return reservationPage(page)
    }

    api.get("/reservations") { request, context -> Response in
        _ = try context.requireAdmin()
        let filter = try ReservationFilter(request)
        let (limit, offset) = try request.queryPage(
            max: pages.adminPageSize, default: pages.pageSize, served: pages.adminPageServed)
        let page = await engine.allReservations(matching: filter, limit: limit, offset: offset)
        return reservationPage(page)
    }

    func reservationRoute(_ body: @escaping @Sendable (ReservationID, Requester) async throws -> Reservation)
        -> @Sendable (
            Request, APIContext
        ) async throws -> Response
    {
        { _, context in
            let caller = try context.requireCaller()
            guard let id = try context.pathID("reservation id") else {
                throw APIError(.notFound, "not_found", "reservation not found")
            }
            let r = try await body(id, caller.requester)
            return Render.response { Render.reservation(r, &$0) }
        }
    }
    api.get("/reservations/:id", use: reservationRoute { try await engine.reservation(id: $0, requester: $1) })
    api.post("/reservations/:id/checkin", use: reservationRoute { try await engine.checkIn(id: $0, requester: $1) })
    api.post("/reservations/:id/checkout", use: reservationRoute { try await engine.checkout(id: $0, requester: $1) })
    addCancelRoute(to: api, service: service)
}

/// `DELETE /reservations/{id}`: staff cancelling another's reservation is audited.
private func addCancelRoute(to api: RouterGroup<APIContext>, service: LibraryService) {
    api.delete("/reservations/:id") { _, context -> Response in
        let caller = try context.requireCaller()
        guard let id = try context.pathID("reservation id") else {
            throw APIError(.notFound, "not_found", "reservation not found")
        }
        let r = try await service.cancel(id: id, requester: caller.requester, actor: context.auditActor)
        return Render.response { Render.reservation(r, &$0) }
    }
}
