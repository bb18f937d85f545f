import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import DLSMSHTTP

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
            for (body, why) in [
                (#"{"time_zone": "Mars/Olympus", "hours": "always"}"#, "not an IANA time zone"),
                (#"{"time_zone": "GMT+5", "hours": "always"}"#, "not an IANA time zone"),
                (#"{"hours": "always"}"#, "time_zone is required"),
                (#"{"time_zone": "UTC"}"#, "hours is required"),
                (#"{"time_zone": "UTC", "hours": "sometimes"}"#, "expected JSON"),
                (#"{"time_zone": "UTC", "hours": {"monday": []}}"#, "tuesday is missing"),
                (#"{"time_zone": "UTC", "hours": {"funday": []}}"#, "unknown weekday"),
                (Self.berlinWeek.replacingOccurrences(of: "10:00-16:00", with: "16:00-10:00"), "open before"),
                (Self.berlinWeek.replacingOccurrences(of: "10:00-16:00", with: "25:00-26:00"), "HH:MM-HH:MM"),
                (
                    Self.berlinWeek.replacingOccurrences(of: "10:00-16:00", with: "10:00-16:00\", \"15:00-17:00"),
                    "overlap"
                ),
                (Self.berlinWeek.replacingOccurrences(of: "10:00-16:00", with: "10-16"), "HH:MM-HH:MM"),
            ] {
                let r = try await client.call(.put, path, token: admin, json: body)
                #expect(r.status == .badRequest && r.code == "bad_request", "\(body): \(r.text)")
                #expect(r.json["error"] as? String != nil)
                _ = why
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
        var service = try await DLSMSServer.makeService(
            config, clock: ManualClock(t0), logger: Logger(label: "test"), announce: { _ in })
        try await Application(router: DLSMSServer.makeRouter(service)).test(.router) { client in
            let admin = try await client.login("admin", "admin-password")
            let set = try await client.call(
                .put, "/admin/branches/Science%20Library/hours", token: admin, json: Self.berlinWeek)
            #expect(set.status == .ok)
        }
        await service.durable.close(finalSnapshot: false)  // recovery replays the WAL
        service = try await DLSMSServer.makeService(
            config, clock: ManualClock(t0), logger: Logger(label: "test"), announce: { _ in })
        let science = service.engine.branch(named: "Science Library")
        #expect(science?.timeZone == "Europe/Berlin")
        #expect(science?.openingHours.periods(weekday: 5) == [OpeningPeriod(open: 600, close: 960)])
        #expect(science?.openingHours.periods(weekday: 6) == [])
        await service.durable.close(finalSnapshot: true)
        service = try await DLSMSServer.makeService(
            config, clock: ManualClock(t0), logger: Logger(label: "test"), announce: { _ in })
        #expect(service.engine.branch(named: "Science Library")?.openingHours.periods(weekday: 0).count == 2)
        await service.durable.close(finalSnapshot: false)
    }
}
