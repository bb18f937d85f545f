import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// Unauthenticated operations routes: `/healthz`, `/openapi.yaml`, `/metrics`.
package func addSystemRoutes(to router: Router<APIContext>, service: LibraryService) {
    let engine = service.engine

    router.get("/healthz") { _, _ -> Response in
        let counts = engine.counts
        let last = service.durable.lastSnapshot
        let problem: String? =
            service.durable.wal.failure != nil || engine.writeFailure != nil
            ? "storage failed: writes are refused"
            : service.resources.figures.descriptorsExhausted
                ? "file descriptors nearly exhausted, or connections at the cap" : nil
        return Render.response(problem == nil ? .ok : .serviceUnavailable) {
            $0.object {
                $0.field("status", problem == nil ? "healthy" : "unhealthy")
                $0.field("problem", problem)
                $0.field("seats", counts.seats)
                $0.field("reservations", counts.reservations)
                $0.time("last_snapshot", last.name == nil ? nil : last.time)
            }
        }
    }

    addRulesRoute(to: router, service: service)

    router.get("/openapi.yaml") { _, _ -> Response in
        Response(
            status: .ok, headers: [.contentType: "application/yaml"],
            body: .init(byteBuffer: ByteBuffer(string: OpenAPI.document)))
    }

    router.get("/metrics") { _, _ -> Response in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(string: service.metrics.render(service))))
    }
}

/// `GET /rules`: the booking rules in force, for clients that explain them before a refusal does
/// (the web app's check-in countdown, its time pickers, its sign-up form). With a token: the
/// caller's own rules (their groups' policies), strikes and suspension; `?branch=` adds the
/// branch's release rule, and with `start_time` the instant a booking starting then opens.
private func addRulesRoute(to router: Router<APIContext>, service: LibraryService) {
    let engine = service.engine
    let rules = service.configuration.rules
    let selfRegistration = service.configuration.selfRegistration
    router.get("/rules") { request, _ -> Response in
        var caller: Caller?
        if request.headers[.authorization] != nil {
            // A token is optional here; one that is given must be valid.
            guard let token = bearerToken(request), let known = await service.caller(token: token) else {
                throw APIError.unauthorized
            }
            caller = known
        }
        let q = request.queries
        var branch: Branch?
        if let name = q.query("branch") {
            guard let b = engine.branch(named: name) else {
                throw APIError(.notFound, "not_found", "branch '\(name.prefix(100))' not found")
            }
            branch = b
        }
        let start = try q.queryTime("start_time")
        let now = engine.clock.now()
        let mine = caller.map { engine.effectiveRules(for: $0.userID) }
        return Render.response {
            $0.object {
                $0.time("server_time", now)
                $0.field("min_duration_minutes", Int(rules.minDuration / Seconds.minute))
                $0.field("past_tolerance_minutes", Int(rules.pastTolerance / Seconds.minute))
                $0.field("checkin_opens_minutes", Int(rules.checkInOpensBefore / Seconds.minute))
                $0.field("waitlist_hold_minutes", Int(rules.offerHold / Seconds.minute))
                $0.field("min_password_length", rules.minPasswordLength)
                $0.field("self_registration", selfRegistration)
                if let mine, let caller {
                    PolicyJSON.effective(mine, &$0)
                    $0.field("strikes", engine.liveStrikeCount(of: caller.userID))
                    PolicyJSON.suspension(engine.suspension(of: caller.userID), lift: nil, &$0)
                } else {
                    $0.field("max_duration_minutes", Int(rules.maxDuration / Seconds.minute))
                    $0.field("max_days_ahead", Int(rules.maxAdvance / Seconds.day))
                    $0.field("max_upcoming_per_student", rules.maxUpcomingPerUser)
                    $0.field("grace_minutes", Int(rules.grace / Seconds.minute))
                }
                if let branch {
                    if let release = branch.release {
                        $0.field(
                            "release",
                            object: {
                                $0.field("branch", branch.name)
                                $0.field("days_before", release.daysBefore)
                                $0.field("time", release.time)
                                $0.field("time_zone", branch.timeZone)
                                if let start { $0.time("opens_at", engine.opening(branch: branch, start: start)) }
                            })
                    } else {
                        $0.field("release", nil as String?)
                    }
                }
            }
        }
    }

}
