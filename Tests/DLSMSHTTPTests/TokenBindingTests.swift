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

@Suite struct TokenBindingTests {
    @Test func aTokenMustStillDescribeItsAccount() async throws {
        try await withService { client, service, _ in
            let real = try await client.login("S2021001")
            #expect(try await client.call(.get, "/auth/me", token: real).status == .ok)
            func claims(_ sub: String, _ sid: String, _ role: String, exp: Double = Double(t0 + 3_600)) -> RawClaims {
                RawClaims(sub: sub, studentID: sid, role: role, gen: 0, iat: Double(t0), exp: exp)
            }
            // Signed with the real secret, but naming another student id or role than the account's.
            for c in [claims("1", "S2021002", "student"), claims("1", "S2021001", "admin")] {
                let token = try await signed(c)
                #expect(try await client.call(.get, "/auth/me", token: token).status == .unauthorized)
                #expect(try await client.call(.get, "/admin/stats", token: token).status == .unauthorized)
            }
            #expect(
                try await client.call(.get, "/auth/me", token: try await signed(claims("1", "S2021001", "student")))
                    .status == .ok)
            // Out-of-range numbers are a 401, never a trap.
            for exp in [9.223372036854775807e18, 1e300, -1e300, 1e15] {
                let token = try await signed(claims("1", "S2021001", "student", exp: exp))
                #expect(try await client.call(.get, "/auth/me", token: token).status == .unauthorized)
            }
            var big = claims("1", "S2021001", "student")
            big.gen = 1e300
            #expect(try await client.call(.get, "/auth/me", token: try await signed(big)).status == .unauthorized)
            big = claims("99999999999999", "S2021001", "student")
            #expect(try await client.call(.get, "/auth/me", token: try await signed(big)).status == .unauthorized)
            // Another algorithm in the header (signed with HS256 and the real secret all the same),
            // a sub that is not the canonical id, a role that is neither, a token from the future.
            let hs384 = try await signed(claims("1", "S2021001", "student"))
            let parts = hs384.split(separator: ".")
            for alg in ["HS384", "RS256", "none", ""] {
                let header = Data(#"{"alg":"\#(alg)","typ":"JWT"}"#.utf8).base64EncodedString()
                    .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
                    .replacingOccurrences(of: "/", with: "_")
                let forged = try await resigned(header: header, payload: String(parts[1]))
                #expect(try await client.call(.get, "/auth/me", token: forged).status == .unauthorized, "\(alg)")
            }
            for c in [
                claims("01", "S2021001", "student"), claims("+1", "S2021001", "student"),
                claims("1", "S2021001", "ADMIN"),
            ] {
                #expect(try await client.call(.get, "/auth/me", token: try await signed(c)).status == .unauthorized)
            }
            var future = claims("1", "S2021001", "student")
            future.iat = Double(t0 + 3_600)
            #expect(try await client.call(.get, "/auth/me", token: try await signed(future)).status == .unauthorized)
            // Trailing '=' after the signature.
            #expect(try await client.call(.get, "/auth/me", token: real + "=").status == .unauthorized)
            #expect(try await client.call(.get, "/auth/me", token: real + "==").status == .unauthorized)
            _ = service
        }
    }

