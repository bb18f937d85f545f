import AsyncHTTPClient
import Crypto
import DLSMSCore
import Foundation
import JWTKit
import NIOCore
import NIOHTTP1
import Synchronization

/// The settings of OpenID Connect sign-in.
public struct OIDCSettings: Sendable, Hashable {
    /// The provider's issuer, exactly as its discovery document and ID tokens state it.
    public var issuer: String
    public var clientID: String
    public var clientSecret: String
    /// Exactly as registered at the provider; must end with `/auth/oidc/callback`.
    public var redirectURI: String
    /// "Sign in with …" in the web app.
    public var displayName = "campus account"
    public var scopes = "openid profile email"
    /// The claims that give the student id, name, email and groups (ID token, then UserInfo).
    public var studentIDClaim = "preferred_username"
    public var nameClaim = "name"
    public var emailClaim = "email"
    public var groupsClaim = "groups"
    /// `client_secret_basic` (the default) or `client_secret_post`.
    public var clientAuthentication = "client_secret_basic"
    /// Where the provider sends the browser after signing out (RP-initiated logout); nil: none sent.
    public var postLogoutRedirectURI: String?
    /// Every call to the provider is bounded by this.
    public var timeoutSeconds: Int64 = 5
    /// An unknown `kid` refetches the provider's keys at most this often.
    public var keyRefreshSeconds: Int64 = 30
    /// The clock difference tolerated for `iat` and `exp`.
    public var clockSkewSeconds: Int64 = 60

    public init(issuer: String, clientID: String, clientSecret: String, redirectURI: String) {
        self.issuer = issuer
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.redirectURI = redirectURI
    }

    /// The problem with these settings, if any (checked at start).
    public func problem() -> String? {
        guard let url = URL(string: issuer), let scheme = url.scheme, let host = url.host, !host.isEmpty else {
            return "--oidc-issuer must be an absolute URL"
        }
        let loopback = ["127.0.0.1", "localhost", "::1", "[::1]"].contains(host)
        guard scheme == "https" || (scheme == "http" && loopback) else {
            return "--oidc-issuer must be https (http only on a loopback address, for tests)"
        }
        guard !clientID.isEmpty else { return "--oidc-client-id is required" }
        guard !clientSecret.isEmpty else { return "OIDC_CLIENT_SECRET (--oidc-client-secret) is required" }
        guard let r = URL(string: redirectURI), r.scheme == "https" || r.scheme == "http", r.host != nil,
            r.path.hasSuffix("/auth/oidc/callback"), r.query == nil, r.fragment == nil
        else { return "--oidc-redirect-uri must be an absolute URL ending in /auth/oidc/callback" }
        guard ["client_secret_basic", "client_secret_post"].contains(clientAuthentication) else {
            return "--oidc-client-auth must be client_secret_basic or client_secret_post"
        }
        guard scopes.split(separator: " ").contains("openid") else { return "--oidc-scopes must include openid" }
        return nil
    }

    /// The web app's address (the redirect URI without `auth/oidc/callback`).
    public var appURL: String { String(redirectURI.dropLast("auth/oidc/callback".count)) }
}

/// OpenID Connect sign-in as a relying party: authorization code flow with PKCE (S256), `state`
/// and `nonce`; the provider's discovery document and keys fetched with bounds and cached; the ID
/// token verified with jwt-kit (RS256 or ES256 only, a key of the provider's JWKS named by `kid`)
/// and its claims checked (`iss`, `aud`, `azp`, `exp`, `iat`, `nonce`).
public final class OIDCRelyingParty: Sendable {
    public let settings: OIDCSettings
    private let pending = Mutex(PendingSignIns())
    private let provider: OIDCProviderCache

    /// Sign-ins started, by `state`, and how many each client address has started.
    struct PendingSignIns {
        var byState: [String: Pending] = [:]
        var perClient: [String: Int] = [:]

        mutating func dropExpired(now: Timestamp) {
            byState = byState.filter { $0.value.expires > now }
            perClient = [:]
            for p in byState.values { perClient[p.client, default: 0] += 1 }
        }

        mutating func remove(_ state: String) -> Pending? {
            guard let p = byState.removeValue(forKey: state) else { return nil }
            perClient[p.client, default: 1] -= 1
            if perClient[p.client] == 0 { perClient[p.client] = nil }
            return p
        }
    }

    struct Pending {
        var client: String
        var nonce: String
        var verifier: String
        var expires: Timestamp
        /// The SHA-256 of the browser's binding cookie: the callback must come from the browser
        /// that started the sign-in (else an attacker's callback signs a victim in as the attacker).
        var browser: [UInt8]
    }

    /// The last ID token of each account signed in here (the `id_token_hint` of the provider's
    /// sign-out, which then returns without asking); at most ``hintCapacity``.
    private let hints = Mutex<[UserID: String]>([:])
    static let hintCapacity = 10_000

