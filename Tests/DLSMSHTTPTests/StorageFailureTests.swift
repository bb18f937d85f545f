import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

@Suite struct StorageFailureTests {
    /// A dying disk: writes are refused with a message that names no path, /healthz answers 503,
    /// /metrics says so and why, and the storage watch ends the process's service group.
    @Test func aFailedSyncStopsWritesAndTheProcess() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let io = FaultyIO()
        let service = try await DLSMSServer.makeNode(
            testConfiguration(dir), clock: ManualClock(t0), io: io, logger: Logger(label: "test"), announce: { _ in })
        let app = Application(router: DLSMSServer.makeRouter(service))
        try await app.test(.router) { client in
            let token = try await client.login("S2021001")
            #expect(try await client.call(.get, "/healthz").status == .ok)
            io.failFromNowOn()
            let refused = try await client.call(
                .post, "/reservations", token: token, json: booking(10, t0 + 3_600, t0 + 7_200))
            #expect(refused.status == .serviceUnavailable && refused.code == "unavailable")
            #expect(!refused.text.contains(dir) && !refused.text.contains("fdatasync"))
            let health = try await client.call(.get, "/healthz")
            #expect(health.status == .serviceUnavailable && health.json["status"] as? String == "unhealthy")
            let metrics = try await client.call(.get, "/metrics")
            #expect(metrics.text.contains("dlsms_storage_failed 1"))
            #expect(metrics.text.contains("# dlsms_storage_failed reason: fdatasync"))
            // Reads still work meanwhile.
            #expect(try await client.call(.get, "/seats", token: token).status == .ok)
        }
        await #expect(throws: StorageFailure.self) { try await StorageWatchService(durable: service.durable).run() }
        #expect(await service.durable.close() != nil)  // no final snapshot over a failed log
    }
}
