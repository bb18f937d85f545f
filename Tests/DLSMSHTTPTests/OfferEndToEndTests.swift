import DLSMSCore
import DLSMSTestSupport
import Foundation
import Testing

/// The waitlist's hold survives a real crash: kill -9 between the offer and its acceptance.
@Suite(.serialized) struct OfferEndToEndTests {
    @Test func anOfferSurvivesKillDashNineAndCanBeAcceptedAfter() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        var server = try ServerProcess(dataDirectory: dir)
        try await server.waitUntilListening()
        let slot = (Int64(Date().timeIntervalSince1970) / 3_600 + 2) * 3_600
        let holder = try await server.login("S2021009")
        let waiter = try await server.login("S2021010")
        let (_, r) = try await server.request(
            "POST", "/reservations", token: holder, json: booking(35, slot, slot + 3_600))
        let (_, joined) = try await server.request(
            "POST", "/waitlist", token: waiter, json: #"{"seat_id":35,"desired_time":"\#(RFC3339.format(slot))"}"#)
        let entryID = joined["id"] as? Int ?? 0
        #expect(try await server.request("DELETE", "/reservations/\(r["id"] as! Int)", token: holder).0 == 200)
        server.child.signal(SIGKILL)
        _ = await server.child.waitForExit(timeout: 10)

        server = try ServerProcess(dataDirectory: dir)
        try await server.waitUntilListening()
        defer { #expect(server.stop() == 0) }
        let (_, mine) = try await server.request("GET", "/waitlist/mine", token: waiter)
        let entry = (mine["waitlist"] as? [[String: Any]])?.first { $0["id"] as? Int == entryID }
        #expect(entry?["status"] as? String == "OFFERED" && entry?["offered_seat_id"] as? Int == 35)
        let other = try await server.login("S2021008")
        let (refused, _) = try await server.request(
            "POST", "/reservations", token: other, json: booking(35, slot, slot + 3_600))
        #expect(refused == 409)
        let (took, booked) = try await server.request("POST", "/waitlist/\(entryID)/accept", token: waiter)
        #expect(took == 201 && booked["seat_id"] as? Int == 35)
    }
}
