import DLSMSCore
import DLSMSEngine
import DLSMSHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite struct PublicRouteTests {
    @Test func healthOpenAPIAndMetrics() async throws {
        try await withService { client, _, _ in
            let health = try await client.call(.get, "/healthz")
            #expect(health.status == .ok && health.json["status"] as? String == "healthy")
            #expect(health.json["seats"] as? Int == 50 && health.json["reservations"] as? Int == 8)
            let doc = try await client.call(.get, "/openapi.yaml")
            #expect(
                doc.status == .ok && doc.text.hasPrefix("openapi: 3.1.0")
                    && doc.text.contains("/reservations/{id}/checkin"))
            _ = try await client.call(.get, "/healthz")
            let metrics = try await client.call(.get, "/metrics")
            #expect(
                metrics.status == .ok && metrics.text.contains("dlsms_http_requests_total")
                    && metrics.text.contains("dlsms_wal_last_batch_records"))
        }
    }

    @Test func unknownRoutesAre404sAndWrongMethods405s() async throws {
        try await withService { client, _, _ in
            for (method, uri) in [
                (HTTPRequest.Method.get, "/nope"), (.get, "/reservations/1/extra"), (.post, "/seats/1/busy"),
            ] {
                let r = try await client.call(method, uri)
                #expect(r.status == .notFound && r.code == "not_found", "\(method) \(uri): \(r.text)")
            }
            let patch = try await client.call(.patch, "/reservations")
            #expect(patch.status == .methodNotAllowed && patch.code == "method_not_allowed")
            #expect(patch.headers[.allow] == "POST, GET")
            let put = try await client.call(.put, "/reservations/7/checkin")
            #expect(put.status == .methodNotAllowed && put.headers[.allow] == "POST")
        }
    }

    @Test func loginAndItsErrors() async throws {
        try await withService { client, _, _ in
            let ok = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021001","password":"password123"}"#)
            #expect(ok.status == .ok)
            #expect(ok.json["token_type"] as? String == "Bearer" && ok.json["user_id"] as? Int == 1)
            #expect(ok.json["name"] as? String == "Alice Johnson" && ok.json["role"] as? String == "student")
            #expect((ok.json["expires_at"] as? String).flatMap(RFC3339.parse) == t0 + 24 * 3_600)
            let wrong = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021001","password":"nope-nope"}"#)
            let unknown = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S9999999","password":"nope-nope"}"#)
            #expect(wrong.status == .unauthorized && unknown.status == .unauthorized && wrong.text == unknown.text)
            #expect(try await client.call(.post, "/auth/login", json: "{nope").code == "bad_request")
            #expect(
                try await client.call(.post, "/auth/login", json: #"{"student_id":5,"password":"x"}"#).code
                    == "bad_request")
            #expect(
                try await client.call(.post, "/auth/login", json: #"{"student_id":"S2021001"}"#).code == "bad_request")
            #expect(try await client.call(.post, "/auth/login").code == "bad_request")
            let huge = try await client.call(
                .post, "/auth/login", json: #"{"student_id":""# + String(repeating: "x", count: 70_000) + #""}"#)
            #expect(huge.status == .contentTooLarge && huge.code == "payload_too_large")
            let admin = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"admin","password":"admin-password"}"#)
            #expect(admin.json["role"] as? String == "admin")
        }
    }

    @Test func failedLoginsAreRateLimited() async throws {
        try await withService { client, _, clock in
            for _ in 0..<5 {
                #expect(
                    try await client.call(
                        .post, "/auth/login", json: #"{"student_id":"S2021002","password":"wrong-one"}"#
                    ).status == .unauthorized)
            }
            let limited = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021002","password":"password123"}"#)
            #expect(limited.status == .tooManyRequests && limited.code == "rate_limited")
            #expect(limited.headers[.retryAfter] == "60")
            // Another student from the same address is not limited yet (the address allows 20).
            _ = try await client.login("S2021003")
            clock.advance(by: 61)
            _ = try await client.login("S2021002")
            // Per client address: 20 failures a minute, whatever the student ids.
            for n in 0..<20 {
                let r = try await client.call(
                    .post, "/auth/login", json: #"{"student_id":"X\#(n)","password":"wrong-one"}"#)
                #expect(r.status == .unauthorized)
            }
            let address = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021004","password":"password123"}"#)
            #expect(address.status == .tooManyRequests && address.headers[.retryAfter] != nil)
        }
    }

    @Test func registerAndItsErrors() async throws {
        try await withService { client, service, _ in
            let r = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"S2030001","password":"longenough","name":"Zoe"}"#)
            #expect(r.status == .created && r.json["user_id"] as? Int == 12 && r.json["name"] as? String == "Zoe")
            #expect(service.engine.user(studentID: "S2030001")?.passwordHash.hasPrefix("$2b$04$") == true)
            _ = try await client.login("S2030001", "longenough")
            #expect(
                try await client.call(
                    .post, "/auth/register", json: #"{"student_id":"S2030001","password":"longenough"}"#
                ).code == "duplicate_user")
            #expect(
                try await client.call(.post, "/auth/register", json: #"{"student_id":"S2030002","password":"short"}"#)
                    .code == "weak_password")
            #expect(
                try await client.call(.post, "/auth/register", json: #"{"student_id":"a b","password":"longenough"}"#)
                    .code == "bad_request")
        }
    }
}

