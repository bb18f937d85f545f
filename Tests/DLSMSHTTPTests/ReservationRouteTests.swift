import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

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
