import Crypto
import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Synchronization
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

@Suite struct DemoDataTests {
    @Test func onlyTheSeedsOwnAccountsAreDemoAccounts() async throws {
        try await withService(Configure { $0.demoData = false }) { client, service, _ in
            // Someone registers a demo student id with the public password on a production server:
            // that must not keep the next start from happening.
            for id in ["S2021007", "S2021001", "S2021002"] {
                _ = try await client.call(
                    .post, "/auth/register", json: #"{"student_id":"\#(id)","password":"password123"}"#)
            }
            #expect(await service.demoAccountsWithPublicPassword().isEmpty)
        }
    }

    @Test func withoutDemoDataThereAreNoDemoStudents() async throws {
        try await withService(Configure { $0.demoData = false }) { client, service, _ in
            let r = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021001","password":"password123"}"#)
            #expect(r.status == .unauthorized)
            let admin = try await client.login("admin", "admin-password")
            #expect(try await client.call(.get, "/reservations", token: admin).json["total"] as? Int == 0)
            #expect(service.engine.allUsers.map(\.studentID) == ["admin"])
            #expect(await service.demoAccountsWithPublicPassword().isEmpty)
        }
    }

    @Test func aStartWithoutDemoDataRefusesOpenDemoAccounts() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        var config = testConfiguration(dir)
        let first = try await DLSMSServer.makeNode(
            config, clock: ManualClock(t0), logger: .init(label: "test"), announce: { _ in })
        #expect(await first.service.demoAccountsWithPublicPassword().count == 10)
        await first.durable.close()
        config.demoData = false
        await #expect(throws: ConfigurationError.self) {
            _ = try await DLSMSServer.makeNode(
                config, clock: ManualClock(t0), logger: .init(label: "test"), announce: { _ in })
        }
    }
}
