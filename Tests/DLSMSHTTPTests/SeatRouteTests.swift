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
            #expect(power.json["count"] as? Int == 19)
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
