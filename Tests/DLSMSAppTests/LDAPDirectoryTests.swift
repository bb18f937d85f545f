import DLSMSTestSupport
import Foundation
import Testing

@testable import DLSMSApp

/// The test directory's settings: StartTLS with the test CA, the service account, the student id
/// in `employeeNumber`, groups from `memberOf`; `change` adjusts them.
func directorySettings(_ server: TestLDAPServer, _ change: (inout LDAPSettings) -> Void = { _ in }) -> LDAPSettings {
    var settings = LDAPSettings(
        url: server.url, startTLS: true, caFile: server.caFile, bindDN: TestLDAPServer.serviceDN,
        bindPassword: TestLDAPServer.servicePassword, baseDN: TestLDAPServer.baseDN,
        userFilter: TestLDAPServer.userFilter, studentIDAttribute: TestLDAPServer.studentIDAttribute)
    change(&settings)
    return settings
}

/// One slapd at a time (each test starts its own), so that the suite does not crowd the machine
/// for the tests that run beside it.
@Suite(
    .enabled(if: TestLDAPServer.isAvailable, "slapd is not installed (CI installs slapd and ldap-utils)"),
    .serialized)
struct LDAPDirectoryTests {
    @Test func signsInOverStartTLSWithTheTestCA() async throws {
        try await withTestLDAPServer { server in
            let directory = try LDAPDirectory(settings: directorySettings(server))
            let bob = try #require(
                try await directory.authenticate(username: "bob", password: TestLDAPServer.bob.password))
            #expect(bob.source == .ldap)
            #expect(bob.studentID == "staff.bob")
            #expect(bob.name == "Bob Staff")
            #expect(bob.email == "bob@campus.test")
            #expect(Set(bob.groups) == ["library-staff", "students"])
            let alice = try #require(
                try await directory.authenticate(username: "alice", password: TestLDAPServer.alice.password))
            #expect(
                alice
                    == ExternalIdentity(
                        source: .ldap, studentID: "S2024001", name: "Alice Ångström", email: "alice@campus.test",
                        groups: ["students"]))
            // The name typed is looked up as the directory compares uid (case-insensitively); the
            // student id is the entry's, not what was typed.
            let shouting = try await directory.authenticate(username: "ALICE", password: TestLDAPServer.alice.password)
            #expect(shouting?.studentID == "S2024001")
        }
    }

    @Test func ldapsWithTheTestCA() async throws {
        try await withTestLDAPServer { server in
            let directory = try LDAPDirectory(
                settings: directorySettings(server) {
                    $0.url = server.ldapsURL
                    $0.startTLS = false
                })
            let alice = try await directory.authenticate(username: "alice", password: TestLDAPServer.alice.password)
            #expect(alice?.studentID == "S2024001")
            #expect(try await directory.authenticate(username: "alice", password: "wrong") == nil)
        }
    }

    @Test func refusalsAreNil() async throws {
        try await withTestLDAPServer { server in
            let directory = try LDAPDirectory(settings: directorySettings(server))
            let refused: [(String, String, String)] = [
                ("alice", "wrong-password", "a wrong password"),
                ("alice", TestLDAPServer.bob.password, "another user's password"),
                ("nobody", "alice-pass-1", "no such user"),
                ("carol", TestLDAPServer.carol.password, "an account the password policy locked"),
                ("dave", TestLDAPServer.dave.password, "an entry whose student id is not valid"),
                ("twin", "twin-pass-1", "a filter that matches two entries"),
                ("alice", TestLDAPServer.alice.password + "\0", "a password with NUL"),
                ("alice", String(repeating: "x", count: 1_025), "a password over 1 kB"),
                ("", TestLDAPServer.alice.password, "an empty name"),
            ]
            for (username, password, what) in refused {
                #expect(try await directory.authenticate(username: username, password: password) == nil, "\(what)")
            }
            // The same directory still signs the right people in.
            #expect(try await directory.authenticate(username: "alice", password: "alice-pass-1") != nil)
        }
    }

    /// The server takes a DN with an empty password as an unauthenticated bind and says yes (as
    /// anonymous); the sign-in never sends one.
    @Test func anEmptyPasswordNeverSignsIn() async throws {
        try await withTestLDAPServer { server in
            let bind = try await runProgram(
                TestLDAPServer.ldapwhoami, ["-x", "-H", server.url, "-D", TestLDAPServer.alice.dn, "-w", ""])
            #expect(bind.status == 0, "the server refused the unauthenticated bind: \(bind.error)")
            #expect(bind.output.trimmingCharacters(in: .whitespacesAndNewlines) == "anonymous")
            let directory = try LDAPDirectory(settings: directorySettings(server))
            #expect(try await directory.authenticate(username: "alice", password: "") == nil)
            let plain = try LDAPDirectory(
                settings: directorySettings(server) {
                    $0.startTLS = false
                    $0.allowPlain = true
                    $0.bindDN = nil
                    $0.bindPassword = nil
                })
            #expect(try await plain.authenticate(username: "alice", password: "") == nil)
        }
    }

    /// Names that, pasted into the filter unescaped, would match alice (or everyone).
    @Test func filterInjectionFindsNoOne() async throws {
        try await withTestLDAPServer { server in
            let directory = try LDAPDirectory(settings: directorySettings(server))
            let password = TestLDAPServer.alice.password
            for name in ["*)(uid=*", "*)(uid=alice", "alice\\00", "alice\0", "*", "al*", "ali*e", "alice)(|(uid=*"] {
                #expect(try await directory.authenticate(username: name, password: password) == nil, "\(name)")
            }
        }
    }

    /// A CA that did not sign the server's certificate, over StartTLS and ldaps://, and a host
    /// name the certificate (IP:127.0.0.1) does not name.
    @Test func tlsFailuresAreUnavailable() async throws {
        try await withTestLDAPServer { server in
            let misnamed = try LDAPDirectory(
                settings: directorySettings(server) { $0.url = "ldap://localhost:\(server.port)" })
            await expectUnavailable(misnamed)
            let startTLS = try LDAPDirectory(settings: directorySettings(server) { $0.caFile = server.otherCAFile })
            await expectUnavailable(startTLS)
            let ldaps = try LDAPDirectory(
                settings: directorySettings(server) {
                    $0.url = server.ldapsURL
                    $0.startTLS = false
                    $0.caFile = server.otherCAFile
                })
            await expectUnavailable(ldaps)
        }
    }

    @Test func plainLDAPOnlyWhenAllowed() async throws {
        try await withTestLDAPServer { server in
            var plain = directorySettings(server) { $0.startTLS = false }
            #expect(throws: ConfigurationError.self) { try plain.validate() }
            #expect(throws: ConfigurationError.self) { try LDAPDirectory(settings: plain) }
            plain.allowPlain = true
            let directory = try LDAPDirectory(settings: plain)
            let bob = try await directory.authenticate(username: "bob", password: TestLDAPServer.bob.password)
            #expect(bob?.groups.contains("library-staff") == true)
        }
    }

    @Test func anonymousSearch() async throws {
        try await withTestLDAPServer { server in
            let directory = try LDAPDirectory(
                settings: directorySettings(server) {
                    $0.bindDN = nil
                    $0.bindPassword = nil
                })
            let bob = try await directory.authenticate(username: "bob", password: TestLDAPServer.bob.password)
            #expect(bob?.studentID == "staff.bob")
            #expect(try await directory.authenticate(username: "bob", password: "nope") == nil)
        }
    }

    @Test func groupsFromAGroupSearch() async throws {
        try await withTestLDAPServer { server in
            let directory = try LDAPDirectory(
                settings: directorySettings(server) {
                    $0.groupAttribute = nil
                    $0.groupSearchBase = "ou=groups," + TestLDAPServer.baseDN
                    $0.groupSearchFilter = "(&(objectClass=groupOfNames)(member={dn}))"
                })
            let bob = try await directory.authenticate(username: "bob", password: TestLDAPServer.bob.password)
            #expect(Set(bob?.groups ?? []) == ["library-staff", "students"])
            let alice = try await directory.authenticate(username: "alice", password: TestLDAPServer.alice.password)
            #expect(alice?.groups == ["students"])
            let dave = try await directory.authenticate(username: "dave", password: TestLDAPServer.dave.password)
            #expect(dave == nil)
        }
    }

    /// A service account the directory refuses is the directory's problem (misconfigured), not a
    /// wrong password of the person.
    @Test func aRefusedServiceAccountIsUnavailable() async throws {
        try await withTestLDAPServer { server in
            let directory = try LDAPDirectory(settings: directorySettings(server) { $0.bindPassword = "not-it" })
            await expectUnavailable(directory)
            let wrongBase = try LDAPDirectory(
                settings: directorySettings(server) { $0.baseDN = "dc=elsewhere,dc=test" })
            await expectUnavailable(wrongBase)
        }
    }

    @Test func twentyAtOnceThroughTwoThreads() async throws {
        try await withTestLDAPServer { server in
            let directory = try LDAPDirectory(settings: directorySettings(server) { $0.maxConcurrent = 2 })
            let people = [TestLDAPServer.alice, TestLDAPServer.bob]
            let results = try await withThrowingTaskGroup(of: (Int, ExternalIdentity?).self) { group in
                for i in 0..<20 {
                    let person = people[i % 2]
                    let password = i % 4 < 2 ? person.password : "wrong-\(i)"
                    group.addTask { (i, try await directory.authenticate(username: person.uid, password: password)) }
                }
                return try await group.reduce(into: [(Int, ExternalIdentity?)]()) { $0.append($1) }
            }
            #expect(Set(results.map(\.0)) == Set(0..<20))
            for (i, identity) in results {
                let expected = i % 4 < 2 ? people[i % 2].studentID : nil
                #expect(identity?.studentID == expected, "sign-in \(i)")
            }
            #expect(directory.inFlight == 0)
        }
    }
}
