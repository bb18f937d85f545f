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

@testable import DLSMSHTTP

let testSecret = "test-secret-test-secret-test-secret-0123"

/// Claims of any shape, signed with the real secret: what an attacker who knows the format (but
/// not the secret) cannot make, and what the server must still survive if the secret leaks.
struct RawClaims: JWTPayload {
    var sub: String
    var studentID: String
    var role: String
    var gen: Double?
    var iat: Double
    var exp: Double
    func verify(using algorithm: some JWTAlgorithm) throws {}

    enum CodingKeys: String, CodingKey {
        case sub, role, gen, iat, exp
        case studentID = "student_id"
    }
}

/// `header.payload` signed with HS256 and the test secret, whatever the header says.
func resigned(header: String, payload: String) async throws -> String {
    let input = header + "." + payload
    let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(testSecret.utf8)))
    let signature = Data(mac).base64EncodedString().replacingOccurrences(of: "=", with: "")
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    return input + "." + signature
}

func signed(_ claims: RawClaims, secret: String = testSecret) async throws -> String {
    let keys = JWTKeyCollection()
    await keys.add(hmac: HMACKey(from: Array(secret.utf8)), digestAlgorithm: .sha256)
    return try await keys.sign(claims)
}

@Suite struct AttemptLimiterTests {
    @Test func concurrentReservationsCountAtOnce() async {
        let limiter = AttemptLimiter(window: 60, capacity: 1_000)
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 { group.addTask { limiter.reserve([("id:S1", 5), ("ip:a", 20)], now: t0) == nil } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 5)
        #expect(limiter.count("id:S1", now: t0) == 5 && limiter.count("ip:a", now: t0) == 5)  // all or none
        #expect(limiter.reserve([("id:S1", 5)], now: t0 + 30) == 30)  // seconds until the window ends
        #expect(limiter.reserve([("id:S1", 5)], now: t0 + 60) == nil)  // a new window
    }

    @Test func releaseAndReset() {
        let limiter = AttemptLimiter(window: 60, capacity: 10)
        for _ in 0..<3 { #expect(limiter.reserve([("k", 3)], now: t0) == nil) }
        #expect(limiter.reserve([("k", 3)], now: t0) != nil)
        limiter.release("k", now: t0)
        #expect(limiter.reserve([("k", 3)], now: t0) == nil)
        limiter.reset("k")
        #expect(limiter.count("k", now: t0) == 0)
    }

    @Test func memoryIsAFixedBudget() {
        let limiter = AttemptLimiter(window: 60, capacity: 1_000)
        for i in 0..<50_000 { _ = limiter.reserve([("id:\(i)", 5)], now: t0 + Int64(i / 10_000)) }
        #expect(limiter.size == 1_000)
        // The newest keys are the ones kept.
        #expect(limiter.count("id:49999", now: t0 + 4) == 1 && limiter.count("id:0", now: t0 + 4) == 0)
    }
}

@Suite struct TrustedProxyTests {
    @Test func parsesAddressesAndRanges() throws {
        let p = try TrustedProxies(parsing: "127.0.0.1, 10.0.0.0/8,::1, fd00::/8")
        #expect(p.trusts("127.0.0.1") && p.trusts("10.200.3.4") && p.trusts("::1") && p.trusts("fd12::5"))
        #expect(!p.trusts("11.0.0.1") && !p.trusts("127.0.0.2") && !p.trusts("fe80::1") && !p.trusts("garbage"))
        #expect(throws: ConfigurationError.self) { try TrustedProxies(parsing: "10.0.0.0/33") }
        #expect(throws: ConfigurationError.self) { try TrustedProxies(parsing: "nginx") }
    }

    @Test func onlyTheProxysOwnHeaderIsReadAndRangesAreStrict() throws {
        var p = try TrustedProxies(parsing: "127.0.0.1")
        // nginx appends to X-Forwarded-For and passes Forwarded through: a client's Forwarded is ignored.
        let both: HTTPFields = [.init("X-Forwarded-For")!: "203.0.113.7", .init("Forwarded")!: "for=198.51.100.1"]
        #expect(p.client(peer: "127.0.0.1", headers: both) == "203.0.113.7")
        p.header = .forwarded
        #expect(p.client(peer: "127.0.0.1", headers: both) == "198.51.100.1")
        for bad in ["0.0.0.0/0", "::/0", "127.0.0.1/", "1.2.3.4/+8", "1.2.3.4/ 8", "10.0.0.0/8/8"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try TrustedProxies(parsing: bad) }
        }
    }

    @Test func clientsAreCountedUnderOneCanonicalKey() {
        #expect(TrustedProxies.key("2001:db8::1") == TrustedProxies.key("2001:0DB8:0:0::7"))
        #expect(TrustedProxies.key("2001:db8::1") == "2001:db8::/64")
        #expect(TrustedProxies.key("2001:db8:0:1::1") != TrustedProxies.key("2001:db8::1"))
        #expect(TrustedProxies.key("::ffff:198.18.1.1") == "198.18.1.1")
        #expect(TrustedProxies.key("198.18.1.1") == "198.18.1.1")
        #expect(TrustedProxies.key("local") == "local")
    }

