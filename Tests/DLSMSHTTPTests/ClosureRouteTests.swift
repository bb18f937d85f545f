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

/// `/branches/{name}/closures` and `/admin/branches/{name}/closures…`.
@Suite struct ClosureRouteTests {
    static let path = "/admin/branches/Main%20Library/closures"

    static func body(area: String? = nil, _ start: Timestamp, _ end: Timestamp, reason: String = "exam") -> String {
        let a = area.map { #""area": "\#($0)", "# } ?? ""
        return #"{\#(a)"start_time": "\#(iso(start))", "end_time": "\#(iso(end))", "reason": "\#(reason)"}"#
    }

    @Test func declareListChangeAndRemove() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021004")
            let held = try await client.call(
                .post, "/reservations", token: student, json: booking(17, t0 + 2 * 3_600, t0 + 3 * 3_600))
            #expect(held.status == .created)

            let made = try await client.call(
                .post, Self.path, token: admin,
                json: Self.body(area: "Group Study Zone", t0 + 3_600, t0 + 5 * 3_600, reason: "oral exams"))
            #expect(made.status == .created, "\(made.text)")
            let closure = made.json["closure"] as? [String: Any]
            #expect(closure?["area"] as? String == "Group Study Zone" && closure?["reason"] as? String == "oral exams")
            #expect(closure?["start_time"] as? String == iso(t0 + 3_600))
            let cancelled = made.json["cancelled"] as? [[String: Any]]
            #expect(cancelled?.map { $0["id"] as? Int } == [held.json["id"] as? Int])
            #expect(cancelled?.first?["status"] as? String == "CANCELLED")
            let id = try #require(closure?["id"] as? Int)

            // The holder is told why.
            let told = try await client.call(.get, "/notifications", token: student).json["notifications"]
            let messages = (told as? [[String: Any]])?.compactMap { $0["message"] as? String } ?? []
            #expect(messages.contains { $0.contains("oral exams") }, "\(messages)")

            // Inside: 409 closed, the reason in the message; the other area stays open.
            let refused = try await client.call(
                .post, "/reservations", token: student, json: booking(18, t0 + 2 * 3_600, t0 + 3 * 3_600))
            #expect(refused.status == .conflict && refused.code == "closed", "\(refused.text)")
            #expect((refused.json["error"] as? String)?.contains("oral exams") == true)
            let open = try await client.call(
                .post, "/reservations", token: student, json: booking(3, t0 + 2 * 3_600, t0 + 3 * 3_600))
            #expect(open.status == .created, "\(open.text)")
            // Waiting for a closed seat inside the closure: refused too.
            let wait = try await client.call(
                .post, "/waitlist", token: try await client.login("S2021005"),
                json: #"{"seat_id": 18, "desired_time": "\#(iso(t0 + 2 * 3_600))"}"#)
            #expect(wait.status == .conflict && wait.code == "closed", "\(wait.text)")
            // The search shows closed seats as taken for that window.
            let search = try await client.call(
                .get,
                "/seats?branch=Main%20Library&area=Group%20Study%20Zone&start_time=\(iso(t0 + 2 * 3_600))&end_time=\(iso(t0 + 3 * 3_600))",
                token: student)
            #expect(search.json["count"] as? Int == 0, "\(search.text)")

            // Students see the closures.
            let listed = try await client.call(.get, "/branches/Main%20Library/closures", token: student)
            #expect(listed.status == .ok)
            #expect((listed.json["closures"] as? [[String: Any]])?.map { $0["id"] as? Int } == [id])

            // Change: longer, new reason. The area cannot change.
            let changed = try await client.call(
                .patch, "\(Self.path)/\(id)", token: admin,
                json: #"{"end_time": "\#(iso(t0 + 6 * 3_600))", "reason": "oral exams, day 2"}"#)
            #expect(changed.status == .ok, "\(changed.text)")
            #expect((changed.json["closure"] as? [String: Any])?["end_time"] as? String == iso(t0 + 6 * 3_600))
            let moved = try await client.call(
                .patch, "\(Self.path)/\(id)", token: admin, json: #"{"area": "Silent Study Zone"}"#)
            #expect(moved.status == .badRequest, "\(moved.text)")

            // Remove: bookable again.
            let removed = try await client.call(.delete, "\(Self.path)/\(id)", token: admin)
            #expect(removed.status == .ok && (removed.json["removed"] as? [String: Any])?["id"] as? Int == id)
            let again = try await client.call(
                .post, "/reservations", token: try await client.login("S2021006"),
                json: booking(18, t0 + 2 * 3_600, t0 + 3 * 3_600))
            #expect(again.status == .created, "\(again.text)")
            let none = try await client.call(.get, "/branches/Main%20Library/closures", token: student)
            #expect((none.json["closures"] as? [Any])?.isEmpty == true)
        }
    }

    @Test func pastClosuresAreListedOnRequest() async throws {
        try await withService { client, _, clock in
            let admin = try await client.login("admin", "admin-password")
            let made = try await client.call(.post, Self.path, token: admin, json: Self.body(t0, t0 + 3_600))
            #expect(made.status == .created)
            clock.advance(by: 2 * 3_600)
            let student = try await client.login("S2021001")
            let now = try await client.call(.get, "/branches/Main%20Library/closures", token: student)
            #expect((now.json["closures"] as? [Any])?.count == 0)
            let all = try await client.call(
                .get, "/branches/Main%20Library/closures?include_past=true", token: student)
            #expect((all.json["closures"] as? [[String: Any]])?.first?["area"] is NSNull)
        }
    }

    @Test func badRequestsGetClearErrors() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021001")
            let good = Self.body(t0 + 3_600, t0 + 7_200)
            #expect(try await client.call(.post, Self.path, json: good).status == .unauthorized)
            #expect(try await client.call(.post, Self.path, token: student, json: good).status == .forbidden)
            #expect(try await client.call(.delete, "\(Self.path)/1", token: student).status == .forbidden)
            #expect(try await client.call(.get, "/branches/Main%20Library/closures").status == .unauthorized)

            let cases: [(String, String, HTTPResponse.Status, String)] = [
                (Self.path, "{", .badRequest, "bad_request"),
                (
                    Self.path, #"{"start_time": "\#(iso(t0))", "end_time": "\#(iso(t0 + 60))"}"#, .badRequest,
                    "bad_request"
                ),
                (Self.path, #"{"reason": "x", "end_time": "\#(iso(t0 + 60))"}"#, .badRequest, "bad_request"),
                (Self.path, #"{"reason": "x", "start_time": "soon", "end_time": "later"}"#, .badRequest, "bad_request"),
                (Self.path, Self.body(t0 + 7_200, t0 + 3_600), .badRequest, "invalid_time_range"),
                (Self.path, Self.body(t0 - 7_200, t0 - 3_600), .badRequest, "bad_request"),
                (Self.path, Self.body(t0, t0 + 400 * 86_400), .badRequest, "bad_request"),
                (Self.path, Self.body(t0, t0 + 3_600, reason: ""), .badRequest, "bad_request"),
                (
                    Self.path, Self.body(t0, t0 + 3_600, reason: String(repeating: "é", count: 150)), .badRequest,
                    "bad_request"
                ),
                (Self.path, Self.body(area: "Attic", t0, t0 + 3_600), .badRequest, "bad_request"),
                (Self.path, Self.body(area: "", t0, t0 + 3_600), .badRequest, "bad_request"),
                (Self.path, Self.body(t0 + 800 * 86_400, t0 + 801 * 86_400), .badRequest, "bad_request"),
                (
                    Self.path, #"{"reason": 5, "start_time": "\#(iso(t0))", "end_time": "\#(iso(t0 + 60))"}"#,
                    .badRequest, "bad_request"
                ),
                ("/admin/branches/Nowhere/closures", good, .notFound, "not_found"),
            ]
            for (path, json, status, code) in cases {
                let r = try await client.call(.post, path, token: admin, json: json)
                #expect(r.status == status && r.code == code, "\(json): \(r.text)")
            }
            for id in ["99", "0", "-1", "99999999999999999999"] {
                let r = try await client.call(.delete, "\(Self.path)/\(id)", token: admin)
                #expect(r.status == .notFound && r.code == "not_found", "\(id): \(r.text)")
                let p = try await client.call(.patch, "\(Self.path)/\(id)", token: admin, json: #"{"reason": "y"}"#)
                #expect(p.status == .notFound, "\(id): \(p.text)")
            }
            let word = try await client.call(.delete, "\(Self.path)/abc", token: admin)
            #expect(word.status == .badRequest, "\(word.text)")
            let unknown = try await client.call(.get, "/branches/Nowhere/closures", token: student)
            #expect(unknown.status == .notFound && unknown.code == "not_found")
            // A change that would make the closure end before it starts.
            let made = try await client.call(.post, Self.path, token: admin, json: good)
            let id = try #require((made.json["closure"] as? [String: Any])?["id"] as? Int)
            let backwards = try await client.call(
                .patch, "\(Self.path)/\(id)", token: admin, json: #"{"end_time": "\#(iso(t0))"}"#)
            #expect(backwards.status == .badRequest && backwards.code == "invalid_time_range", "\(backwards.text)")
        }
    }
}