@Suite struct AuthTests {
    @Test func tokensAreChecked() async throws {
        try await withService { client, _, clock in
            let token = try await client.login("S2021001")
            #expect(try await client.call(.get, "/auth/me", token: token).json["student_id"] as? String == "S2021001")
            #expect(try await client.call(.get, "/auth/me").status == .unauthorized)
            #expect(try await client.call(.get, "/auth/me", token: "garbage").status == .unauthorized)
            #expect(
                try await client.call(.get, "/auth/me", headers: [.authorization: "Basic abc"]).status == .unauthorized)
            // A changed signature, a changed payload, and alg: none.
            // Change a character in the middle of the signature (the last one carries padding bits,
            // so changing it may decode to the same signature).
            var chars = Array(token)
            let k = chars.count - 10
            chars[k] = chars[k] == "A" ? "B" : "A"
            let forged = String(chars)
            #expect(try await client.call(.get, "/auth/me", token: forged).status == .unauthorized)
            let parts = token.split(separator: ".")
            let noneHeader = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString().replacingOccurrences(
                of: "=", with: "")
            #expect(
                try await client.call(.get, "/auth/me", token: "\(noneHeader).\(parts[1]).").status == .unauthorized)
            let hs512 = Data(#"{"alg":"HS512","typ":"JWT"}"#.utf8).base64EncodedString().replacingOccurrences(
                of: "=", with: "")
            #expect(
                try await client.call(.get, "/auth/me", token: "\(hs512).\(parts[1]).\(parts[2])").status
                    == .unauthorized)
            // Expiry, with the injected clock.
            clock.advance(by: 24 * 3_600)
            #expect(try await client.call(.get, "/auth/me", token: token).status == .unauthorized)
        }
    }

    @Test func adminRoutesRefuseStudents() async throws {
        try await withService { client, _, _ in
            let student = try await client.login("S2021001")
            let admin = try await client.login("admin", "admin-password")
            #expect(try await client.call(.get, "/reservations", token: student).status == .forbidden)
            #expect(try await client.call(.get, "/admin/stats", token: student).code == "forbidden")
            let all = try await client.call(.get, "/reservations?status=CONFIRMED&limit=2", token: admin)
            #expect(
                all.status == .ok && (all.json["reservations"] as? [Any])?.count == 2 && all.json["total"] as? Int == 4)
            let stats = try await client.call(.get, "/admin/stats", token: admin)
            #expect(((stats.json["branches"] as? [[String: Any]])?.first?["seats"] as? Int) == 25)
            let m = try await client.call(
                .put, "/admin/seats/10/maintenance", token: admin, json: #"{"maintenance":true}"#)
            #expect(m.status == .ok && m.json["status"] as? String == "MAINTENANCE")
            let b = try await client.call(
                .post, "/reservations", token: student, json: booking(10, t0 + 3_600, t0 + 7_200))
            #expect(b.status == .conflict && b.code == "seat_in_maintenance")
            #expect(
                try await client.call(
                    .put, "/admin/seats/10/maintenance", token: student, json: #"{"maintenance":false}"#
                ).status == .forbidden)
        }
    }
}