    @Test func theClientIsTheNearestUntrustedHop() throws {
        let p = try TrustedProxies(parsing: "127.0.0.1,10.0.0.0/8")
        let xff: (String) -> HTTPFields = { [.init("X-Forwarded-For")!: $0] }
        // From a trusted proxy: the last address it did not add itself.
        #expect(p.client(peer: "127.0.0.1", headers: xff("203.0.113.9")) == "203.0.113.9")
        #expect(p.client(peer: "127.0.0.1", headers: xff("1.1.1.1, 203.0.113.9, 10.1.1.1")) == "203.0.113.9")
        var f = p
        f.header = .forwarded
        #expect(
            f.client(peer: "127.0.0.1", headers: [.init("Forwarded")!: #"for="[2001:db8::1]:4711";proto=https"#])
                == "2001:db8::1")
        #expect(f.client(peer: "127.0.0.1", headers: [.init("Forwarded")!: "for=198.51.100.7:80"]) == "198.51.100.7")
        // Garbage, or no header: the proxy itself.
        #expect(p.client(peer: "127.0.0.1", headers: xff("not-an-ip")) == "127.0.0.1")
        #expect(p.client(peer: "127.0.0.1", headers: [:]) == "127.0.0.1")
        // From anyone else the header is a lie it could tell: ignored.
        #expect(p.client(peer: "198.51.100.1", headers: xff("203.0.113.9")) == "198.51.100.1")
        #expect(TrustedProxies().client(peer: "127.0.0.1", headers: xff("203.0.113.9")) == "127.0.0.1")
    }
}

@Suite struct TokenFormTests {
    @Test func onlyCanonicalBase64URLIsAccepted() {
        #expect(TokenService.isCanonicalCompactJWS("eyJh.eyJz.AAAA"))
        #expect(TokenService.isCanonicalCompactJWS("eyJh.eyJz.AAE"))  // 2 bytes, zero padding bits
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz.AAF"))  // non-zero padding bits
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz.AAAA="))
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz.AA+A"))
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz.A"))  // no byte ends there
        #expect(!TokenService.isCanonicalCompactJWS("eyJh..AAAA"))
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz"))
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz.AAAA.AAAA"))
    }

    @Test func theSecretMustBeLongEnough() {
        #expect(throws: ConfigurationError.self) {
            _ = try TokenService.loadSecret(configured: "short", dataDirectory: "/nonexistent")
        }
        #expect((try? TokenService.loadSecret(configured: testSecret, dataDirectory: "/nonexistent")) != nil)
    }

    @Test func queryTokensAreNeverLogged() {
        #expect(RequestLogMiddleware<APIContext>.redacted("token=abc.def.ghi") == "token=<redacted>")
        #expect(RequestLogMiddleware<APIContext>.redacted("a=1&TOKEN=x&b=2") == "a=1&TOKEN=<redacted>&b=2")
        #expect(RequestLogMiddleware<APIContext>.redacted("last_event_id=4") == "last_event_id=4")
    }
}