    /// Sign-ins started and not finished, at most (each lives ``pendingLifetime`` seconds).
    static let pendingCapacity = 10_000
    /// … and per client address (one address cannot fill the table and lock everyone out).
    static let pendingPerClient = 50
    static let pendingLifetime: Timestamp = 600

    public init(settings: OIDCSettings) {
        self.settings = settings
        provider = OIDCProviderCache(settings: settings)
    }

    /// The provider's address that starts a sign-in (the browser goes there), and the value of
    /// the cookie that binds the sign-in to this browser (``bindingCookie``).
    public func start(now: Timestamp, client: String) async throws -> (url: String, binding: String) {
        let metadata = try await provider.metadata()
        let state = Base64URL.encode(Base64URL.random(32))
        let nonce = Base64URL.encode(Base64URL.random(32))
        let verifier = Base64URL.encode(Base64URL.random(48))
        let challenge = Base64URL.encode(Self.digest(verifier))
        let binding = Base64URL.encode(Base64URL.random(32))
        let refusal = pending.withLock { p -> AppError? in
            if p.byState.count >= Self.pendingCapacity || p.perClient[client, default: 0] >= Self.pendingPerClient {
                p.dropExpired(now: now)
            }
            guard p.perClient[client, default: 0] < Self.pendingPerClient else {
                return AppError(
                    .rateLimited, "rate_limited", "too many sign-ins started from this address; try again later",
                    retryAfter: Self.pendingLifetime)
            }
            guard p.byState.count < Self.pendingCapacity else {
                return AppError(.unavailable, "busy", "too many sign-ins under way; try again later", retryAfter: 60)
            }
            p.byState[state] = Pending(
                client: client, nonce: nonce, verifier: verifier, expires: now + Self.pendingLifetime,
                browser: Self.digest(binding))
            p.perClient[client, default: 0] += 1
            return nil
        }
        if let refusal { throw refusal }
        let url =
            metadata.authorizationEndpoint + (metadata.authorizationEndpoint.contains("?") ? "&" : "?")
            + FormEncoding.encode([
                ("response_type", "code"), ("client_id", settings.clientID), ("redirect_uri", settings.redirectURI),
                ("scope", settings.scopes), ("state", state), ("nonce", nonce), ("code_challenge", challenge),
                ("code_challenge_method", "S256"),
            ])
        return (url, binding)
    }

    /// The name of the cookie that binds a sign-in to the browser that started it.
    public static let bindingCookie = "dlsms_oidc"

    static func digest(_ text: String) -> [UInt8] { Array(SHA256.hash(data: Array(text.utf8))) }

    /// Remembers the ID token of an account's sign-in, for the provider's sign-out.
    public func remember(idToken: String, for user: UserID) {
        hints.withLock { h in
            if h.count >= Self.hintCapacity { h.removeAll(keepingCapacity: true) }
            h[user] = idToken
        }
    }

    /// The identity of a finished sign-in: the callback's `code` and `state`. A `state` this node
    /// did not issue, or already used, is refused before the provider is asked anything.
    public func finish(code: String, state: String, browser: String?, now: Timestamp) async throws -> (
        identity: ExternalIdentity, idToken: String
    ) {
        guard state.utf8.count <= 128, let p = pending.withLock({ $0.remove(state) }), p.expires > now,
            let browser, Bcrypt.constantTimeEquals(Self.digest(browser), p.browser)
        else {
            throw AppError(.badRequest, "invalid_state", "this sign-in is unknown, used or expired; start again")
        }
        guard !code.isEmpty, code.utf8.count <= 4_096 else { throw AppError.badRequest("the code is missing") }
        let metadata = try await provider.metadata()
        let tokens = try await provider.exchange(code: code, verifier: p.verifier, metadata: metadata)
        var claims = try await verifyIDToken(tokens.idToken, nonce: p.nonce, now: now)
        if let accessToken = tokens.accessToken, let userinfo = metadata.userinfoEndpoint, missesMappedClaims(claims) {
            let text = try await provider.userinfo(userinfo, accessToken: accessToken)
            let extra = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
            guard extra["sub"] as? String == claims["sub"] as? String else {
                throw AppError.identityProviderUnavailable("UserInfo names another subject")
            }
            for (k, v) in extra where claims[k] == nil { claims[k] = v }
        }
        return (try identity(from: claims), tokens.idToken)
    }

    /// Where the browser signs out at the provider too (RP-initiated logout), if it offers it.
    public func endSessionURL(for user: UserID) async -> String? {
        guard let metadata = try? await provider.metadata(), let end = metadata.endSessionEndpoint else { return nil }
        var query = [("client_id", settings.clientID)]
        if let hint = hints.withLock({ $0.removeValue(forKey: user) }) { query.append(("id_token_hint", hint)) }
        if let back = settings.postLogoutRedirectURI { query.append(("post_logout_redirect_uri", back)) }
        return end + (end.contains("?") ? "&" : "?") + FormEncoding.encode(query)
    }