@Suite struct SeatRouteTests {
    @Test func branchesAndSeatDiscovery() async throws {
        try await withService { client, _, _ in
            let token = try await client.login("S2021001")
            let branches =
                try await client.call(.get, "/branches", token: token).json["branches"] as? [[String: Any]] ?? []
            #expect(
                branches.map { $0["branch"] as? String } == ["Main Library", "Science Library", "Engineering Library"])
            #expect(
                branches[1]["available_seats"] as? Int == 11
                    && branches[0]["areas"] as? [String] == ["Silent Study Zone", "Group Study Zone"])
            // available_only defaults to true: seat 26 (occupied now) is left out.
            let science = try await client.call(.get, "/seats?branch=Science%20Library", token: token)
            #expect(science.json["count"] as? Int == 11)
            let all = try await client.call(.get, "/seats?branch=Science%20Library&available_only=false", token: token)
            let seats = all.json["seats"] as? [[String: Any]] ?? []
            #expect(
                seats.count == 12 && seats.first?["status"] as? String == "OCCUPIED"
                    && seats.first?["is_available"] as? Bool == false)
            let power = try await client.call(.get, "/seats?branch=Main%20Library&has_power=true", token: token)
            #expect(power.json["count"] as? Int == 20)
            let window = try await client.call(
                .get, "/seats?available_only=true&start_time=\(iso(t0 + 3_600))&end_time=\(iso(t0 + 7_200))",
                token: token)
            #expect(window.json["count"] as? Int == 47)  // seats 1, 15 and 26 are busy then
            for bad in [
                "/seats?has_power=maybe", "/seats?start_time=\(iso(t0))",
                "/seats?start_time=2025-02-30T10:00:00&end_time=2025-03-01T10:00:00",
                "/seats?start_time=\(iso(t0 + 60))&end_time=\(iso(t0))",
            ] {
                let r = try await client.call(.get, bad, token: token)
                #expect(r.status == .badRequest, "\(bad): \(r.text)")
            }
        }
    }

    @Test func oneSeatAndAvailability() async throws {
        try await withService { client, _, _ in
            let token = try await client.login("S2021001")
            let seat = try await client.call(.get, "/seats/1?date=2025-10-11", token: token)
            #expect(seat.status == .ok && seat.json["id"] as? Int == 1 && (seat.json["busy"] as? [Any])?.count == 1)
            #expect(!seat.text.contains("user"))  // intervals only, no identities
            let free = try await client.call(
                .get, "/seats/1/availability?start_time=\(iso(t0 + 3 * 3_600))&end_time=\(iso(t0 + 4 * 3_600))",
                token: token)
            #expect(free.json["is_available"] as? Bool == true)
            let busy = try await client.call(
                .get, "/seats/1/availability?start_time=\(iso(t0))&end_time=\(iso(t0 + 2 * 3_600))", token: token)
            #expect(busy.json["is_available"] as? Bool == false && (busy.json["busy"] as? [Any])?.count == 1)
            #expect(try await client.call(.get, "/seats/999", token: token).status == .notFound)
            #expect(try await client.call(.get, "/seats/99999999999999999999", token: token).status == .notFound)
            #expect(try await client.call(.get, "/seats/-3", token: token).status == .notFound)
            #expect(try await client.call(.get, "/seats/abc", token: token).status == .badRequest)
            #expect(try await client.call(.get, "/seats/1?date=2025-13-01", token: token).status == .badRequest)
            #expect(try await client.call(.get, "/seats/1/availability", token: token).status == .badRequest)
        }
    }
}

