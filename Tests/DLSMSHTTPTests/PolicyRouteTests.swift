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
@testable import DLSMSHTTP

/// Rules per group through REST: policies, groups, restricted places in search and booking,
/// release times, strikes, booking on behalf, the per-student attempt bound.
@Suite struct PolicyRouteTests {
    static let groupStudy = "Main Library/Group Study Zone"

    @Test func aRestrictedAreaIsShownAndRefusedUntilTheStudentIsInTheGroup() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021004")
            let set = try await client.call(
                .put, "/admin/groups/pg/policy", token: admin,
                json: #"{"places": ["\#(Self.groupStudy)"], "max_upcoming": 5, "max_hours_per_day": 8}"#)
            #expect(set.status == .ok, "\(set.text)")
            #expect(set.json["max_upcoming"] as? Int == 5 && set.json["places"] as? [String] == [Self.groupStudy])

            let refused = try await client.call(
                .post, "/reservations", token: student, json: booking(17, t0 + 3_600, t0 + 7_200))
            #expect(refused.status == .forbidden && refused.code == "not_allowed_for_group", "\(refused.text)")
            #expect(refused.json["groups"] as? [String] == ["pg"])
            let seats = try await client.call(
                .get, "/seats?branch=Main%20Library&area=Group%20Study%20Zone&available_only=false", token: student)
            let listed = try #require(seats.json["seats"] as? [[String: Any]])
            #expect(
                !listed.isEmpty
                    && listed.allSatisfy {
                        $0["restricted_to"] as? [String] == ["pg"] && $0["allowed"] as? Bool == false
                    }, "\(seats.text.prefix(400))")
            let silent = try await client.call(
                .get, "/seats?branch=Main%20Library&area=Silent%20Study%20Zone", token: student)
            #expect((silent.json["seats"] as? [[String: Any]])?.allSatisfy { $0["restricted_to"] == nil } == true)

            let me = try await client.call(.get, "/auth/me", token: student).json
            let id = try #require(me["user_id"] as? Int ?? me["id"] as? Int)
            let given = try await client.call(
                .put, "/admin/users/\(id)/groups", token: admin, json: #"{"groups": ["pg", "night owls"]}"#)
            #expect(
                given.status == .ok && given.json["assigned"] as? [String] == ["night owls", "pg"], "\(given.text)")
            let booked = try await client.call(
                .post, "/reservations", token: student, json: booking(17, t0 + 3_600, t0 + 7_200))
            #expect(booked.status == .created, "\(booked.text)")

