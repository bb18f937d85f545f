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
                notes.count == 1 && notes[0]["type"] as? String == "seat_offered" && notes[0]["seat_id"] as? Int == 12
            )
            #expect(
                try await client.call(.get, "/notifications?since=\(notes[0]["id"] as! Int)", token: waiter).text
                    == #"{"notifications":[]}"#)
            // The seat is held for the waiter: nobody else can book it, the offer shows on the entry.
            let mine = try await client.call(.get, "/waitlist/mine", token: waiter).json["waitlist"] as? [[String: Any]]
            let offered = try #require(mine?.first { $0["status"] as? String == "OFFERED" })
            #expect(offered["offered_seat_id"] as? Int == 12 && offered["offer_expires_at"] is String)
            let third = try await client.login("S2021003")
            let taken = try await client.call(
                .post, "/reservations", token: third, json: booking(12, t0 + 3_600, t0 + 7_200))
            #expect(taken.status == .conflict && taken.code == "seat_conflict")
            let offeredID = offered["id"] as! Int
            #expect(try await client.call(.post, "/waitlist/\(offeredID)/accept", token: third).status == .notFound)
            let accepted = try await client.call(.post, "/waitlist/\(offeredID)/accept", token: waiter)
            #expect(accepted.status == .created && accepted.json["status"] as? String == "CONFIRMED")
            #expect(accepted.json["seat_id"] as? Int == 12)
            let again = try await client.call(.post, "/waitlist/\(offeredID)/accept", token: waiter)
            #expect(again.status == .badRequest && again.code == "invalid_state")
            #expect(try await client.call(.post, "/waitlist/999999/decline", token: waiter).status == .notFound)
            let branchID = branch.json["id"] as! Int
            #expect(try await client.call(.delete, "/waitlist/\(branchID)", token: holder).status == .notFound)
            #expect(
                try await client.call(.delete, "/waitlist/\(branchID)", token: waiter).json["status"] as? String
                    == "CANCELLED")
        }
    }
}
