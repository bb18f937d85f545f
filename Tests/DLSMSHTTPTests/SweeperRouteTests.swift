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
