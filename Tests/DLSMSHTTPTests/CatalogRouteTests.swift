import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

/// `PUT /admin/branches/{name}/hours`: a branch's time zone and weekly hours, evaluated in local
/// time, durable.
@Suite struct CatalogRouteTests {
    static let berlinWeek = #"""
        {"time_zone": "Europe/Berlin", "hours": {
          "monday": ["08:00-12:00", "13:00-22:00"], "tuesday": ["08:00-12:00", "13:00-22:00"],
          "wednesday": ["08:00-12:00", "13:00-22:00"], "thursday": ["08:00-12:00", "13:00-22:00"],
          "friday": ["08:00-12:00", "13:00-22:00"], "saturday": ["10:00-16:00"], "sunday": []}}
        """#

    @Test func weeklyHoursInTheBranchesTimeZone() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let set = try await client.call(
                .put, "/admin/branches/Main%20Library/hours", token: admin, json: Self.berlinWeek)
            #expect(set.status == .ok, "\(set.text)")
            #expect(set.json["time_zone"] as? String == "Europe/Berlin")
            let hours = set.json["opening_hours"] as? [String: [String]]
            #expect(hours?["monday"] == ["08:00-12:00", "13:00-22:00"] && hours?["sunday"] == [])
            let branches = try await client.call(.get, "/branches", token: admin).json["branches"] as? [[String: Any]]
            let main = branches?.first { $0["branch"] as? String == "Main Library" }
            #expect(
                main?["open_hours"] as? String
                    == "Mon 08:00-12:00,13:00-22:00; Tue 08:00-12:00,13:00-22:00; Wed 08:00-12:00,13:00-22:00; Thu 08:00-12:00,13:00-22:00; Fri 08:00-12:00,13:00-22:00; Sat 10:00-16:00; Sun closed"
            )
            // Other branches keep theirs.
            let science = branches?.first { $0["branch"] as? String == "Science Library" }
            #expect(science?["open_hours"] as? String == "00:00-24:00" && science?["time_zone"] as? String == "UTC")

            // t0 is Saturday 2025-10-11 12:00Z, 14:00 in Berlin (UTC+2): open 10:00–16:00 local.
            let student = try await client.login("S2021004")
            let inside = try await client.call(.post, "/reservations", token: student, json: booking(5, t0, t0 + 3_600))
            #expect(inside.status == .created, "\(inside.text)")
            let late = try await client.call(
                .post, "/reservations", token: student, json: booking(6, t0 + 2 * 3_600, t0 + 3 * 3_600))
            #expect(late.status == .badRequest && late.code == "outside_opening_hours", "\(late.text)")
            // Sunday: closed all day. Monday 09:00 local is 07:00Z; 12:00–13:00 local is lunch.
            let sunday = try await client.call(
                .post, "/reservations", token: student, json: booking(6, t0 + 86_400, t0 + 86_400 + 3_600))
            #expect(sunday.code == "outside_opening_hours")
            let monday = t0 - 12 * 3_600 + 2 * 86_400
            let lunch = try await client.call(
                .post, "/reservations", token: student, json: booking(6, monday + 9 * 3_600, monday + 11 * 3_600))
            #expect(lunch.code == "outside_opening_hours", "\(lunch.text)")
            let other = try await client.login("S2021006")
            let morning = try await client.call(
                .post, "/reservations", token: other, json: booking(6, monday + 7 * 3_600, monday + 9 * 3_600))
            #expect(morning.status == .created, "\(morning.text)")
            // Seats of other branches are not affected.
            let science26 = try await client.call(
                .post, "/reservations", token: try await client.login("S2021007"),
                json: booking(27, t0 + 86_400, t0 + 86_400 + 3_600))
            #expect(science26.status == .created, "\(science26.text)")

            // Back to around the clock.
            let always = try await client.call(
                .put, "/admin/branches/Main%20Library/hours", token: admin,
                json: #"{"time_zone": "UTC", "hours": "always"}"#)
            #expect(always.status == .ok && always.json["open_hours"] as? String == "00:00-24:00")
        }
    }

    @Test func badHoursAreRefusedClearly() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021001")
            let path = "/admin/branches/Main%20Library/hours"
            #expect(try await client.call(.put, path, token: student, json: Self.berlinWeek).status == .forbidden)
            #expect(try await client.call(.put, path, json: Self.berlinWeek).status == .unauthorized)
            let unknown = try await client.call(
                .put, "/admin/branches/Nowhere/hours", token: admin, json: Self.berlinWeek)
            #expect(unknown.status == .notFound && unknown.code == "not_found")
            for body in [
                #"{"time_zone": "Mars/Olympus", "hours": "always"}"#,
                #"{"time_zone": "GMT+5", "hours": "always"}"#,
                #"{"hours": "always"}"#,
                #"{"time_zone": "UTC"}"#,
                #"{"time_zone": "UTC", "hours": "sometimes"}"#,
                #"{"time_zone": "UTC", "hours": {"monday": []}}"#,
                #"{"time_zone": "UTC", "hours": {"funday": []}}"#,
                Self.berlinWeek.replacingOccurrences(of: "10:00-16:00", with: "16:00-10:00"),
                Self.berlinWeek.replacingOccurrences(of: "10:00-16:00", with: "25:00-26:00"),
                Self.berlinWeek.replacingOccurrences(of: "10:00-16:00", with: "10:00-16:00\", \"15:00-17:00"),
                Self.berlinWeek.replacingOccurrences(of: "10:00-16:00", with: "10-16"),
            ] {
                let r = try await client.call(.put, path, token: admin, json: body)
                #expect(r.status == .badRequest && r.code == "bad_request", "\(body): \(r.text)")
                #expect(r.json["error"] as? String != nil)
            }
            // Nothing changed.
            let branches = try await client.call(.get, "/branches", token: admin).json["branches"] as? [[String: Any]]
            #expect(branches?.first?["open_hours"] as? String == "00:00-24:00")
        }
    }

    /// The hours are a journal record: they are there after a restart.
    @Test func hoursSurviveARestart() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let config = testConfiguration(dir)
        var service = try await DLSMSServer.makeNode(
            config, clock: ManualClock(t0), logger: Logger(label: "test"), announce: { _ in })
        try await Application(router: DLSMSServer.makeRouter(service)).test(.router) { client in
            let admin = try await client.login("admin", "admin-password")
            let set = try await client.call(
                .put, "/admin/branches/Science%20Library/hours", token: admin, json: Self.berlinWeek)
            #expect(set.status == .ok)
        }
        await service.durable.close(finalSnapshot: false)  // recovery replays the WAL
        service = try await DLSMSServer.makeNode(
            config, clock: ManualClock(t0), logger: Logger(label: "test"), announce: { _ in })
        let science = service.engine.branch(named: "Science Library")
        #expect(science?.timeZone == "Europe/Berlin")
        #expect(science?.openingHours.periods(weekday: 5) == [OpeningPeriod(open: 600, close: 960)])
        #expect(science?.openingHours.periods(weekday: 6) == [])
        await service.durable.close(finalSnapshot: true)
        service = try await DLSMSServer.makeNode(
            config, clock: ManualClock(t0), logger: Logger(label: "test"), announce: { _ in })
        #expect(service.engine.branch(named: "Science Library")?.openingHours.periods(weekday: 0).count == 2)
        await service.durable.close(finalSnapshot: false)
    }

    @Test func branchesAndSeatsAreCreatedAndChanged() async throws {
        try await withService { client, service, _ in
            let admin = try await client.login("admin", "admin-password")
            let created = try await client.call(
                .post, "/admin/branches", token: admin,
                json: #"{"name": "City Library", "areas": ["Reading Room"], "time_zone": "Australia/Sydney"}"#)
            #expect(created.status == .created, "\(created.text)")
            #expect(
                created.json["time_zone"] as? String == "Australia/Sydney" && created.json["total_seats"] as? Int == 0)
            let again = try await client.call(
                .post, "/admin/branches", token: admin, json: #"{"name": "City Library"}"#)
            #expect(again.status == .conflict && again.code == "duplicate_branch")
            for bad in [
                #"{"name": ""}"#, #"{"name": "a/b"}"#, #"{}"#, #"{"name": "X", "time_zone": "Nowhere"}"#,
                #"{"name": "X", "areas": ["A", "A"]}"#,
            ] {
                let r = try await client.call(.post, "/admin/branches", token: admin, json: bad)
                #expect(r.status == .badRequest, "\(bad): \(r.text)")
            }

            // A seat in a new area: the area joins the branch.
            let seat = try await client.call(
                .post, "/admin/seats", token: admin,
                json: #"""
                    {"branch": "City Library", "area": "Quiet Room", "label": "Q-001", "has_power": true,
                     "accessible": true, "notes": "by the window", "x": 3, "y": 4}
                    """#)
            #expect(seat.status == .created, "\(seat.text)")
            #expect(seat.json["id"] as? Int == 51 && seat.json["label"] as? String == "Q-001")
            #expect(
                seat.json["accessible"] as? Bool == true && seat.json["x"] as? Int == 3 && seat.json["y"] as? Int == 4)
            #expect(service.engine.branch(named: "City Library")?.areas == ["Reading Room", "Quiet Room"])
            let seed = try await client.call(.get, "/seats/10", token: admin)
            #expect(seed.json["label"] as? String == "10" && seed.json["accessible"] as? Bool == false)
            let accessible = try await client.call(
                .get, "/seats?accessible=true&available_only=false", token: admin)
            #expect((accessible.json["seats"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [51])

            for (bad, status, code) in [
                (#"{"id": 51, "branch": "City Library", "area": "A"}"#, HTTPResponse.Status.conflict, "duplicate_seat"),
                (#"{"branch": "Nowhere", "area": "A"}"#, .notFound, "not_found"),
                (#"{"branch": "City Library"}"#, .badRequest, "bad_request"),
                (#"{"branch": "City Library", "area": "A", "x": 20000}"#, .badRequest, "bad_request"),
                (#"{"branch": "City Library", "area": "A", "id": 0}"#, .badRequest, "bad_request"),
                (#"{"branch": "City Library", "area": "A", "label": "a\u0007b"}"#, .badRequest, "bad_request"),
            ] {
                let r = try await client.call(.post, "/admin/seats", token: admin, json: bad)
                #expect(r.status == status && r.code == code, "\(bad): \(r.text)")
            }

            // Changes keep what they do not name; null clears a position.
            let changed = try await client.call(
                .patch, "/admin/seats/51", token: admin, json: #"{"label": "Q-002", "x": null, "area": "Reading Room"}"#
            )
            #expect(changed.status == .ok, "\(changed.text)")
            #expect(changed.json["label"] as? String == "Q-002" && changed.json["x"] is NSNull)
            #expect(changed.json["y"] as? Int == 4 && changed.json["notes"] as? String == "by the window")
            #expect(changed.json["area"] as? String == "Reading Room" && changed.json["has_power"] as? Bool == true)
            let move = try await client.call(
                .patch, "/admin/seats/51", token: admin, json: #"{"branch": "Main Library"}"#)
            #expect(move.status == .badRequest)
            #expect(try await client.call(.patch, "/admin/seats/999", token: admin, json: "{}").status == .notFound)
            let student = try await client.login("S2021001")
            #expect(try await client.call(.patch, "/admin/seats/51", token: student, json: "{}").status == .forbidden)
            #expect(
                try await client.call(.post, "/admin/branches", token: student, json: #"{"name": "Y"}"#).status
                    == .forbidden)
        }
    }

    /// Concurrent creations get distinct ids; concurrent edits and maintenance changes never undo
    /// each other.
    @Test func concurrentCatalogChanges() async throws {
        try await withService { client, service, _ in
            let admin = try await client.login("admin", "admin-password")
            let ids = try await withThrowingTaskGroup(of: Int?.self) { group in
                for k in 0..<20 {
                    group.addTask {
                        let r = try await client.call(
                            .post, "/admin/seats", token: admin,
                            json: #"{"branch": "Science Library", "area": "Lab \#(k % 3)"}"#)
                        return r.json["id"] as? Int
                    }
                }
                return try await group.reduce(into: [Int?]()) { $0.append($1) }
            }
            #expect(Set(ids.compactMap { $0 }) == Set(51...70))
            let areas = Set(service.engine.branch(named: "Science Library")?.areas ?? [])
            #expect(areas.isSuperset(of: ["Lab 0", "Lab 1", "Lab 2"]))
            for round in 0..<20 {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { _ = try await service.engine.update(seat: 51) { $0.label = "L\(round)" } }
                    group.addTask { _ = try await service.engine.setMaintenance(seat: 51, round % 2 == 0) }
                    try await group.waitForAll()
                }
                let (view, _) = try await service.engine.seat(51, start: t0, end: t0 + 1)
                #expect(view.seat.label == "L\(round)" && view.seat.inMaintenance == (round % 2 == 0))
            }
        }
    }

    /// Retiring a seat with upcoming reservations is refused with how many, unless asked to
    /// cancel them: then each holder is notified, the seat disappears from listings and cannot be
    /// booked, and the freed time goes to nobody on the waitlist.
    @Test func retiringASeat() async throws {
        try await withService { client, service, _ in
            let admin = try await client.login("admin", "admin-password")
            let alice = try await client.login("S2021001")
            let bob = try await client.login("S2021002")
            let a = try await client.call(
                .post, "/reservations", token: alice, json: booking(12, t0 + 3_600, t0 + 7_200))
            let b = try await client.call(
                .post, "/reservations", token: bob, json: booking(12, t0 + 8 * 3_600, t0 + 9 * 3_600))
            #expect(a.status == .created && b.status == .created)
            let waiting = try await client.call(
                .post, "/waitlist", token: try await client.login("S2021009"),
                json: #"{"seat_id": 12, "desired_time": "\#(iso(t0 + 3_600))"}"#)
            #expect(waiting.status == .created)

            let refused = try await client.call(.delete, "/admin/seats/12", token: admin)
            #expect(refused.status == .conflict && refused.code == "has_reservations", "\(refused.text)")
            #expect((refused.json["error"] as? String)?.hasPrefix("2 upcoming reservations") == true)
            #expect(try await client.call(.get, "/seats/12", token: alice).status == .ok)

            let retired = try await client.call(
                .delete, "/admin/seats/12?cancel_reservations=true&reason=water%20damage", token: admin)
            #expect(retired.status == .ok, "\(retired.text)")
            let cancelled = retired.json["cancelled"] as? [[String: Any]] ?? []
            #expect(cancelled.count == 2 && cancelled.allSatisfy { $0["status"] as? String == "CANCELLED" })
            for (user, token) in [(1, alice), (2, bob)] {
                let notes = try await client.call(.get, "/notifications", token: token).json["notifications"]
                let last = (notes as? [[String: Any]])?.last
                #expect(last?["type"] as? String == "reservation_cancelled", "user \(user)")
                #expect((last?["message"] as? String)?.contains("water damage") == true)
            }
            // Nobody on the waitlist was offered the retired seat; the entry for it is cancelled, and
            // its student told why.
            #expect(service.engine.notifications.list(user: 9).allSatisfy { $0.kind != .seatOffered })
            #expect(service.engine.waitlist(of: 9).first?.entry.status == .cancelled)
            #expect(service.engine.notifications.list(user: 9).last?.kind == .reservationCancelled)
            #expect(try await client.call(.get, "/seats/12", token: alice).status == .notFound)
            let seats = try await client.call(.get, "/seats?available_only=false", token: alice)
            #expect(!((seats.json["seats"] as? [[String: Any]])?.contains { $0["id"] as? Int == 12 } ?? true))
            #expect(seats.json["count"] as? Int == 49)
            let again = try await client.call(
                .post, "/reservations", token: bob, json: booking(12, t0 + 10 * 3_600, t0 + 11 * 3_600))
            #expect(again.status == .notFound)
            #expect(try await client.call(.delete, "/admin/seats/12", token: admin).status == .notFound)
            // A free seat retires at once; a reason must be text.
            #expect(try await client.call(.delete, "/admin/seats/13", token: admin).status == .ok)
            let badReason = try await client.call(.delete, "/admin/seats/14?reason=%07", token: admin)
            #expect(badReason.status == .badRequest)
            #expect(try await client.call(.delete, "/admin/seats/14", token: alice).status == .forbidden)
            // Nothing brings a retired seat back or lets it be waited for.
            let back = try await client.call(
                .put, "/admin/seats/12/maintenance", token: admin, json: #"{"maintenance": false}"#)
            #expect(back.status == .notFound)
            #expect(
                try await client.call(.patch, "/admin/seats/12", token: admin, json: #"{"label": "x"}"#).status
                    == .notFound)
            let wait = try await client.call(
                .post, "/waitlist", token: alice, json: #"{"seat_id": 12, "desired_time": "\#(iso(t0 + 5 * 3_600))"}"#)
            #expect(wait.status == .notFound)
            let stats = try await client.call(.get, "/admin/stats", token: admin).json["branches"] as? [[String: Any]]
            #expect(stats?.first { $0["branch"] as? String == "Main Library" }?["seats"] as? Int == 23)
        }
    }

    /// What an outside review found: each stays fixed.
    @Test func reviewFindings() async throws {
        try await withService { client, service, _ in
            let admin = try await client.login("admin", "admin-password")
            // A refused change adds no area: a duplicate id, a retired seat.
            let dup = try await client.call(
                .post, "/admin/seats", token: admin, json: #"{"id": 1, "branch": "Main Library", "area": "Phantom"}"#)
            #expect(dup.status == .conflict)
            #expect(try await client.call(.delete, "/admin/seats/5", token: admin).status == .ok)
            let ghost = try await client.call(.patch, "/admin/seats/5", token: admin, json: #"{"area": "Ghost"}"#)
            #expect(ghost.status == .notFound)
            #expect(service.engine.branch(named: "Main Library")?.areas == ["Silent Study Zone", "Group Study Zone"])

            // Time zones by their database names, not offsets; hours digits only.
            for zone in ["Asia/Kolkata", "Etc/UTC", "EST5EDT", "America/Argentina/Buenos_Aires"] {
                let r = try await client.call(
                    .put, "/admin/branches/Science%20Library/hours", token: admin,
                    json: #"{"time_zone": "\#(zone)", "hours": "always"}"#)
                #expect(r.status == .ok, "\(zone): \(r.text)")
            }
            for zone in ["GMT+5", "+02:00", "UTC-3", "Europe/Nowhere", "../etc/passwd"] {
                let r = try await client.call(
                    .put, "/admin/branches/Science%20Library/hours", token: admin,
                    json: #"{"time_zone": "\#(zone)", "hours": "always"}"#)
                #expect(r.status == .badRequest, "\(zone): \(r.text)")
            }
            let plus = try await client.call(
                .put, "/admin/branches/Science%20Library/hours", token: admin,
                json: Self.berlinWeek.replacingOccurrences(of: "10:00-16:00", with: "+8:00-12:00"))
            #expect(plus.status == .badRequest)

            // Names that would look like another: refused.
            for name in ["Main Library ", " Main Library", "Main\\u200fLibrary", "\\ufeff"] {
                let r = try await client.call(.post, "/admin/branches", token: admin, json: #"{"name": "\#(name)"}"#)
                #expect(r.status == .badRequest, "\(name): \(r.text)")
            }

            // A seat search honours the branch's hours: Sunday closed, nothing available then.
            #expect(
                try await client.call(.put, "/admin/branches/Main%20Library/hours", token: admin, json: Self.berlinWeek)
                    .status == .ok)
            let sunday = t0 + 86_400  // Sunday 12:00Z
            let closed = try await client.call(
                .get, "/seats?branch=Main%20Library&start_time=\(iso(sunday))&end_time=\(iso(sunday + 3_600))",
                token: admin)
            #expect(closed.json["count"] as? Int == 0, "\(closed.text)")
            let open = try await client.call(
                .get, "/seats?branch=Main%20Library&start_time=\(iso(t0))&end_time=\(iso(t0 + 3_600))", token: admin)
            #expect((open.json["count"] as? Int ?? 0) > 0)
            // And so does the branch's count of seats free now (t0: Saturday 14:00 in Berlin, open).
            let branches = try await client.call(.get, "/branches", token: admin).json["branches"] as? [[String: Any]]
            #expect(
                (branches?.first { $0["branch"] as? String == "Main Library" }?["available_seats"] as? Int ?? 0) > 0)
            let sundayHours = Self.berlinWeek.replacingOccurrences(
                of: #""saturday": ["10:00-16:00"]"#, with: #""saturday": []"#)
            #expect(
                try await client.call(.put, "/admin/branches/Main%20Library/hours", token: admin, json: sundayHours)
                    .status == .ok)
            let closedNow = try await client.call(.get, "/branches", token: admin).json["branches"] as? [[String: Any]]
            #expect(closedNow?.first { $0["branch"] as? String == "Main Library" }?["available_seats"] as? Int == 0)
        }
    }

    /// A branch takes at most 200 areas (the record format allows 1,000: a restart never fails).
    @Test func areasAreBounded() async throws {
        try await withService { client, service, _ in
            let admin = try await client.login("admin", "admin-password")
            #expect(
                try await client.call(.post, "/admin/branches", token: admin, json: #"{"name": "Annex"}"#).status
                    == .created)
            for k in 0..<Branch.maxAreas {
                _ = try await service.engine.create(
                    seat: Seat(id: 0, branch: "Annex", area: "Area \(k)", hasPower: false, hasMonitor: false))
            }
            let more = try await client.call(
                .post, "/admin/seats", token: admin, json: #"{"branch": "Annex", "area": "One too many"}"#)
            #expect(more.status == .badRequest, "\(more.text)")
            let reuse = try await client.call(
                .post, "/admin/seats", token: admin, json: #"{"branch": "Annex", "area": "Area 7"}"#)
            #expect(reuse.status == .created)
            #expect(service.engine.branch(named: "Annex")?.areas.count == Branch.maxAreas)
        }
    }

    @Test func retiringAnArea() async throws {
        try await withService { client, service, _ in
            let admin = try await client.login("admin", "admin-password")
            let bob = try await client.login("S2021002")
            let held = try await client.call(
                .post, "/reservations", token: bob, json: booking(20, t0 + 5 * 3_600, t0 + 6 * 3_600))
            #expect(held.status == .created)
            let path = "/admin/branches/Main%20Library/areas/Group%20Study%20Zone"
            let refused = try await client.call(.delete, path, token: admin)
            // Bob's booking on seat 20 holds the area (the demo bookings are in the other area).
            #expect(refused.status == .conflict && refused.code == "has_reservations", "\(refused.text)")
            #expect(try await client.call(.get, "/seats/20", token: bob).status == .ok)
            let done = try await client.call(.delete, path + "?cancel_reservations=true", token: admin)
            #expect(done.status == .ok, "\(done.text)")
            #expect(done.json["seats_retired"] as? [Int] == Array(16...25))
            #expect((done.json["cancelled"] as? [[String: Any]])?.count == 1)
            #expect(service.engine.branch(named: "Main Library")?.areas == ["Silent Study Zone"])
            let seats = try await client.call(.get, "/seats?branch=Main%20Library&available_only=false", token: bob)
            #expect(seats.json["count"] as? Int == 15)
            #expect(try await client.call(.delete, path, token: admin).status == .notFound)
            #expect(
                try await client.call(.delete, "/admin/branches/Nowhere/areas/A", token: admin).status == .notFound)
            #expect(try await client.call(.delete, path, token: bob).status == .forbidden)
        }
    }
}
