import DLSMSCore
import Foundation
import HTTPTypes
import Hummingbird
import JWTKit
import NIOCore
import Synchronization
import Testing

@testable import DLSMSApp

/// A provider's discovery document, key set and token endpoint on loopback, answering with ID
/// tokens the test crafts: the checks of the relying party against what a real provider never
/// sends (the real provider's whole flow is in Tests/oidc).
final class CraftingProvider: Sendable {
    let key = ES256PrivateKey()
    let signer = JWTKeyCollection()
    let port = Mutex(0)
    let keyFetches = Mutex(0)
    let nextToken = Mutex("")
    /// The token endpoint answers 200 and then a byte every 300 ms, forever.
    let drip = Mutex(false)
    private let task = Mutex<Task<Void, any Error>?>(nil)

    var issuer: String { "http://127.0.0.1:\(port.withLock { $0 })" }

    func start() async throws {
        await signer.add(ecdsa: key, kid: "k1")
        let router = Router()
        router.get("/.well-known/openid-configuration") { _, _ -> Response in
            let base = self.issuer
            return Self.json(
                #"{"issuer":"\#(base)","authorization_endpoint":"\#(base)/authorize","token_endpoint":"\#(base)/token","jwks_uri":"\#(base)/jwks","end_session_endpoint":"\#(base)/logout"}"#
            )
        }
        router.get("/jwks") { _, _ -> Response in
            self.keyFetches.withLock { $0 += 1 }
            let p = self.key.publicKey.parameters!
            return Self.json(
                #"{"keys":[{"kty":"EC","crv":"P-256","x":"\#(p.x)","y":"\#(p.y)","kid":"k1","use":"sig","alg":"ES256"},{"kty":"oct","k":"c3ltbWV0cmljLWtleS1zeW1tZXRyaWMta2V5LTAxMjM","kid":"sym"}]}"#
            )
        }
        router.post("/token") { _, _ -> Response in
            guard self.drip.withLock({ $0 }) else {
                return Self.json(
                    #"{"id_token":"\#(self.nextToken.withLock { $0 })","access_token":"at","token_type":"Bearer"}"#)
            }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody { writer in
                    while true {
                        try await writer.write(ByteBuffer(string: " "))
                        try await Task.sleep(for: .milliseconds(300))
                    }
                })
        }
        let (port, task) = await serveOnLoopback(router)
        self.port.withLock { $0 = port }
        self.task.withLock { $0 = task }
    }

    func stop() { task.withLock { $0?.cancel() } }

    static func json(_ text: String) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

struct CraftedClaims: JWTPayload {
    var iss: String
    var sub = "who"
    var aud: [String]
    var exp: Int64
    var iat: Int64
    var nonce: String?
    var azp: String?
    var preferredUsername = "who"
    var groups = ["students", "library-staff"]

    enum CodingKeys: String, CodingKey {
        case iss, sub, aud, exp, iat, nonce, azp, groups
        case preferredUsername = "preferred_username"
    }

    func verify(using algorithm: some JWTAlgorithm) throws {}
}

@Suite(.serialized) struct OIDCTokenTests {
    let now: Timestamp = 1_760_184_000

    func withProvider(
        timeout: Int64 = 20, _ body: (CraftingProvider, OIDCRelyingParty) async throws -> Void
    ) async throws {
        let provider = CraftingProvider()
        try await provider.start()
        defer { provider.stop() }
        var settings = OIDCSettings(
            issuer: provider.issuer, clientID: "dlsms", clientSecret: "secret",
            redirectURI: "http://127.0.0.1:1/auth/oidc/callback")
        settings.keyRefreshSeconds = 3_600
        settings.timeoutSeconds = timeout
        #expect(settings.problem() == nil)
        try await body(provider, OIDCRelyingParty(settings: settings))
    }

    func claims(_ p: CraftingProvider, nonce: String?) -> CraftedClaims {
        CraftedClaims(iss: p.issuer, aud: ["dlsms"], exp: now + 300, iat: now, nonce: nonce)
    }

    /// A sign-in started at the relying party, its `state` and `nonce` read from the address.
    func begin(_ rp: OIDCRelyingParty) async throws -> (state: String, nonce: String, browser: String) {
        let (url, browser) = try await rp.start(now: now, client: "127.0.0.1")
        let items = URLComponents(string: url)?.queryItems ?? []
        let value = { (name: String) in items.first { $0.name == name }?.value ?? "" }
        #expect(value("code_challenge_method") == "S256" && value("code_challenge").count == 43)
        return (value("state"), value("nonce"), browser)
    }

