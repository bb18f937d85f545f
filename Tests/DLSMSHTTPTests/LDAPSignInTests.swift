import DLSMSCore
import DLSMSTestSupport
import Foundation
import GRPCCore
import HummingbirdTesting
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly

/// LDAP sign-in through both doors, against a real slapd the test starts (StartTLS with a CA the
/// test made): the account made from the directory entry, staff from a group, the login limits,
/// and a directory that is down.
@Suite(
    .serialized,
    .enabled(if: TestLDAPServer.isAvailable, "slapd is not installed (CI installs slapd and ldap-utils)"))
struct LDAPSignInEndToEndTests {
    func directory(_ server: TestLDAPServer, url: String? = nil) -> Configure {
        Configure { c in
            c.identity.ldap = LDAPSettings(
                url: url ?? server.url, startTLS: true, caFile: server.caFile, bindDN: TestLDAPServer.serviceDN,
                bindPassword: TestLDAPServer.servicePassword, baseDN: TestLDAPServer.baseDN,
                userFilter: TestLDAPServer.userFilter, studentIDAttribute: TestLDAPServer.studentIDAttribute,
                timeoutSeconds: 3)
            c.identity.staffGroup = "library-staff"
        }
    }

    func login(_ client: any TestClientProtocol, _ id: String, _ password: String) async throws -> Reply {
        let body = try JSONSerialization.data(withJSONObject: ["student_id": id, "password": password])
        return try await client.call(.post, "/auth/login", json: String(decoding: body, as: UTF8.self))
    }

    @Test func aDirectoryStudentSignsInOverRESTAndGRPC() async throws {
        let server = try await TestLDAPServer.start()
        defer { server.stop() }
        let alice = TestLDAPServer.alice
        let bob = TestLDAPServer.bob
        try await withService(directory(server)) { client, _, _ in
            let signedIn = try await login(client, alice.uid, alice.password)
            #expect(signedIn.status == .ok, "\(signedIn.text)")
            #expect(
                signedIn.json["student_id"] as? String == alice.studentID
                    && signedIn.json["role"] as? String == "student")
            let me = try await client.call(.get, "/auth/me", token: signedIn.json["token"] as? String)
            #expect(me.json["source"] as? String == "ldap" && me.json["name"] as? String == alice.name)
            #expect(me.json["groups"] as? [String] == ["students"] && me.json["email"] as? String == alice.mail)
            // Staff from the directory's group.
            let staff = try await login(client, bob.uid, bob.password)
            #expect(staff.json["role"] as? String == "admin")
            // Wrong, empty, injected: 401; the locked entry and one whose id is no student id too.
            #expect(try await login(client, alice.uid, "wrong-password").status == .unauthorized)
            #expect(try await login(client, alice.uid, "").status == .unauthorized)
            #expect(try await login(client, "*)(uid=*", alice.password).status == .unauthorized)
            #expect(try await login(client, "*", alice.password).status == .unauthorized)
            #expect(try await login(client, "alice\u{0}", alice.password).status == .unauthorized)
            let carol = TestLDAPServer.carol
            #expect(try await login(client, carol.uid, carol.password).status == .unauthorized)
            let dave = TestLDAPServer.dave
            #expect(try await login(client, dave.uid, dave.password).status == .unauthorized)
            // The login limits count directory passwords too: the sixth failure in a minute is 429,
            // and then even the right password waits.
            for _ in 0..<3 { _ = try await login(client, alice.uid, "wrong-again") }
            #expect(try await login(client, alice.uid, "wrong-again").status == .tooManyRequests)
            #expect(try await login(client, alice.uid, alice.password).status == .tooManyRequests)
            // Local staff keep their passwords.
            _ = try await client.login("admin", "admin-password")
        }
        try await withGRPC(directory(server)) { g, _, _ in
            let login = try await g.auth.login(
                .with {
                    $0.studentID = bob.uid
                    $0.password = bob.password
                })
            #expect(login.studentID == bob.studentID)
            let wrong = await status {
                _ = try await g.auth.login(
                    .with {
                        $0.studentID = bob.uid
                        $0.password = "not-bobs"
                    })
            }
            #expect(wrong == .unauthenticated)
        }
    }

    /// A directory that is down: 503 `identity_provider_unavailable` at once; staff passwords work.
    @Test func aDirectoryThatIsDownIsReportedAndLocalStaffGoOn() async throws {
        let server = try await TestLDAPServer.start()
        defer { server.stop() }
        let url = "ldap://127.0.0.1:\(try closedLoopbackPort())"
        try await withService(directory(server, url: url)) { client, _, _ in
            let started = ContinuousClock.now
            let r = try await login(client, "alice", "alice-pass-1")
            #expect(r.status == .serviceUnavailable && r.code == "identity_provider_unavailable", "\(r.text)")
            #expect(started.duration(to: .now) < .seconds(20))
            _ = try await client.login("admin", "admin-password")
        }
    }
}
