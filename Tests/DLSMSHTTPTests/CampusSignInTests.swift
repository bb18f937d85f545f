import DLSMSCore
import DLSMSTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSEngine
@testable import DLSMSHTTP

/// A node on `dir` (kept between calls: a restart reads what the last one wrote).
func withNode(
    _ dir: String, _ configure: Configure = Configure { _ in }, mode: HummingbirdTesting.TestingSetup = .router,
    finalSnapshot: Bool = false,
    _ body: @escaping @Sendable (any TestClientProtocol, LibraryService) async throws -> Void
) async throws {
    var config = testConfiguration(dir)
    configure.apply(&config)
    let node = try await DLSMSServer.makeNode(
        config, clock: ManualClock(t0), logger: Logger(label: "test"), announce: { _ in })
    let app = Application(router: DLSMSServer.makeRouter(node))
    try await app.test(mode) { client in try await body(client, node.service) }
    await node.durable.close(finalSnapshot: finalSnapshot)
}

@Suite struct SignOutTests {
    /// `POST /auth/logout`: that token at once, and after restarts from the log and from a
    /// snapshot; the account's other tokens go on working.
    @Test func signOutRevokesTheTokenAtOnceAndAfterRestarts() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let tokens = Mutex<[String]>([])
        try await withNode(dir, finalSnapshot: false) { client, service in
            let a = try await client.login("S2021001")
            let b = try await client.login("S2021001")
            tokens.withLock { $0 = [a, b] }
            #expect(try await client.call(.post, "/auth/logout").status == .unauthorized)
            let out = try await client.call(.post, "/auth/logout", token: a)
            #expect(out.status == .ok && out.json["signed_out"] as? Bool == true && out.json["end_session_url"] == nil)
            #expect(try await client.call(.get, "/auth/me", token: a).status == .unauthorized)
            #expect(try await client.call(.post, "/auth/logout", token: a).status == .unauthorized)
            #expect(try await client.call(.get, "/auth/me", token: b).status == .ok)
            #expect(service.engine.revokedSessionCount == 1)
        }
        for snapshot in [true, false] {  // the log replayed, then a snapshot read
            let (a, b) = tokens.withLock { ($0[0], $0[1]) }
            try await withNode(dir, finalSnapshot: snapshot) { client, service async throws in
                #expect(try await client.call(.get, "/auth/me", token: a).status == .unauthorized)
                #expect(try await client.call(.get, "/auth/me", token: b).status == .ok)
                #expect(service.engine.revokedSessionCount == 1)
            }
        }
    }

    /// An account keeps at most 32 signed-out tokens; the next sign-out ends all its sessions
    /// (token generation) instead: memory stays bounded whatever a client does.
    @Test func signOutsBeyondTheBoundEndEverySession() async throws {
        try await withService { client, service, _ in
            let bystander = try await client.login("S2021001")
            for _ in 0..<SessionRevocations.perUser {
                let t = try await client.login("S2021001")
                #expect(try await client.call(.post, "/auth/logout", token: t).status == .ok)
            }
            #expect(service.engine.revokedSessionCount == SessionRevocations.perUser)
            #expect(try await client.call(.get, "/auth/me", token: bystander).status == .ok)
            let last = try await client.login("S2021001")
            #expect(try await client.call(.post, "/auth/logout", token: last).status == .ok)
            #expect(service.engine.revokedSessionCount == SessionRevocations.perUser)
            #expect(try await client.call(.get, "/auth/me", token: last).status == .unauthorized)
            #expect(try await client.call(.get, "/auth/me", token: bystander).status == .unauthorized)
            // Another student is untouched.
            let other = try await client.login("S2021002")
            #expect(try await client.call(.get, "/auth/me", token: other).status == .ok)
        }
    }

    /// Expired entries leave memory (pruned at most once a minute, on the next sign-out).
    @Test func expiredEntriesArePruned() {
        let store = SessionRevocations()
        store.restore(SessionRevocation(userID: 1, digest: Array(repeating: 1, count: 16), expiresAt: 100))
        store.restore(SessionRevocation(userID: 1, digest: Array(repeating: 1, count: 16), expiresAt: 100))  // again
        store.restore(SessionRevocation(userID: 2, digest: Array(repeating: 2, count: 16), expiresAt: 1_000))
        #expect(store.count == 2 && store.contains(Array(repeating: 1, count: 16)))
        #expect(store.hasRoom(for: 1, now: 500))
        #expect(store.count == 1 && !store.contains(Array(repeating: 1, count: 16)))
        #expect(store.live(now: 500).map(\.userID) == [2])
    }
}