    @Test func aGoodTokenSignsInOnceAndEveryForgeryIsRefused() async throws {
        try await withProvider { p, rp in
            // The good one: the identity, with groups.
            var (state, nonce, browser) = try await begin(rp)
            let good = try await p.signer.sign(claims(p, nonce: nonce), kid: "k1")
            p.nextToken.withLock { $0 = good }
            let (identity, _) = try await rp.finish(code: "c1", state: state, browser: browser, now: now)
            #expect(identity.studentID == "who" && identity.groups == ["students", "library-staff"])
            // The same state again (a replayed callback): refused before the provider is asked.
            #expect(
                await refusal { _ = try await rp.finish(code: "c1", state: state, browser: browser, now: now) }
                    == "invalid_state")
            #expect(
                await refusal { _ = try await rp.finish(code: "c1", state: "made-up", browser: browser, now: now) }
                    == "invalid_state")
            // A callback from another browser than the one that started (login CSRF), or without
            // the binding cookie: refused, and the sign-in is spent.
            for other in ["another-browser", nil] {
                (state, _, _) = try await begin(rp)
                #expect(
                    await refusal { _ = try await rp.finish(code: "c1", state: state, browser: other, now: now) }
                        == "invalid_state")
            }
            // The same token for a new sign-in: its nonce is the old one.
            (state, _, browser) = try await begin(rp)
            #expect(
                await refusal { _ = try await rp.finish(code: "c2", state: state, browser: browser, now: now) }
                    == "invalid_id_token")

            func refused(_ make: (String) async throws -> String) async throws -> String? {
                let (state, nonce, browser) = try await begin(rp)
                let token = try await make(nonce)
                p.nextToken.withLock { $0 = token }
                return await refusal { _ = try await rp.finish(code: "c", state: state, browser: browser, now: now) }
            }
            func signed(_ change: @escaping (inout CraftedClaims) -> Void) -> (String) async throws -> String {
                { nonce in
                    var c = claims(p, nonce: nonce)
                    change(&c)
                    return try await p.signer.sign(c, kid: "k1")
                }
            }
            #expect(try await refused(signed { $0.aud = ["someone-else"] }) == "invalid_id_token")
            #expect(try await refused(signed { $0.aud = ["dlsms", "other"] }) == "invalid_id_token")  // no azp
            #expect(try await refused(signed { $0.azp = "other" }) == "invalid_id_token")
            #expect(try await refused(signed { $0.iss = "https://evil.example" }) == "invalid_id_token")
            #expect(try await refused(signed { $0.exp = now - 3_600 }) == "invalid_id_token")
            #expect(try await refused(signed { $0.iat = now + 3_600 }) == "invalid_id_token")
            #expect(try await refused(signed { $0.nonce = nil }) == "invalid_id_token")
            // alg none; HS256 keyed with the provider's public key; the symmetric key of the set.
            let unsignedPayload = { (nonce: String) throws -> String in
                let body = try JSONEncoder().encode(claims(p, nonce: nonce))
                return Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "."
                    + Base64URL.encode(Array(body))
            }
            #expect(try await refused({ try unsignedPayload($0) + "." }) == "invalid_id_token")
            #expect(
                try await refused({ nonce in
                    let hs = JWTKeyCollection()
                    await hs.add(
                        hmac: HMACKey(from: Array(p.key.publicKey.pemRepresentation.utf8)), digestAlgorithm: .sha256,
                        kid: "k1")
                    return try await hs.sign(claims(p, nonce: nonce), kid: "k1")
                }) == "invalid_id_token")
            #expect(
                try await refused({ nonce in
                    let hs = JWTKeyCollection()
                    await hs.add(
                        hmac: HMACKey(from: Array("symmetric-key-symmetric-key-0123".utf8)), digestAlgorithm: .sha256,
                        kid: "sym")
                    return try await hs.sign(claims(p, nonce: nonce), kid: "sym")
                }) == "invalid_id_token")
            // A key that is not the provider's, under its kid and under another.
            let stranger = JWTKeyCollection()
            await stranger.add(ecdsa: ES256PrivateKey(), kid: "k1")
            await stranger.add(ecdsa: ES256PrivateKey(), kid: "k9")
            #expect(
                try await refused({ try await stranger.sign(claims(p, nonce: $0), kid: "k1") }) == "invalid_id_token")
            #expect(
                try await refused({ try await stranger.sign(claims(p, nonce: $0), kid: "k9") }) == "invalid_id_token")
            // A signature cut short, a payload changed after signing.
            #expect(try await refused({ String(try await signed { _ in }($0).dropLast(4)) }) == "invalid_id_token")
            #expect(
                try await refused({ nonce in
                    let parts = try await signed { _ in }(nonce).split(separator: ".").map(String.init)
                    var c = claims(p, nonce: nonce)
                    c.preferredUsername = "admin"
                    return parts[0] + "." + Base64URL.encode(Array(try JSONEncoder().encode(c))) + "." + parts[2]
                }) == "invalid_id_token")
        }
    }

    /// Tokens naming unknown key ids, many at once: the keys are fetched again at most once per
    /// refresh period, not once per token.
    @Test func anUnknownKidFloodFetchesTheKeysAtMostOncePerPeriod() async throws {
        try await withProvider { p, rp in
            let stranger = JWTKeyCollection()
            for i in 0..<40 {
                await stranger.add(ecdsa: ES256PrivateKey(), kid: JWKIdentifier(string: "kid-\(i)"))
            }
            let before = p.keyFetches.withLock { $0 }
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<40 {
                    group.addTask {
                        guard let (state, nonce, browser) = try? await begin(rp),
                            let token = try? await stranger.sign(
                                claims(p, nonce: nonce), kid: JWKIdentifier(string: "kid-\(i)"))
                        else { return }
                        p.nextToken.withLock { $0 = token }
                        _ = try? await rp.finish(code: "c", state: state, browser: browser, now: now)
                    }
                }
            }
            #expect(p.keyFetches.withLock { $0 } - before <= 1)
        }
    }

    /// A provider that is down or answers garbage: `identity_provider_unavailable`, in bounded time.
    @Test func aProviderThatIsDownOrGarbageIsUnavailable() async throws {
        var settings = OIDCSettings(
            issuer: "http://127.0.0.1:1", clientID: "dlsms", clientSecret: "s",
            redirectURI: "http://127.0.0.1:2/auth/oidc/callback")
        settings.timeoutSeconds = 2
        let rp = OIDCRelyingParty(settings: settings)
        let started = ContinuousClock.now
        #expect(await refusal { _ = try await rp.start(now: now, client: "x") } == "identity_provider_unavailable")
        #expect(started.duration(to: .now) < .seconds(10))
        // Settings that cannot work are refused at start.
        for bad in [
            OIDCSettings(
                issuer: "http://evil.example", clientID: "a", clientSecret: "b", redirectURI: settings.redirectURI),
            OIDCSettings(issuer: settings.issuer, clientID: "", clientSecret: "b", redirectURI: settings.redirectURI),
            OIDCSettings(issuer: settings.issuer, clientID: "a", clientSecret: "b", redirectURI: "http://x/elsewhere"),
        ] {
            #expect(bad.problem() != nil)
        }
    }

    /// A provider that answers its token endpoint a byte at a time: cut off at the timeout (the
    /// deadline covers the body), not waited for.
    @Test func aProviderThatDripsItsAnswerIsCutOffAtTheTimeout() async throws {
        try await withProvider(timeout: 2) { provider, rp in
            let (state, _, browser) = try await begin(rp)
            provider.drip.withLock { $0 = true }
            let started = ContinuousClock.now
            let code = await refusal { _ = try await rp.finish(code: "c", state: state, browser: browser, now: now) }
            #expect(code == "identity_provider_unavailable")
            #expect(started.duration(to: .now) < .seconds(8), "\(started.duration(to: .now))")
        }
    }

    /// One address cannot fill the table of sign-ins under way: beyond its share it is refused
    /// (429), and others still start.
    @Test func oneAddressCannotLockEveryoneOut() async throws {
        try await withProvider { _, rp in
            for _ in 0..<OIDCRelyingParty.pendingPerClient { _ = try await rp.start(now: now, client: "10.0.0.66") }
            #expect(await refusal { _ = try await rp.start(now: now, client: "10.0.0.66") } == "rate_limited")
            _ = try await rp.start(now: now, client: "10.0.0.67")
            // Its sign-ins expire, and it may start again.
            _ = try await rp.start(now: now + OIDCRelyingParty.pendingLifetime + 1, client: "10.0.0.66")
        }
    }
}
