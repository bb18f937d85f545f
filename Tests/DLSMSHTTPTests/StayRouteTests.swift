import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import DLSMSApp
@testable import DLSMSHTTP

/// Extend, away and back, move, series and seats together through REST, with their errors.
@Suite struct StayRouteTests {
    @Test func extendAwayBackAndMove() async throws {
        try await withService { client, _, clock in
            let token = try await client.login("S2021001")
            let other = try await client.login("S2021002")
            let r = try await client.call(.post, "/reservations", token: token, json: booking(10, t0, t0 + 3_600))
            let id = try #require(r.json["id"] as? Int)
            let longer = try await client.call(
                .post, "/reservations/\(id)/extend", token: token,
                json: #"{"end_time":"\#(RFC3339.format(t0 + 2 * 3_600))"}"#)
            #expect(longer.status == .ok && longer.json["end_time"] as? String == RFC3339.format(t0 + 2 * 3_600))
            let cases: [(String, String, HTTPResponse.Status, String)] = [
                ("/reservations/\(id)/extend", #"{"end_time":"nonsense"}"#, .badRequest, "bad_request"),
                ("/reservations/\(id)/extend", #"{}"#, .badRequest, "bad_request"),
                (
                    "/reservations/\(id)/extend", #"{"end_time":"\#(RFC3339.format(t0 + 9 * 3_600))"}"#, .badRequest,
                    "too_long"
                ),
                (
                    "/reservations/\(id)/extend", #"{"end_time":"\#(RFC3339.format(t0 + 3_600))"}"#, .badRequest,
                    "bad_request"
                ),
                (
                    "/reservations/\(id)/extend", #"{"end_time":"\#(RFC3339.format(t0 + 3 * 3_600))","override":true}"#,
                    .forbidden, "forbidden"
                ),
                ("/reservations/\(id)/away", "", .badRequest, "invalid_state"),  // not checked in
                ("/reservations/\(id)/back", "", .badRequest, "invalid_state"),
                ("/reservations/\(id)/move", #"{"seat_id":"x"}"#, .badRequest, "bad_request"),
                ("/reservations/\(id)/move", #"{"seat_id":99999}"#, .notFound, "not_found"),
                ("/reservations/\(id)/move", #"{"seat_id":10}"#, .badRequest, "bad_request"),
                ("/reservations/99999999/move", #"{"seat_id":11}"#, .notFound, "not_found"),
                ("/reservations/abc/extend", #"{}"#, .badRequest, "bad_request"),
            ]
            for (path, body, status, code) in cases {
                let e = try await client.call(.post, path, token: token, json: body.isEmpty ? nil : body)
                #expect(e.status == status && e.code == code, "\(path) \(body): \(e.text)")
            }
            // Someone else's reservation: not found for them.
            let theirs = try await client.call(
                .post, "/reservations/\(id)/extend", token: other,
                json: #"{"end_time":"\#(RFC3339.format(t0 + 3 * 3_600))"}"#)
            #expect(theirs.status == .notFound)
            // Check in, step away, the seat stays theirs; back.
            _ = try await client.call(.post, "/reservations/\(id)/checkin", token: token)
            let away = try await client.call(.post, "/reservations/\(id)/away", token: token)
            #expect(away.status == .ok && away.json["away_until"] as? String == RFC3339.format(t0 + 30 * 60))
            // The map says the seat's holder is away now (the seat stays taken); others have no such field.
            let seats = try await client.call(.get, "/seats?branch=Main%20Library&available_only=false", token: other)
            let listed = (seats.json["seats"] as? [[String: Any]]) ?? []
            #expect(listed.first { $0["id"] as? Int == 10 }?["away"] as? Bool == true)
            #expect(listed.filter { $0["away"] != nil }.count == 1)
            let one = try await client.call(.get, "/seats/10", token: other)
            #expect(one.json["away"] as? Bool == true && one.json["status"] as? String == "OCCUPIED")
            let back = try await client.call(.post, "/reservations/\(id)/back", token: token)
            #expect(back.status == .ok && back.json["away_until"] == nil && back.json["away_count"] as? Int == 1)
            // Move the stay under way to seat 11: the old one completes now, the new one is checked in.
            clock.set(t0 + 600)
            let moved = try await client.call(.post, "/reservations/\(id)/move", token: token, json: #"{"seat_id":11}"#)
            let new = moved.json["reservation"] as? [String: Any]
            let previous = moved.json["previous"] as? [String: Any]
            #expect(moved.status == .ok && new?["seat_id"] as? Int == 11 && new?["status"] as? String == "CHECKED_IN")
            #expect(new?["moved_from"] as? Int == id && previous?["status"] as? String == "COMPLETED")
            // Seat 10 is free from now, seat 11 is not.
            let free = try await client.call(
                .post, "/reservations", token: other, json: booking(10, t0 + 600, t0 + 3_600))
            #expect(free.status == .created)
            let taken = try await client.call(
                .post, "/reservations", token: other, json: booking(11, t0 + 3_600, t0 + 5_400))
            #expect(taken.status == .conflict && taken.code == "seat_conflict")
        }
    }

    @Test func seriesAndGroupsAndSeatsTogether() async throws {
        try await withService { client, _, _ in
            let token = try await client.login("S2021003")
            let start = t0 + 24 * 3_600
            let weekday = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"][
                Calendar(identifier: .gregorian).component(
                    .weekday, from: Date(timeIntervalSince1970: TimeInterval(start))) - 1]
            let body =
                #"{"seat_id":20,"start_time":"\#(RFC3339.format(start))","end_time":"\#(RFC3339.format(start + 3_600))","weekdays":["\#(weekday)"],"until":"\#(RFC3339.format(start + 21 * 86_400))"}"#
            let series = try await client.call(.post, "/reservations/series", token: token, json: body)
            // 14 days ahead at most: the first two dates booked, the third too far ahead.
            #expect(
                series.status == .created && series.json["booked"] as? Int == 2 && series.json["refused"] as? Int == 2,
                "\(series.text)")
            let instances = series.json["instances"] as? [[String: Any]] ?? []
            #expect(instances.last?["code"] as? String == "too_far_ahead")
            let seriesID = try #require(series.json["series_id"] as? Int)
            let again = try await client.call(.post, "/reservations/series", token: token, json: body)
            #expect(again.status == .conflict && again.code == "nothing_booked")
            for bad in [
                #"{"seat_id":20}"#,
                #"{"seat_id":20,"start_time":"\#(RFC3339.format(start))","end_time":"\#(RFC3339.format(start + 3_600))","weekdays":["XX"],"until":"2030-01-01"}"#,
                #"{"seat_id":20,"start_time":"\#(RFC3339.format(start))","end_time":"\#(RFC3339.format(start + 3_600))","weekdays":[],"until":"2030-01-01"}"#,
                #"{"seat_id":20,"start_time":"\#(RFC3339.format(start))","end_time":"\#(RFC3339.format(start + 3_600))","weekdays":["MO"],"until":"soon"}"#,
                #"{"seat_id":20,"start_time":"\#(RFC3339.format(start))","end_time":"\#(RFC3339.format(start + 3_600))","weekdays":["MO","TU","WE","TH","FR","SA","SU"],"until":"2099-01-01"}"#,
            ] {
                let e = try await client.call(.post, "/reservations/series", token: token, json: bad)
                #expect(e.status == .badRequest, "\(bad): \(e.text)")
            }
            let cancelled = try await client.call(
                .delete, "/reservations/series/\(seriesID)?from=\(RFC3339.format(start + 86_400))", token: token)
            #expect(cancelled.status == .ok && cancelled.json["cancelled"] as? Int == 1, "\(cancelled.text)")
            // Seats together: options, then a group booking, all or nothing.
            let window = "start_time=\(RFC3339.format(start + 2 * 3_600))&end_time=\(RFC3339.format(start + 3 * 3_600))"
            let options = try await client.call(
                .get, "/seats/together?branch=Main%20Library&count=3&\(window)", token: token)
            let first = try #require((options.json["options"] as? [[String: Any]])?.first?["seat_ids"] as? [Int])
            #expect(first.count == 3)
            let group =
                #"{"seat_ids":\#(first),"start_time":"\#(RFC3339.format(start + 2 * 3_600))","end_time":"\#(RFC3339.format(start + 3 * 3_600))","members":["S2021003","S2021004","S2021005"]}"#
            let made = try await client.call(.post, "/reservations/group", token: token, json: group)
            let rs = made.json["reservations"] as? [[String: Any]] ?? []
            #expect(
                made.status == .created && rs.count == 3 && Set(rs.compactMap { $0["group_id"] as? Int }).count == 1)
            let clash = try await client.call(.post, "/reservations/group", token: token, json: group)
            #expect(clash.status == .conflict && clash.code == "seat_conflict")
            let outsider = try await client.login("S2021006")
            let notMine = try await client.call(.post, "/reservations/group", token: outsider, json: group)
            #expect(notMine.status == .forbidden)
            let member = try await client.login("S2021004")
            let list = try await client.call(.get, "/notifications", token: member)
            #expect(list.text.contains("booked_together"))
            for (query, status) in [
                ("branch=Main%20Library&count=1&\(window)", HTTPResponse.Status.badRequest),
                ("branch=Main%20Library&count=3", .badRequest), ("count=3&\(window)", .badRequest),
                ("branch=Nowhere&count=3&\(window)", .notFound),
            ] {
                let e = try await client.call(.get, "/seats/together?\(query)", token: token)
                #expect(e.status == status, "\(query): \(e.text)")
            }
            for bad in [
                #"{"seat_ids":[1,1],"start_time":"\#(RFC3339.format(start))","end_time":"\#(RFC3339.format(start + 3_600))","members":["S2021003","S2021004"]}"#,
                #"{"seat_ids":[1,2],"start_time":"\#(RFC3339.format(start))","end_time":"\#(RFC3339.format(start + 3_600))","members":["S2021003"]}"#,
                #"{"seat_ids":[1,2],"start_time":"\#(RFC3339.format(start))","end_time":"\#(RFC3339.format(start + 3_600))","members":["S2021003","S2021003"]}"#,
                #"{"seat_ids":[],"members":[]}"#,
            ] {
                let e = try await client.call(.post, "/reservations/group", token: token, json: bad)
                #expect(e.status == .badRequest, "\(bad): \(e.text)")
            }
            // A student cannot override, nor book for staff accounts.
            let overriding = try await client.call(
                .post, "/reservations/series", token: token,
                json: String(body.dropLast()) + #","override":true}"#)
            #expect(overriding.status == .forbidden, "\(overriding.text)")
            let withStaff = try await client.call(
                .post, "/reservations/group", token: token,
                json:
                    #"{"seat_ids":[1,2],"start_time":"\#(RFC3339.format(start))","end_time":"\#(RFC3339.format(start + 3_600))","members":["S2021003","admin"]}"#
            )
            #expect(withStaff.status == .notFound)
            let nobody = try await client.call(
                .post, "/reservations/group", token: token,
                json:
                    #"{"seat_ids":[1,2],"start_time":"\#(RFC3339.format(start))","end_time":"\#(RFC3339.format(start + 3_600))","members":["S2021003","NOPE"]}"#
            )
            #expect(nobody.status == .notFound)
        }
    }
}