@Suite struct HashQueueTests {
    /// A hasher whose work waits on a gate, so that the queue's state can be observed.
    final class Gate: Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        func open(_ n: Int) { for _ in 0..<n { semaphore.signal() } }
    }

    @Test func oneClientCannotFillTheQueue() async throws {
        let hasher = PasswordHasher(cost: 4, concurrency: 1, queueLimit: 10, perClient: 3, reserve: 4)
        let gate = Gate()
        let work: @Sendable () -> Int = {
            gate.semaphore.wait()
            return 1
        }
        // Client A takes its whole share: one running, two waiting.
        let a = (0..<3).map { _ in Task { try await hasher.run(client: "A", suspect: false, work) } }
        while hasher.inFlight(client: "A") < 3 { await Task.yield() }
        // Its fourth is refused at once with 429; B still gets a place.
        await #expect(throws: APIError.self) { _ = try await hasher.run(client: "A", suspect: false, work) }
        do {
            _ = try await hasher.run(client: "A", suspect: false, work)
        } catch {
            #expect(error.status == .tooManyRequests && error.retryAfter == 1)
        }
        let b = Task { try await hasher.run(client: "B", suspect: false, work) }
        while hasher.inFlight(client: "B") < 1 { await Task.yield() }
        gate.open(4)
        for t in a { #expect(try await t.value == 1) }
        #expect(try await b.value == 1)
        #expect(hasher.inFlight(client: "A") == 0 && hasher.inFlight(client: "B") == 0)
    }

    @Test func theReserveIsForClientsWithoutFailures() async throws {
        let hasher = PasswordHasher(cost: 4, concurrency: 1, queueLimit: 4, perClient: 1, reserve: 2)
        let gate = Gate()
        let work: @Sendable () -> Int = {
            gate.semaphore.wait()
            return 1
        }
        var tasks: [Task<Int, any Error>] = []
        // One running, two waiting: the queue has 2 of 4 places left, both reserved.
        for c in ["s1", "s2", "s3"] {
            tasks.append(Task { try await hasher.run(client: c, suspect: true, work) })
            while hasher.inFlight(client: c) < 1 { await Task.yield() }
        }
        do {
            _ = try await hasher.run(client: "s4", suspect: true, work)
            Issue.record("a suspect client got a reserved place")
        } catch {
            #expect(error.status == .serviceUnavailable)
        }
        tasks.append(Task { try await hasher.run(client: "clean", suspect: false, work) })
        while hasher.inFlight(client: "clean") < 1 { await Task.yield() }
        gate.open(4)
        for t in tasks { #expect(try await t.value == 1) }
    }
}

@Suite struct LoginAbuseTests {
    @Test func concurrentWrongPasswordsAreEvaluatedAtMostFiveTimes() async throws {
        // The hash queue's per-client share is lifted: here the login limit alone must hold.
        try await withService(Configure { $0.limits.hashesPerClient = 100 }) { client, service, _ in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await client.call(
                            .post, "/auth/login", json: #"{"student_id":"S2021002","password":"wrong-one"}"#
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .unauthorized }.count == 5)
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 45)
            #expect(service.loginLimiter.count("id:S2021002", now: t0) == 5)
            // Even the right password now waits for the window.
            let right = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021002","password":"password123"}"#)
            #expect(right.status == .tooManyRequests && right.headers[.retryAfter] != nil)
        }
    }

    @Test func aSuccessClearsTheStudentsFailures() async throws {
        try await withService { client, service, _ in
            for _ in 0..<4 {
                _ = try await client.call(
                    .post, "/auth/login", json: #"{"student_id":"S2021003","password":"bad-bad"}"#)
            }
            _ = try await client.login("S2021003")
            #expect(service.loginLimiter.count("id:S2021003", now: t0) == 0)
            // Invalid student ids get no key of their own (only the address counts).
            _ = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"\#(String(repeating: "x", count: 65))","password":"x"}"#)
            #expect(service.loginLimiter.size == 1)
        }
    }

    @Test func registrationIsLimitedPerAddressAndCanBeTurnedOff() async throws {
        try await withService(Configure { $0.limits.registrationsPerAddressPerHour = 3 }) { client, _, clock in
            for i in 0..<3 {
                let r = try await client.call(
                    .post, "/auth/register", json: #"{"student_id":"new\#(i)","password":"long-enough"}"#)
                #expect(r.status == .created)
            }
            let fourth = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"new9","password":"long-enough"}"#)
            #expect(fourth.status == .tooManyRequests && fourth.code == "rate_limited")
            #expect(fourth.headers[.retryAfter] == "3600")
            clock.advance(by: 3_600)
            #expect(
                try await client.call(
                    .post, "/auth/register", json: #"{"student_id":"new9","password":"long-enough"}"#
                ).status == .created)
        }
        try await withService(Configure { $0.selfRegistration = false }) { client, _, _ in
            let r = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"new1","password":"long-enough"}"#)
            #expect(r.status == .forbidden && r.code == "registration_closed")
        }
    }

    @Test func aDuplicateRegistrationCostsAHashLikeARealOne() async throws {
        try await withService(Configure { $0.limits.registrationsPerAddressPerHour = 2 }) { client, service, _ in
            // A duplicate is found only after the hash: it is not a free probe for existing accounts,
            // and it counts against the address like any registration.
            let dup = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"S2021001","password":"long-enough"}"#)
            #expect(dup.status == .conflict && dup.code == "duplicate_user")
            #expect(service.registrationLimiter.count("reg:local", now: t0) == 1)
            #expect(
                try await client.call(.post, "/auth/register", json: #"{"student_id":"x1","password":"long-enough"}"#)
                    .status == .created)
            #expect(
                try await client.call(.post, "/auth/register", json: #"{"student_id":"x2","password":"long-enough"}"#)
                    .status == .tooManyRequests)
        }
    }
}

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
        }
    }

    @Test func accountChangesSurviveARestart() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        for round in 0..<2 {
            var config = testConfiguration(dir)
            config.demoData = true
            let service = try await DLSMSServer.makeService(
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

@Suite struct NameTests {
    @Test func namesCannotForgeLinesOrReorderText() async throws {
        try await withService { client, _, _ in
            for name in ["Mallory\\n11\\tadmin", "a\\u001b[2J", "x\\u202ey", "tab\\there", "del\\u007f"] {
                let r = try await client.call(
                    .post, "/auth/register",
                    json: #"{"student_id":"n\#(name.count)","password":"long-enough","name":"\#(name)"}"#)
                #expect(r.status == .badRequest, "\(name): \(r.text)")
            }
            let ok = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"n1","password":"long-enough","name":"Zoë Ünal-Łukasz"}"#
            )
            #expect(ok.status == .created)
        }
    }
}

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
        let first = try await DLSMSServer.makeService(
            config, clock: ManualClock(t0), logger: .init(label: "test"), announce: { _ in })
        #expect(await first.demoAccountsWithPublicPassword().count == 10)
        await first.durable.close()
        config.demoData = false
        await #expect(throws: ConfigurationError.self) {
            _ = try await DLSMSServer.makeService(
                config, clock: ManualClock(t0), logger: .init(label: "test"), announce: { _ in })
        }
    }
}