@Suite struct LocalSignInTests {
    @Test func staffOnlyKeepsStudentsOutAndSaysWhy() async throws {
        try await withService(Configure { $0.identity.local = .staff }) { client, _, _ in
            let student = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021001","password":"password123"}"#)
            #expect(student.status == .forbidden && student.code == "local_sign_in_disabled")
            // A wrong password answers as always: the mode does not tell who exists.
            let wrong = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021001","password":"not-it-at-all"}"#)
            #expect(wrong.status == .unauthorized)
            _ = try await client.login("admin", "admin-password")
            let register = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"N1","password":"a-long-password"}"#)
            #expect(register.status == .forbidden && register.code == "registration_closed")
            let providers = try await client.call(.get, "/auth/providers")
            #expect(providers.json["local"] as? String == "staff" && providers.json["registration"] as? Bool == false)
        }
        try await withService(Configure { $0.identity.local = .off }) { client, _, _ in
            let admin = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"admin","password":"admin-password"}"#)
            #expect(admin.status == .forbidden && admin.code == "local_sign_in_disabled")
        }
    }
}

@Suite struct IdentityAccountTests {
    func identity(_ id: String, groups: [String] = [], name: String? = "Ada Lovelace") -> ExternalIdentity {
        ExternalIdentity(source: .ldap, studentID: id, name: name, email: "ada@example.edu", groups: groups)
    }

    @Test func anIdentityGetsAnAccountRefreshedAtEachSignIn() async throws {
        try await withService(Configure { $0.identity.staffGroup = "library-staff" }) { client, service, _ in
            let first = try await service.account(for: identity("ada", groups: ["students", "b", "students", " a "]))
            #expect(first.source == .ldap && first.role == .student && first.passwordHash.isEmpty)
            #expect(first.groups == ["a", "b", "students"] && first.email == "ada@example.edu")
            // Unchanged: no new record; changed: refreshed, staff from the group, and back.
            #expect(try await service.account(for: identity("ada", groups: ["a", "b", "students"])) == first)
            let staff = try await service.account(for: identity("ada", groups: ["library-staff"]))
            #expect(staff.id == first.id && staff.role == .admin && staff.groups == ["library-staff"])
            let demoted = try await service.account(for: identity("ada", groups: []))
            #expect(demoted.role == .student && demoted.groups.isEmpty)
            // The account's view, and staff's.
            let (token, _) = try await service.issueToken(for: demoted)
            let me = try await client.call(.get, "/auth/me", token: token)
            #expect(me.json["source"] as? String == "ldap" && me.json["email"] as? String == "ada@example.edu")
            // Such an account has no password here to change.
            let change = try await client.call(
                .post, "/auth/password", token: token,
                json: #"{"current_password":"whatever-it-is","new_password":"another-long-one"}"#)
            #expect(change.status == .conflict && change.code == "no_local_password")
            // DL-SMS's disable wins over the provider.
            _ = try await service.engine.updateUser(id: first.id) { $0.disabled = true }
            #expect(await refusal { _ = try await service.account(for: identity("ada")) } == "account_disabled")
        }
    }

    @Test func anIdentityNeverTakesOverALocalPasswordAccountItMayStillUse() async throws {
        try await withService { _, service, _ in
            #expect(await refusal { _ = try await service.account(for: identity("S2021001")) } == "account_conflict")
            #expect(await refusal { _ = try await service.account(for: identity("admin")) } == "account_conflict")
            #expect(
                await refusal { _ = try await service.account(for: identity("not valid!")) } == "identity_not_usable")
            // Garbage in the optional parts is dropped, not stored.
            let odd = try await service.account(
                for: ExternalIdentity(
                    source: .oidc, studentID: "odd", name: "\u{0}", email: "no-at-sign",
                    groups: ["ok", "bad\u{7}", String(repeating: "x", count: 300)] + (0..<400).map { "g\($0)" }))
            #expect(odd.name == "odd" && odd.email.isEmpty && odd.groups.count == User.maxGroups)
            #expect(!odd.groups.contains { $0.contains("\u{7}") || $0.utf8.count > User.maxGroupBytes })
        }
        // Once students may no longer use their DL-SMS password, the campus identity adopts it;
        // a staff account with a password never.
        try await withService(Configure { $0.identity.local = .staff }) { client, service, _ in
            // A token of the local account from before (someone who registered the student's
            // campus id ahead of them) ends when the campus identity takes the account over.
            let before = try await service.issueToken(for: service.engine.user(studentID: "S2021001")!).token
            #expect(try await client.call(.get, "/auth/me", token: before).status == .ok)
            let renew = try await client.call(
                .post, "/auth/password", token: before,
                json: #"{"current_password":"password123","new_password":"another-long-one"}"#)
            #expect(renew.status == .forbidden && renew.code == "local_sign_in_disabled")
            let adopted = try await service.account(for: identity("S2021001"))
            #expect(try await client.call(.get, "/auth/me", token: before).status == .unauthorized)
            #expect(adopted.source == .ldap && adopted.passwordHash.isEmpty && adopted.id == 1)
            #expect(await refusal { _ = try await service.account(for: identity("admin")) } == "account_conflict")
            _ = try await client.login("admin", "admin-password")
        }
    }

    /// Many first sign-ins of one identity at once: one account.
    @Test func concurrentFirstSignInsMakeOneAccount() async throws {
        try await withService { _, service, _ in
            let before = service.engine.userCount
            let ids = try await withThrowingTaskGroup(of: UserID.self) { group in
                for _ in 0..<20 { group.addTask { try await service.account(for: identity("grace")).id } }
                return try await group.reduce(into: Set<UserID>()) { $0.insert($1) }
            }
            #expect(ids.count == 1 && service.engine.userCount == before + 1)
        }
    }
}

@Suite struct SSOProxyTests {
    func proxied(_ trusted: String) -> Configure {
        Configure {
            $0.identity.proxy = SSOProxySettings()
            $0.identity.staffGroup = "library-staff"
            $0.trustedProxies.ranges = try! TrustedProxies(parsing: trusted).ranges
        }
    }

