import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// `/waitlist…`: join, list, leave.
package func addWaitlistRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine

    api.post("/waitlist") { request, context -> Response in
        let caller = try context.requireCaller()
        var request = request
        let body = try await request.decodeJSON(WaitlistBody.self)
        let target: WaitTarget
        switch (body.seatId, body.branch) {
        case (let s?, nil): target = .seat(SeatID(exactly: s) ?? -1)
        case (nil, let b?): target = .branch(b)
        default: throw APIError.badRequest("give seat_id or branch (exactly one)")
        }
        let desired = try parseBodyTime(body.desiredTime, "desired_time")
        let end = try body.endTime.map { (t) throws(APIError) in try parseBodyTime(t, "end_time") }
        let (entry, position) = try await engine.joinWaitlist(
            user: caller.userID, target: target, desired: desired, end: end)
        return Render.response(.created) { Render.waitlist(entry, position: position, &$0) }
    }

    api.get("/waitlist/mine") { _, context -> Response in
        let caller = try context.requireCaller()
        let entries = engine.waitlist(of: caller.userID)
        return Render.response {
            $0.object {
                $0.field("waitlist", array: entries) { w, e in Render.waitlist(e.entry, position: e.position, &w) }
                $0.field("count", entries.count)
            }
        }
    }

    api.delete("/waitlist/:id") { _, context -> Response in
        let caller = try context.requireCaller()
        guard let id = try context.pathID("waitlist entry id") else {
            throw APIError(.notFound, "not_found", "waitlist entry not found")
        }
        let entry = try await engine.leaveWaitlist(id: id, requester: caller.requester)
        return Render.response { Render.waitlist(entry, position: nil, &$0) }
    }

    // A seat held for the caller's waitlist entry: take it (a CONFIRMED reservation, every
    // booking rule applied now), or pass it on to the next in line.
    api.post("/waitlist/:id/accept") { _, context -> Response in
        let caller = try context.requireCaller()
        guard let id = try context.pathID("waitlist entry id") else {
            throw APIError(.notFound, "not_found", "waitlist entry not found")
        }
        try APIError.mapping { () throws(AppError) in try service.bookingAttempt(caller.userID) }
        let accepted = try await engine.acceptOffer(id: id, requester: caller.requester)
        service.metrics.offerAccepted(afterSeconds: accepted.secondsSinceFreed)
        return Render.response(.created) { Render.reservation(accepted.reservation, &$0) }
    }

    api.post("/waitlist/:id/decline") { _, context -> Response in
        let caller = try context.requireCaller()
        guard let id = try context.pathID("waitlist entry id") else {
            throw APIError(.notFound, "not_found", "waitlist entry not found")
        }
        let entry = try await engine.declineOffer(id: id, requester: caller.requester)
        return Render.response { Render.waitlist(entry, position: nil, &$0) }
    }
}