    /// The ID token's claims when it verifies: signature by a provider key (RS256/ES256), then
    /// `iss`, `aud`, `azp`, `exp`, `iat`, `nonce`.
    func verifyIDToken(_ token: String, nonce: String, now: Timestamp) async throws -> [String: Any] {
        let header = try IDTokenHeader.parse(token)
        guard let key = try await provider.key(kid: header.kid, alg: header.alg) else {
            throw AppError(
                .unauthorized, "invalid_id_token", "the ID token is signed by a key the provider does not list")
        }
        let payload: IDTokenPayload
        do {
            payload = try await key.verify(token, as: IDTokenPayload.self)
        } catch {
            throw AppError(.unauthorized, "invalid_id_token", "the ID token's signature does not verify")
        }
        try check(payload, nonce: nonce, now: now)
        return try IDTokenHeader.claims(token)
    }

    private func check(_ p: IDTokenPayload, nonce: String, now: Timestamp) throws {
        func refuse(_ why: String) -> AppError { AppError(.unauthorized, "invalid_id_token", "the ID token \(why)") }
        let skew = settings.clockSkewSeconds
        guard p.iss == settings.issuer else { throw refuse("is from another issuer") }
        guard p.aud.value.contains(settings.clientID) else { throw refuse("is for another client") }
        if p.aud.value.count > 1 || p.azp != nil {
            guard p.azp == settings.clientID else { throw refuse("names another authorized party") }
        }
        guard let exp = TokenService.timestamp(p.exp.value), exp > now - skew else { throw refuse("has expired") }
        guard let iat = TokenService.timestamp(p.iat.value), iat <= now + skew, iat > now - Self.pendingLifetime - skew
        else { throw refuse("was not issued now") }
        guard let n = p.nonce, n.utf8.count == nonce.utf8.count,
            Bcrypt.constantTimeEquals(Array(n.utf8), Array(nonce.utf8))
        else { throw refuse("is not for this sign-in (nonce)") }
    }

    private func missesMappedClaims(_ claims: [String: Any]) -> Bool {
        [settings.studentIDClaim, settings.nameClaim, settings.emailClaim, settings.groupsClaim].contains {
            claims[$0] == nil
        }
    }

    func identity(from claims: [String: Any]) throws -> ExternalIdentity {
        guard let id = claims[settings.studentIDClaim] as? String, !id.isEmpty else {
            throw AppError(
                .forbidden, "identity_not_usable", "the provider did not send the claim '\(settings.studentIDClaim)'")
        }
        var groups: [String] = []
        if let list = claims[settings.groupsClaim] as? [Any] {
            groups = list.compactMap { $0 as? String }
        } else if let one = claims[settings.groupsClaim] as? String {
            groups = SSOProxySettings.groups(one)
        }
        return ExternalIdentity(
            source: .oidc, studentID: id, name: claims[settings.nameClaim] as? String,
            email: claims[settings.emailClaim] as? String, groups: groups)
    }
}

/// The parts of an ID token's payload jwt-kit decodes; the checks are ``OIDCRelyingParty``'s.
struct IDTokenPayload: JWTPayload {
    var iss: String
    var sub: String
    var aud: AudienceClaim
    var exp: ExpirationClaim
    var iat: IssuedAtClaim
    var nonce: String?
    var azp: String?

    func verify(using algorithm: some JWTAlgorithm) throws {}
}

/// An ID token's header and claims, read before and after jwt-kit checks the signature.
enum IDTokenHeader {
    /// The algorithm (RS256 or ES256, nothing else) and key id.
    static func parse(_ token: String) throws -> (alg: String, kid: String?) {
        guard token.utf8.count <= 16_384, let header = part(token, 0), let alg = header["alg"] as? String
        else { throw AppError(.unauthorized, "invalid_id_token", "the ID token is not a signed JWT") }
        guard alg == "RS256" || alg == "ES256" else {
            throw AppError(.unauthorized, "invalid_id_token", "the ID token's algorithm \(alg) is not accepted")
        }
        return (alg, header["kid"] as? String)
    }

    static func claims(_ token: String) throws -> [String: Any] {
        guard let claims = part(token, 1) else {
            throw AppError(.unauthorized, "invalid_id_token", "the ID token's claims are not JSON")
        }
        return claims
    }

    private static func part(_ token: String, _ index: Int) -> [String: Any]? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, token.utf8.count <= 16_384 else { return nil }
        var text = parts[index].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}

/// `application/x-www-form-urlencoded` (and the query of a URL): every byte but the unreserved
/// ASCII ones percent-encoded.
enum FormEncoding {
    static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { component($0.0) + "=" + component($0.1) }.joined(separator: "&")
    }

    static func component(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(UnicodeScalar(b))
            default:
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
