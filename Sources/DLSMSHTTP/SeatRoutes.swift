import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// Seats policies reserve for some groups: which groups, and whether `caller` may book each
/// (nil when no policy restricts any place).
func seatAccess(_ seats: [SeatView], caller: UserID, engine: SeatEngine) -> [Render.SeatAccess?]? {
    let restrictions = engine.placeRestrictions
    guard !restrictions.isEmpty else { return nil }
    let mine = engine.effectiveRules(for: caller)
    return seats.map { v in
        restrictions.groups(for: v.seat).map {
            Render.SeatAccess(restrictedTo: $0, allowed: mine.mayBook(v.seat, restrictions: restrictions))
        }
    }
}

/// `/branches`, `/seats`, `/seats/{id}`, `/seats/{id}/availability`.
package func addSeatRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    let clock = engine.clock

    let pageSize = service.configuration.limits.seatPageSize
    let budget = service.configuration.limits.answerBytes
    api.get("/branches") { request, _ -> Response in
        let (limit, offset) = try request.queryPage(max: pageSize, default: pageSize)
        let branches = await engine.branches()
        var page = branches.dropFirst(offset).prefix(limit)
        page = page.prefix(Render.fitting(page, budget: budget) { b, w in Render.branch(b, &w) })
        return Render.response {
            $0.object {
                $0.field("branches", array: page) { w, b in Render.branch(b, &w) }
                $0.field("count", page.count)
                $0.field("total", branches.count)
            }
        }
    }

    api.get("/seats") { request, context -> Response in
        let caller = try context.requireCaller()
        let q = request.queries
        let filter = SeatFilter(
            branch: q.query("branch"), area: q.query("area"), hasPower: try q.queryBool("has_power"),
            hasMonitor: try q.queryBool("has_monitor"), accessible: try q.queryBool("accessible"),
            availableOnly: try q.queryBool("available_only") ?? true, ids: try q.querySeatIDs(max: pageSize))
        let window = try q.queryWindow()
        let (limit, offset) = try q.queryPage(max: pageSize, default: pageSize)
        let request = SeatPageRequest(limit: limit, offset: offset, after: try q.querySeatCursor())
        var page = try await service.searchSeats(filter, start: window?.0, end: window?.1, page: request)
        var parts = service.seatFragments(page.seats)
        let fit = SeatFragments.fitting(parts, budget: budget)
        if fit < parts.count {  // long names: the page ends early, the cursor goes on from there
            page.seats.removeLast(parts.count - fit)
            parts.removeLast(parts.count - fit)
            page.next = page.seats.last?.seat.id
        }
        let access = seatAccess(page.seats, caller: caller.userID, engine: engine)
        return Render.response(Render.seatsAnswer(page, parts: parts, access: access))
    }

    api.get("/seats/:id") { request, context -> Response in
        let id = try context.seatID()
        let day: Timestamp
        if let date = request.query("date") {
            guard let d = RFC3339.parseDate(date) else { throw APIError.badRequest("date must be YYYY-MM-DD: \(date)") }
            day = d
        } else {
            day = clock.now() / Seconds.day * Seconds.day
        }
        let (view, busy) = try await engine.seat(id, start: day, end: day + Seconds.day)
        return Render.response {
            $0.object {
                Render.seatFields(view, &$0)
                Render.busy(busy, &$0)
            }
        }
    }

    api.get("/seats/:id/availability") { request, context -> Response in
        let id = try context.seatID()
        guard let (start, end) = try request.queryWindow() else {
            throw APIError.badRequest("start_time and end_time are required")
        }
        let (view, busy) = try await engine.seat(id, start: start, end: end)
        return Render.response {
            $0.object {
                $0.field("seat_id", id)
                $0.field("is_available", view.isAvailable)
                Render.busy(busy, &$0)
            }
        }
    }
}
