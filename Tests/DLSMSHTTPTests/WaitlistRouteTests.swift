import DLSMSCore
import DLSMSEngine
import DLSMSHTTP
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

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