    @Test func theProxysHeadersSignInAndAHandoffCodeWorksOnce() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        try await withNode(dir, proxied("127.0.0.1"), mode: .live) { client, service in
            let r = try await client.call(
                .get, "/auth/sso",
                headers: [
                    HTTPField.Name("X-Remote-User")!: "rose", HTTPField.Name("X-Remote-Name")!: "Rose Tyler",
                    HTTPField.Name("X-Remote-Groups")!: "students;library-staff",
                ])
            #expect(r.status == .seeOther, "\(r.text)")
            let location = r.headers[.location] ?? ""
            #expect(location.hasPrefix("../#handoff="))
            let code = String(location.dropFirst("../#handoff=".count))
            // The code is bound to the browser the redirect went to, by its cookie.
            let setCookie = r.headers[.setCookie] ?? ""
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Lax"))
            let browser: HTTPFields = [.cookie: String(setCookie.prefix { $0 != ";" })]
            let elsewhere = try await client.call(.post, "/auth/handoff", json: #"{"code":"\#(code)"}"#)
            #expect(elsewhere.status == .unauthorized && elsewhere.code == "invalid_handoff")
            // Tried from another browser, the code is spent: a new sign-in, then its own browser.
            let r2 = try await client.call(
                .get, "/auth/sso",
                headers: [
                    HTTPField.Name("X-Remote-User")!: "rose", HTTPField.Name("X-Remote-Name")!: "Rose Tyler",
                    HTTPField.Name("X-Remote-Groups")!: "students;library-staff",
                ])
            let code2 = String((r2.headers[.location] ?? "").dropFirst("../#handoff=".count))
            let cookie2: HTTPFields = [.cookie: String((r2.headers[.setCookie] ?? "").prefix { $0 != ";" })]
            #expect(cookie2 != browser)
            let signedIn = try await client.call(
                .post, "/auth/handoff", json: #"{"code":"\#(code2)"}"#, headers: cookie2)
            #expect(signedIn.status == .ok && signedIn.json["role"] as? String == "admin")
            #expect(signedIn.headers[.cacheControl] == "no-store")
            let again = try await client.call(
                .post, "/auth/handoff", json: #"{"code":"\#(code2)"}"#, headers: cookie2)
            #expect(again.status == .unauthorized && again.code == "invalid_handoff")
            let token = signedIn.json["token"] as? String ?? ""
            let me = try await client.call(.get, "/auth/me", token: token)
            #expect(me.json["source"] as? String == "sso_proxy" && me.json["name"] as? String == "Rose Tyler")
            // No user header: nobody signed in.
            #expect(try await client.call(.get, "/auth/sso").status == .unauthorized)
            // A staff group name with a no-break or zero-width space is another group.
            for lookalike in ["library-staff\u{A0}", "library-staff\u{200B}", "\u{3000}library-staff"] {
                let r = try await client.call(
                    .get, "/auth/sso",
                    headers: [
                        HTTPField.Name("X-Remote-User")!: "mallory", HTTPField.Name("X-Remote-Groups")!: lookalike,
                    ])
                #expect(r.status == .seeOther)
                #expect(service.engine.user(studentID: "mallory")?.role == .student)
            }
        }
    }

    @Test func theSameHeadersFromAnyoneElseAreIgnored() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        try await withNode(dir, proxied("10.9.9.9"), mode: .live) { client, service in
            let r = try await client.call(
                .get, "/auth/sso", headers: [HTTPField.Name("X-Remote-User")!: "admin"])
            #expect(r.status == .unauthorized)
            #expect(service.engine.user(studentID: "admin")?.source == .local)
        }
        try await withService { client, _, _ in  // not configured at all
            let r = try await client.call(.get, "/auth/sso", headers: [HTTPField.Name("X-Remote-User")!: "admin"])
            #expect(r.status == .notFound)
        }
    }
}

@Suite struct IdentitySettingsTests {
    func parse(_ args: [String]) -> String? {
        do {
            _ = try ServerSettings.parse(arguments: args, environment: [:])
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test func partialOrUnsafeSignInSettingsAreRefusedAtStart() {
        #expect(parse(["--oidc-issuer", "https://idp.example.edu"]) != nil)  // no client id, secret, redirect
        #expect(parse(["--sso-proxy", "true"])?.contains("trusted-proxies") == true)
        #expect(parse(["--sso-user-header", "X-User"])?.contains("sso-proxy") == true)
        #expect(parse(["--local-sign-in", "sometimes"]) != nil)
        #expect(parse(["--staff-group", ""]) != nil)
        let full = [
            "--oidc-issuer", "https://idp.example.edu/realms/campus", "--oidc-client-id", "dlsms",
            "--oidc-client-secret", "s3cret", "--oidc-redirect-uri", "https://seats.example.edu/auth/oidc/callback",
        ]
        #expect(parse(full) == nil)
        #expect(parse(full + ["--oidc-issuer", "http://idp.example.edu"]) != nil)  // http off loopback
        #expect(parse(full + ["--oidc-scopes", "profile"]) != nil)  // without openid
        #expect(parse(["--sso-proxy", "true", "--trusted-proxies", "10.0.0.1", "--sso-user-header", "X-User"]) == nil)
    }
}

/// A live notification stream opened with a token ends when that token signs out, and the token
/// cannot open another; a stream of another token of the account reconnects.
@Suite(.serialized) struct SignOutStreamTests {
    @Test func aStreamEndsAtSignOutAndItsTokenCannotReopenIt() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try ServerProcess(dataDirectory: dir, extra: ["--sse-heartbeat", "1"])
        try await server.waitUntilListening()
        defer { _ = server.stop() }
        let leaving = try await server.login("S2021010")
        let staying = try await server.login("S2021010")
        let stream = try #require(
            RawConnection.eventStream(port: server.port, path: "/notifications/stream?token=\(leaving)"))
        #expect(await stream.waitFor(": connected", timeout: 5))
        let (status, _) = try await server.request("POST", "/auth/logout", token: leaving)
        #expect(status == 200)
        #expect(await stream.waitFor("stream closed by the server", timeout: 10))
        let again = await rawExchange(
            port: server.port,
            Array("GET /notifications/stream?token=\(leaving) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
        #expect(rawStatus(again) == 401)
        let other = try #require(
            RawConnection.eventStream(port: server.port, path: "/notifications/stream?token=\(staying)"))
        #expect(await other.waitFor(": connected", timeout: 5))
        other.shutdownBoth()
    }
}