    @Test func passwordChangesAndRevocationInvalidateTokens() async throws {
        try await withService { client, _, _ in
            let old = try await client.login("S2021001")
            let other = try await client.login("S2021001")
            let wrong = try await client.call(
                .post, "/auth/password", token: old,
                json: #"{"current_password":"nope-nope","new_password":"a-new-password"}"#)
            #expect(wrong.status == .unauthorized)
            let weak = try await client.call(
                .post, "/auth/password", token: old, json: #"{"current_password":"password123","new_password":"x"}"#)
            #expect(weak.status == .badRequest && weak.code == "weak_password")
            let changed = try await client.call(
                .post, "/auth/password", token: old,
                json: #"{"current_password":"password123","new_password":"a-new-password"}"#)
            #expect(changed.status == .ok)
            let fresh = changed.json["token"] as? String ?? ""
            #expect(try await client.call(.get, "/auth/me", token: old).status == .unauthorized)
            #expect(try await client.call(.get, "/auth/me", token: other).status == .unauthorized)
            #expect(try await client.call(.get, "/auth/me", token: fresh).status == .ok)
            _ = try await client.login("S2021001", "a-new-password")

            // An admin revokes a student's sessions, disables and enables the account.
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021004")
            let revoked = try await client.call(.post, "/admin/users/4/revoke-sessions", token: admin)
            #expect(revoked.status == .ok && revoked.json["student_id"] as? String == "S2021004")
            #expect(try await client.call(.get, "/auth/me", token: student).status == .unauthorized)
            let again = try await client.login("S2021004")
            #expect(
                try await client.call(.post, "/admin/users/4/disable", token: admin).json["disabled"] as? Bool == true)
            #expect(try await client.call(.get, "/auth/me", token: again).status == .unauthorized)
            let refused = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021004","password":"password123"}"#)
            #expect(refused.status == .unauthorized && refused.code == "unauthorized")
            #expect(try await client.call(.post, "/admin/users/4/enable", token: admin).status == .ok)
            _ = try await client.login("S2021004")
            // Students cannot use these; an admin cannot disable themselves; unknown ids are 404.
            #expect(try await client.call(.post, "/admin/users/4/disable", token: fresh).status == .forbidden)
            let me = try await client.call(.get, "/auth/me", token: admin).json["id"] as? Int ?? 0
            #expect(try await client.call(.post, "/admin/users/\(me)/disable", token: admin).status == .conflict)
            #expect(try await client.call(.post, "/admin/users/999/disable", token: admin).status == .notFound)
            #expect(try await client.call(.post, "/admin/users/abc/disable", token: admin).status == .badRequest)
        }
    }

    @Test func staffCreateAndResetAccounts() async throws {
        try await withService(Configure { $0.selfRegistration = false }) { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let created = try await client.call(
                .post, "/admin/users", token: admin,
                json: #"{"student_id":"S2030001","name":"Dana","password":"first-password"}"#)
            #expect(created.status == .created && created.json["role"] as? String == "student")
            let id = created.json["id"] as? Int ?? 0
            let token = try await client.login("S2030001", "first-password")
            #expect(
                try await client.call(
                    .post, "/admin/users", token: admin, json: #"{"student_id":"S2030001","password":"whatever1"}"#
                ).code == "duplicate_user")
            #expect(
                try await client.call(
                    .post, "/admin/users", token: admin,
                    json: #"{"student_id":"S2","password":"whatever1","role":"god"}"#
                ).status == .badRequest)
            let reset = try await client.call(
                .post, "/admin/users/\(id)/password", token: admin, json: #"{"password":"second-password"}"#)
            #expect(reset.status == .ok)
            #expect(try await client.call(.get, "/auth/me", token: token).status == .unauthorized)
            _ = try await client.login("S2030001", "second-password")
            let list = try await client.call(.get, "/admin/users?limit=2&offset=10", token: admin)
            #expect(list.json["total"] as? Int == 12 && list.json["count"] as? Int == 2)
            let ids = { (r: Reply) in (r.json["users"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int } }
            #expect(ids(list) == [11, 12])
            // By id, in id order, whatever the order asked; an id nobody has is left out.
            let picked = try await client.call(.get, "/admin/users?ids=9,2,400,2", token: admin)
            #expect(ids(picked) == [2, 9] && picked.json["total"] as? Int == 2)
            for bad in ["ids=a", "ids=0", "ids=", "limit=10001", "limit=0", "offset=-1"] {
                #expect(
                    try await client.call(.get, "/admin/users?\(bad)", token: admin).status == .badRequest, "\(bad)")
            }
        }
    }

    @Test func accountChangesSurviveARestart() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        for round in 0..<2 {
            var config = testConfiguration(dir)
            config.demoData = true
            let service = try await DLSMSServer.makeNode(
                config, clock: ManualClock(t0), logger: .init(label: "test"), announce: { _ in })
            if round == 0 {
                try await service.engine.updateUser(id: 2) {
                    $0.disabled = true
                    $0.tokenGeneration = 7
                }
                _ = try await service.durable.snapshot()
                try await service.engine.updateUser(id: 3) { $0.tokenGeneration = 9 }
            } else {
                #expect(
                    service.engine.user(id: 2)?.disabled == true && service.engine.user(id: 2)?.tokenGeneration == 7)
                #expect(
                    service.engine.user(id: 3)?.tokenGeneration == 9 && service.engine.user(id: 3)?.disabled == false)
            }
            await service.durable.close(finalSnapshot: false)
        }
    }
}
