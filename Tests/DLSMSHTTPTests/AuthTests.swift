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
                all.status == .ok && (all.json["reservations"] as? [Any])?.count == 2 && all.json["total"] as? Int == 5)
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