@Suite struct ReservationRouteTests {
    @Test func bookConflictAndErrorOrder() async throws {
        try await withService { client, _, _ in
            let token = try await client.login("S2021001")
            let r = try await client.call(
                .post, "/reservations", token: token, json: booking(10, t0 + 2 * 3_600, t0 + 4 * 3_600))
            #expect(
                r.status == .created && r.json["status"] as? String == "CONFIRMED" && r.json["seat_id"] as? Int == 10)
            #expect(r.json.keys.contains("checked_in_at") && r.json["checked_in_at"] is NSNull)
            let other = try await client.login("S2021002")
            let conflict = try await client.call(
                .post, "/reservations", token: other, json: booking(10, t0 + 3 * 3_600, t0 + 5 * 3_600))
            #expect(conflict.status == .conflict && conflict.code == "seat_conflict")
            // The original's inputs: no offset means UTC.
            let noOffset = try await client.call(
                .post, "/reservations", token: other,
                json: #"{"seat_id":11,"start_time":"2025-10-11T14:00:00","end_time":"2025-10-11T16:00:00"}"#)
            #expect(noOffset.status == .created && noOffset.json["start_time"] as? String == "2025-10-11T14:00:00Z")
            let cases: [(String, String)] = [
                (booking(10, t0 - 3_600, t0), "in_the_past"), (booking(10, t0 + 3_600, t0 + 6 * 3_600), "too_long"),
                (booking(10, t0 + 3_600, t0 + 3_700), "too_short"),
                (booking(10, t0 + 3_600, t0 + 3_600), "invalid_time_range"),
                (booking(10, t0 + 20 * 86_400, t0 + 20 * 86_400 + 3_600), "too_far_ahead"),
                (booking(999, t0 - 3_600, t0), "in_the_past"),  // 400 before 404
                (booking(999, t0 + 3_600, t0 + 7_200), "not_found"),
                (booking(99_999_999_999, t0 + 3_600, t0 + 7_200), "not_found"),
                (#"{"seat_id":"10","start_time":"x","end_time":"y"}"#, "bad_request"),
                (#"{"seat_id":10}"#, "bad_request"),
                (
                    #"{"seat_id":10,"start_time":"2025-02-30T10:00:00Z","end_time":"2025-02-30T11:00:00Z"}"#,
                    "bad_request"
                ),
            ]
            for (body, code) in cases {
                let e = try await client.call(.post, "/reservations", token: other, json: body)
                #expect(e.code == code, "\(body): \(e.text)")
            }
        }
    }

    @Test func tenConcurrentIdenticalBookingsHaveOneWinner() async throws {
        try await withService { client, _, _ in
            let tokens = try await (1...10).asyncMap { try await client.login(SeedData.studentID($0)) }
            let statuses = await withTaskGroup(of: HTTPResponse.Status.self) { group in
                for token in tokens {
                    group.addTask {
                        (try? await client.call(
                            .post, "/reservations", token: token, json: booking(20, t0 + 3_600, t0 + 7_200)))?.status
                            ?? .internalServerError
                    }
                }
                return await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 1 && statuses.filter { $0 == .conflict }.count == 9)
        }
    }

    @Test func mineGetCheckInCheckoutCancel() async throws {
        try await withService { client, _, clock in
            let token = try await client.login("S2021009")
            let a = try await client.call(.post, "/reservations", token: token, json: booking(20, t0, t0 + 2 * 3_600))
                .json
            let b = try await client.call(
                .post, "/reservations", token: token, json: booking(21, t0 + 3_600, t0 + 2 * 3_600)
            ).json
            let aID = a["id"] as! Int
            let bID = b["id"] as! Int
            let mine = try await client.call(.get, "/reservations/mine?upcoming_only=true", token: token)
            #expect((mine.json["reservations"] as? [[String: Any]])?.map { $0["id"] as! Int } == [bID, aID])
            #expect(try await client.call(.get, "/reservations/mine?status=bogus", token: token).status == .badRequest)
            #expect(try await client.call(.get, "/reservations/mine?limit=0", token: token).status == .badRequest)
            #expect(try await client.call(.get, "/reservations/\(aID)", token: token).json["id"] as? Int == aID)
            let other = try await client.login("S2021010")
            #expect(try await client.call(.get, "/reservations/\(aID)", token: other).status == .notFound)
            #expect(try await client.call(.delete, "/reservations/\(aID)", token: other).status == .notFound)
            #expect(try await client.call(.get, "/reservations/123456789", token: token).status == .notFound)
            #expect(try await client.call(.get, "/reservations/x", token: token).status == .badRequest)
            let checkedIn = try await client.call(.post, "/reservations/\(aID)/checkin", token: token)
            #expect(
                checkedIn.json["status"] as? String == "CHECKED_IN"
                    && checkedIn.json["checked_in_at"] as? String == iso(t0))
            #expect(try await client.call(.post, "/reservations/\(bID)/checkin", token: token).code == "checkin_window")
            #expect(try await client.call(.post, "/reservations/\(bID)/checkout", token: token).code == "invalid_state")
            clock.advance(by: 1_800)
            let out = try await client.call(.post, "/reservations/\(aID)/checkout", token: token)
            #expect(out.json["status"] as? String == "COMPLETED" && out.json["end_time"] as? String == iso(t0 + 1_800))
            let cancelled = try await client.call(.delete, "/reservations/\(bID)", token: token)
            #expect(cancelled.json["status"] as? String == "CANCELLED")
            #expect(try await client.call(.delete, "/reservations/\(bID)", token: token).code == "invalid_state")
            #expect(
                try await client.call(.get, "/reservations/mine?status=CANCELLED", token: token).json["count"] as? Int
                    == 1)
        }
    }