            let rules = try await client.call(.get, "/rules", token: student)
            #expect(rules.json["groups"] as? [String] == ["default", "night owls", "pg"], "\(rules.text)")
            #expect(rules.json["max_upcoming_per_student"] as? Int == 5 && rules.json["max_hours_per_day"] as? Int == 8)
            #expect(
                rules.json["places"] as? [String] == [Self.groupStudy]
                    && rules.json["server_time"] as? String == iso(t0))
            let anonymous = try await client.call(.get, "/rules")
            #expect(anonymous.json["max_upcoming_per_student"] as? Int == 3 && anonymous.json["groups"] == nil)
            #expect(try await client.call(.get, "/rules", token: "nonsense").status == .unauthorized)

            let groups = try await client.call(.get, "/admin/groups", token: admin)
            let listedGroups = (groups.json["groups"] as? [[String: Any]]) ?? []
            #expect(listedGroups.map { $0["group"] as? String } == ["night owls", "pg"], "\(groups.text)")
            #expect(listedGroups.first { $0["group"] as? String == "pg" }?["members"] as? Int == 1)
            let found = try await client.call(.get, "/admin/users?student_id=S2021004", token: admin)
            #expect((found.json["users"] as? [[String: Any]])?.map { $0["student_id"] as? String } == ["S2021004"])
            #expect(
                try await client.call(.get, "/admin/users?student_id=NOBODY", token: admin).json["total"] as? Int == 0)
            let one = try await client.call(.get, "/admin/groups/pg", token: admin)
            #expect((one.json["members"] as? [[String: Any]])?.first?["student_id"] as? String == "S2021004")
            #expect(try await client.call(.get, "/admin/groups/pg", token: student).status == .forbidden)
        }
    }

    @Test func badPoliciesAndGroupsGetClearErrors() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            for (body, needle) in [
                (#"{"max_hours": 3}"#, "unknown rule"), (#"{"max_hours_per_day": 30}"#, "between 1 and 24"),
                (#"{"max_upcoming": "many"}"#, "wrong type"), (#"{"features": ["projector"]}"#, "unknown feature"),
                (#"[1, 2]"#, "JSON object"),
            ] {
                let r = try await client.call(.put, "/admin/groups/pg/policy", token: admin, json: body)
                #expect(
                    r.status == .badRequest && (r.json["error"] as? String)?.contains(needle) == true,
                    "\(body): \(r.text)")
            }
            let badName = try await client.call(.put, "/admin/groups/a%22b/policy", token: admin, json: "{}")
            #expect(badName.status == .badRequest, "\(badName.text)")
            #expect(
                try await client.call(.put, "/admin/groups/%2E%2E/policy", token: admin, json: "{}").status
                    == .badRequest)
            let nowhere = try await client.call(
                .put, "/admin/groups/pg/policy", token: admin, json: #"{"places": ["Main Library/Nope"]}"#)
            #expect(
                nowhere.status == .badRequest && (nowhere.json["error"] as? String)?.contains("unknown place") == true)
            for typo in ["Main Library/", "/Group Study Zone", "Main Library//"] {
                let r = try await client.call(
                    .put, "/admin/groups/pg/policy", token: admin, json: #"{"places": ["\#(typo)"]}"#)
                #expect(r.status == .badRequest && r.text.contains("unknown place"), "\(typo): \(r.text)")
            }
            let commas = try await client.call(.post, "/admin/groups/import", token: admin, json: ",\n")
            #expect(commas.status == .badRequest, "\(commas.text)")
            #expect(try await client.call(.delete, "/admin/groups/none/policy", token: admin).status == .notFound)
            let tooMany = (0..<65).map { "\"g\($0)\"" }.joined(separator: ",")
            let r = try await client.call(
                .put, "/admin/users/1/groups", token: admin, json: #"{"groups": [\#(tooMany)]}"#)
            #expect(r.status == .badRequest, "\(r.text)")
            #expect(
                try await client.call(.put, "/admin/users/999/groups", token: admin, json: #"{"groups": []}"#).status
                    == .notFound)
            // CSV import: all lines or none, each wrong line named.
            let bad = try await client.call(
                .post, "/admin/groups/import", token: admin,
                json: "student_id,group\nS2021001,pg\nNOBODY,pg\nS2021002\n")
            #expect(bad.status == .badRequest, "\(bad.text)")
            let why = bad.json["error"] as? String ?? ""
            #expect(why.contains("line 3") && why.contains("line 4"), "\(why)")
            #expect(try await client.call(.get, "/admin/groups", token: admin).json["count"] as? Int == 0)
            // Blank lines are skipped wherever they are, and the lines after them keep their numbers.
            let blanks = try await client.call(
                .post, "/admin/groups/import", token: admin, json: "student_id,group\n\nS2021001,pg\n \r\n\nNOBODY,pg\n"
            )
            #expect(blanks.status == .badRequest && blanks.text.contains("line 6"), "\(blanks.text)")
            let good = try await client.call(
                .post, "/admin/groups/import", token: admin,
                json: "student_id,group\nS2021001,pg\n\nS2021002,pg\r\n\r\nS2021001,pg\n")
            #expect(good.status == .ok && good.json["added"] as? Int == 2, "\(good.text)")
        }
    }

    @Test func releaseTimeRefusesEarlyBookingsAndShowsTheOpening() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021006")
            let bad = try await client.call(
                .put, "/admin/branches/Main%20Library/release", token: admin,
                json: #"{"days_before": 1, "time": "7am"}"#)
            #expect(bad.status == .badRequest, "\(bad.text)")
            let set = try await client.call(
                .put, "/admin/branches/Main%20Library/release", token: admin,
                json: #"{"days_before": 1, "time": "07:00"}"#)
            #expect(set.status == .ok, "\(set.text)")
            #expect((set.json["release"] as? [String: Any])?["time"] as? String == "07:00")
            // t0 is 12:00 UTC: tomorrow's seats opened at 07:00 today, the day after's open tomorrow.
            let tomorrow = t0 + 22 * 3_600
            #expect(
                try await client.call(
                    .post, "/reservations", token: student, json: booking(6, tomorrow, tomorrow + 3_600)
                ).status == .created)
            let later = t0 + 46 * 3_600
            let early = try await client.call(
                .post, "/reservations", token: student, json: booking(6, later, later + 3_600))
            #expect(early.status == .conflict && early.code == "not_open_yet", "\(early.text)")
            #expect(early.json["opens_at"] as? String == iso(t0 + 19 * 3_600))
            let rules = try await client.call(
                .get, "/rules?branch=Main%20Library&start_time=\(iso(later))", token: student)
            let release = rules.json["release"] as? [String: Any]
            #expect(
                release?["opens_at"] as? String == iso(t0 + 19 * 3_600) && release?["days_before"] as? Int == 1,
                "\(rules.text)")
            #expect(try await client.call(.get, "/rules?branch=Nowhere").status == .notFound)
            let removed = try await client.call(.delete, "/admin/branches/Main%20Library/release", token: admin)
            #expect(removed.status == .ok && removed.json["release"] is NSNull, "\(removed.text)")
            #expect(
                try await client.call(.post, "/reservations", token: student, json: booking(6, later, later + 3_600))
                    .status == .created)
        }
    }

    @Test func strikesThroughREST() async throws {
        try await withService { client, service, clock in
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021007")
            #expect(
                (try await client.call(.get, "/me/strikes", token: student).json["strikes"] as? [Any])?.isEmpty == true)
            let booked = try await client.call(
                .post, "/reservations", token: student, json: booking(8, t0 + 300, t0 + 3_900))
            #expect(booked.status == .created)
            clock.advance(by: 30 * 60)
            _ = await service.engine.sweep(now: clock.now())
            let mine = try await client.call(.get, "/me/strikes", token: student)
            let strikes = try #require(mine.json["strikes"] as? [[String: Any]])
            #expect(
                strikes.count == 1 && strikes[0]["reason"] as? String == "no_show" && mine.json["live"] as? Int == 1,
                "\(mine.text)")
            #expect(mine.json["suspension"] is NSNull)
            let told =
                try await client.call(.get, "/notifications", token: student).json["notifications"] as? [[String: Any]]
            #expect(
                told?.contains { $0["type"] as? String == "strike_recorded" } == true, "\(String(describing: told))")
            let id = try #require(strikes[0]["id"] as? Int)
            let noReason = try await client.call(.delete, "/admin/strikes/\(id)", token: admin, json: "{}")
            #expect(noReason.status == .badRequest)
            let removed = try await client.call(
                .delete, "/admin/strikes/\(id)", token: admin, json: #"{"reason": "the lift was broken"}"#)
            #expect(
                removed.status == .ok
                    && (removed.json["removed"] as? [String: Any])?["reason"] as? String == "the lift was broken",
                "\(removed.text)")
            #expect(
                try await client.call(.delete, "/admin/strikes/\(id)", token: admin, json: #"{"reason": "again"}"#)
                    .status == .badRequest)
            #expect(
                try await client.call(.delete, "/admin/strikes/999", token: admin, json: #"{"reason": "x"}"#).status
                    == .notFound)
            let user = try #require(strikes[0]["user_id"] as? Int)
            let lift = try await client.call(
                .post, "/admin/users/\(user)/suspension/lift", token: admin, json: #"{"reason": "x"}"#)
            #expect(lift.status == .badRequest && lift.code == "invalid_state", "\(lift.text)")
            #expect(try await client.call(.get, "/admin/users/\(user)/strikes", token: student).status == .forbidden)
        }
    }

    @Test func staffBookOnBehalfAndTheStudentIsTold() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021008")
            let me = try await client.call(.get, "/auth/me", token: student).json
            let id = try #require(me["user_id"] as? Int ?? me["id"] as? Int)
            let body =
                #"{"seat_id": 9, "start_time": "\#(iso(t0 + 3_600))", "end_time": "\#(iso(t0 + 7_200))", "user_id": \#(id)}"#
            let made = try await client.call(.post, "/reservations", token: admin, json: body)
            #expect(made.status == .created && made.json["user_id"] as? Int == id, "\(made.text)")
            let told =
                try await client.call(.get, "/notifications", token: student).json["notifications"] as? [[String: Any]]
            #expect(told?.contains { $0["type"] as? String == "booked_by_staff" } == true)
            let other = try await client.login("S2021009")
            let notAllowed = try await client.call(.post, "/reservations", token: other, json: body)
            #expect(notAllowed.status == .forbidden, "\(notAllowed.text)")
            let override = try await client.call(
                .post, "/reservations", token: other,
                json:
                    #"{"seat_id": 10, "start_time": "\#(iso(t0 + 3_600))", "end_time": "\#(iso(t0 + 7_200))", "override": true}"#
            )
            #expect(override.status == .badRequest, "\(override.text)")
            let nobody = try await client.call(
                .post, "/reservations", token: admin,
                json:
                    #"{"seat_id": 10, "start_time": "\#(iso(t0 + 3_600))", "end_time": "\#(iso(t0 + 7_200))", "user_id": 99999}"#
            )
            #expect(nobody.status == .notFound, "\(nobody.text)")
        }
    }

    /// The 11th booking attempt of one student in the same instant is 429 with Retry-After,
    /// whatever the outcome of the first ten; a second later, five more.
    @Test func bookingAttemptsPerStudentAreBounded() async throws {
        try await withService { client, service, clock in
            let student = try await client.login("S2021010")
            var statuses: [Int] = []
            for i in 0..<11 {
                let r = try await client.call(
                    .post, "/reservations", token: student, json: booking(20 + i, t0 + 3_600, t0 + 7_200))
                statuses.append(Int(r.status.code))
                if i == 10 {
                    #expect(r.code == "rate_limited" && r.headers[.retryAfter] == "1", "\(r.text)")
                }
            }
            #expect(statuses.last == 429 && !statuses.dropLast().contains(429), "\(statuses)")
            // Another student is not affected.
            let other = try await client.login("S2021009")
            #expect(
                try await client.call(.post, "/reservations", token: other, json: booking(40, t0 + 3_600, t0 + 7_200))
                    .status != .tooManyRequests)
            // Staff booking on a student's behalf count against that student's bound, not staff's.
            let admin = try await client.login("admin", "admin-password")
            let exhausted = try #require(service.engine.user(studentID: "S2021010")?.id)
            let onBehalf = try await client.call(
                .post, "/reservations", token: admin,
                json:
                    #"{"seat_id": 42, "start_time": "\#(iso(t0 + 3_600))", "end_time": "\#(iso(t0 + 7_200))", "user_id": \#(exhausted)}"#
            )
            #expect(onBehalf.status == .tooManyRequests, "\(onBehalf.text)")
            let helped = try #require(service.engine.user(studentID: "S2021008")?.id)
            for k in 0..<10 {
                let start = t0 + Int64(k + 2) * 3_600
                let r = try await client.call(
                    .post, "/reservations", token: admin,
                    json:
                        #"{"seat_id": 43, "start_time": "\#(iso(start))", "end_time": "\#(iso(start + 1_800))", "user_id": \#(helped), "override": true}"#
                )
                #expect(r.status == .created, "\(k): \(r.text)")
            }
            let own = try await client.call(
                .post, "/reservations", token: admin, json: booking(44, t0 + 3_600, t0 + 7_200))
            #expect(own.status != .tooManyRequests, "\(own.text)")
            clock.advance(by: 1)
            let after = try await client.call(
                .post, "/reservations", token: student, json: booking(41, t0 + 3_600, t0 + 7_200))
            #expect(after.status != .tooManyRequests, "\(after.text)")
        }
    }
}