    @Test func upcomingLimit() async throws {
        try await withService { client, _, _ in
            let token = try await client.login("S2021010")
            for s in 40..<43 {
                #expect(
                    try await client.call(
                        .post, "/reservations", token: token, json: booking(s, t0 + 3_600, t0 + 7_200)
                    ).status == .created)
            }
            #expect(
                try await client.call(.post, "/reservations", token: token, json: booking(43, t0 + 3_600, t0 + 7_200))
                    .code == "limit_reached")
        }
    }
}

@Suite struct WaitlistRouteTests {
    @Test func joinListLeaveAndNotification() async throws {
        try await withService { client, _, _ in
            let holder = try await client.login("S2021009")
            let waiter = try await client.login("S2021010")
            let r = try await client.call(
                .post, "/reservations", token: holder, json: booking(12, t0 + 3_600, t0 + 7_200)
            ).json
            let join = try await client.call(
                .post, "/waitlist", token: waiter, json: #"{"seat_id":12,"desired_time":"\#(iso(t0 + 3_600))"}"#)
            #expect(
                join.status == .created && join.json["position"] as? Int == 1
                    && join.json["end_time"] as? String == iso(t0 + 7_200))
            #expect(join.json["branch"] is NSNull && join.json["status"] as? String == "WAITING")
            let branch = try await client.call(
                .post, "/waitlist", token: waiter,
                json: #"{"branch":"Science Library","desired_time":"\#(iso(t0 + 9_000))"}"#)
            #expect(branch.status == .created && branch.json["seat_id"] is NSNull)
            #expect(
                try await client.call(
                    .post, "/waitlist", token: waiter, json: #"{"seat_id":1,"branch":"x","desired_time":"\#(iso(t0))"}"#
                ).status == .badRequest)
            #expect(
                try await client.call(
                    .post, "/waitlist", token: waiter, json: #"{"seat_id":1,"desired_time":"\#(iso(t0 - 7_200))"}"#
                ).code == "in_the_past")
            #expect(
                try await client.call(
                    .post, "/waitlist", token: waiter,
                    json: #"{"branch":"Nowhere","desired_time":"\#(iso(t0 + 3_600))"}"#
                ).status == .notFound)
            #expect(try await client.call(.get, "/waitlist/mine", token: waiter).json["count"] as? Int == 2)
            _ = try await client.call(.delete, "/reservations/\(r["id"] as! Int)", token: holder)
            let notes =
                try await client.call(.get, "/notifications", token: waiter).json["notifications"] as? [[String: Any]]
                ?? []
            #expect(
                notes.count == 1 && notes[0]["type"] as? String == "seat_available" && notes[0]["seat_id"] as? Int == 12
            )
            #expect(
                try await client.call(.get, "/notifications?since=\(notes[0]["id"] as! Int)", token: waiter).text
                    == #"{"notifications":[]}"#)
            let branchID = branch.json["id"] as! Int
            #expect(try await client.call(.delete, "/waitlist/\(branchID)", token: holder).status == .notFound)
            #expect(
                try await client.call(.delete, "/waitlist/\(branchID)", token: waiter).json["status"] as? String
                    == "CANCELLED")
        }
    }
}

@Suite struct SweeperRouteTests {
    /// With the injected clock: a reservation nobody checked into becomes NO_SHOW after the grace
    /// period and the seat is free again.
    @Test func noShowFreesTheSeat() async throws {
        try await withService { client, service, clock in
            let token = try await client.login("S2021005")
            let r = try await client.call(.post, "/reservations", token: token, json: booking(33, t0 + 600, t0 + 3_600))
                .json
            clock.set(t0 + 600 + 15 * 60)
            _ = await service.engine.sweep(now: clock.now())
            #expect(
                try await client.call(.get, "/reservations/\(r["id"] as! Int)", token: token).json["status"] as? String
                    == "NO_SHOW")
            let seat = try await client.call(
                .get, "/seats/33/availability?start_time=\(iso(clock.now()))&end_time=\(iso(t0 + 3_600))", token: token)
            #expect(seat.json["is_available"] as? Bool == true)
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}
