import AsyncHTTPClient
import DLSMSCore
import Foundation
import JWTKit
import NIOCore
import NIOHTTP1

/// What the relying party knows of the provider: its discovery document (kept for an hour) and
/// its signing keys (fetched again for an unknown `kid`, at most every ``OIDCSettings/keyRefreshSeconds``).
/// Every call is bounded in time and size; a provider that is down, slow or answers garbage is
/// `identity_provider_unavailable`.
actor OIDCProviderCache {
    struct Metadata: Sendable {
        var authorizationEndpoint: String
        var tokenEndpoint: String
        var jwksURI: String
        var userinfoEndpoint: String?
        var endSessionEndpoint: String?
        var fetched: ContinuousClock.Instant
    }

    struct Tokens: Sendable {
        var idToken: String
        var accessToken: String?
    }

    let settings: OIDCSettings
    private var cached: Metadata?
    private var keys: [String: JWTKeyCollection] = [:]
    private var keysFetched: ContinuousClock.Instant?

    static let maxDocumentBytes = 256 * 1024

    /// One client for every provider call of the process (never shut down: it lives as long as
    /// the process). It does not retry a refused connection until the deadline, as the shared
    /// client does: a provider that is down is reported at once. No redirects: the provider's
    /// endpoints are the ones its discovery document names.
    private static let client = HTTPClient(
        eventLoopGroupProvider: .singleton,
        configuration: {
            var c = HTTPClient.Configuration(
                redirectConfiguration: .disallow, timeout: .init(connect: .seconds(10), read: .seconds(30)))
            c.connectionPool.retryConnectionEstablishment = false
            return c
        }())

    init(settings: OIDCSettings) { self.settings = settings }

    func metadata() async throws -> Metadata {
        if let m = cached, m.fetched.duration(to: .now) < .seconds(3_600) { return m }
        let url = settings.issuer.hasSuffix("/") ? settings.issuer : settings.issuer + "/"
        let doc = try await json(get: url + ".well-known/openid-configuration")
        guard doc["issuer"] as? String == settings.issuer, let auth = endpoint(doc["authorization_endpoint"]),
            let token = endpoint(doc["token_endpoint"]), let jwks = endpoint(doc["jwks_uri"])
        else { throw AppError.identityProviderUnavailable("the discovery document is not this issuer's") }
        let m = Metadata(
            authorizationEndpoint: auth, tokenEndpoint: token, jwksURI: jwks,
            userinfoEndpoint: endpoint(doc["userinfo_endpoint"]),
            endSessionEndpoint: endpoint(doc["end_session_endpoint"]), fetched: .now)
        cached = m
        return m
    }

    /// An endpoint of the discovery document: an absolute URL of the issuer's scheme (https, or
    /// http where the issuer is http on loopback), at most 2 kB; anything else counts as absent.
    private func endpoint(_ value: Any?) -> String? {
        guard let text = value as? String, text.utf8.count <= 2_048, let url = URL(string: text),
            let host = url.host, !host.isEmpty, url.fragment == nil,
            url.scheme == "https" || (url.scheme == "http" && settings.issuer.hasPrefix("http:"))
        else { return nil }
        return text
    }

    /// The authorization code exchanged for tokens (with the PKCE verifier and the client's secret).
    func exchange(code: String, verifier: String, metadata: Metadata) async throws -> Tokens {
        var form = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", settings.redirectURI),
            ("code_verifier", verifier),
        ]
        var request = HTTPClientRequest(url: metadata.tokenEndpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Accept", value: "application/json")
        if settings.clientAuthentication == "client_secret_post" {
            form += [("client_id", settings.clientID), ("client_secret", settings.clientSecret)]
        } else {
            let pair = FormEncoding.component(settings.clientID) + ":" + FormEncoding.component(settings.clientSecret)
            request.headers.add(name: "Authorization", value: "Basic " + Data(pair.utf8).base64EncodedString())
        }
        request.body = .bytes(ByteBuffer(string: FormEncoding.encode(form)))
        let (status, doc) = try await send(request)
        guard status == .ok else {
            let error = doc["error"] as? String ?? "HTTP \(status.code)"
            throw AppError(
                .unauthorized, "invalid_grant", "the provider refused the sign-in code (\(error)); start again")
        }
        guard let id = doc["id_token"] as? String else {
            throw AppError.identityProviderUnavailable("the token answer has no ID token")
        }
        return Tokens(idToken: id, accessToken: doc["access_token"] as? String)
    }

    /// The UserInfo answer, as JSON text (its claims fill in what the ID token lacks).
    func userinfo(_ url: String, accessToken: String) async throws -> String {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer " + accessToken)
        request.headers.add(name: "Accept", value: "application/json")
        let (status, doc) = try await send(request)
        guard status == .ok else { throw AppError.identityProviderUnavailable("UserInfo answered \(status.code)") }
        return String(decoding: try JSONSerialization.data(withJSONObject: doc), as: UTF8.self)
    }

    /// The key that verifies a token of this `kid` and algorithm; the keys are fetched again when
    /// the `kid` is unknown and the last fetch is old enough. `nil`: no such key.
    func key(kid: String?, alg: String) async throws -> JWTKeyCollection? {
        let name = kid ?? ""
        if let k = keys[name] { return k }
        let refresh = Duration.seconds(settings.keyRefreshSeconds)
        if let last = keysFetched, last.duration(to: .now) < refresh { return nil }
        try await fetchKeys()
        return keys[name]
    }

    private func fetchKeys() async throws {
        keysFetched = .now
        let m = try await metadata()
        let doc = try await json(get: m.jwksURI)
        guard let list = doc["keys"] as? [[String: Any]] else {
            throw AppError.identityProviderUnavailable("the provider's key set has no keys")
        }
        var fresh: [String: JWTKeyCollection] = [:]
        for entry in list.prefix(64) {
            guard let (kid, jwk) = Self.verifyingKey(entry, single: list.count == 1) else { continue }
            let collection = JWTKeyCollection()
            guard (try? await collection.add(jwk: jwk, isDefault: true)) != nil else { continue }
            fresh[kid] = collection
        }
        keys = fresh
    }

    /// A signing key of the set: RSA (RS256) or EC P-256 (ES256) public keys for signatures only;
    /// anything else (symmetric keys, encryption keys) is skipped.
    private static func verifyingKey(_ entry: [String: Any], single: Bool) -> (String, JWK)? {
        let kty = entry["kty"] as? String
        guard kty == "RSA" || (kty == "EC" && entry["crv"] as? String == "P-256") else { return nil }
        if let use = entry["use"] as? String, use != "sig" { return nil }
        let alg = kty == "RSA" ? "RS256" : "ES256"
        if let stated = entry["alg"] as? String, stated != alg { return nil }
        let kid = entry["kid"] as? String ?? (single ? "" : nil)
        guard let kid else { return nil }
        var publicPart = entry.filter { ["kty", "n", "e", "crv", "x", "y"].contains($0.key) }
        publicPart["alg"] = alg
        publicPart["kid"] = kid.isEmpty ? "default" : kid
        guard let data = try? JSONSerialization.data(withJSONObject: publicPart),
            let jwk = try? JSONDecoder().decode(JWK.self, from: data)
        else { return nil }
        return (kid, jwk)
    }

    private func json(get url: String) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        let (status, doc) = try await send(request)
        guard status == .ok else { throw AppError.identityProviderUnavailable("\(url) answered \(status.code)") }
        return doc
    }

    /// One bounded call: the whole exchange within the timeout, the body within
    /// ``maxDocumentBytes``, a JSON object.
    private func send(_ request: HTTPClientRequest) async throws -> (HTTPResponseStatus, [String: Any]) {
        let seconds = settings.timeoutSeconds
        let (status, body): (HTTPResponseStatus, ByteBuffer)
        do {
            // The deadline covers the whole exchange, the body too: a provider that sends its
            // answer a byte at a time is cut off like one that does not answer.
            (status, body) = try await withThrowingTaskGroup(of: (HTTPResponseStatus, ByteBuffer)?.self) { group in
                group.addTask {
                    let response = try await Self.client.execute(request, timeout: .seconds(seconds))
                    return (response.status, try await response.body.collect(upTo: Self.maxDocumentBytes))
                }
                group.addTask {
                    try await Task.sleep(for: .seconds(seconds))
                    return nil
                }
                defer { group.cancelAll() }
                guard let first = try await group.next(), let answer = first else { throw CancellationError() }
                return answer
            }
        } catch {
            throw AppError.identityProviderUnavailable("the provider did not answer in time or at all")
        }
        guard let doc = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] else {
            throw AppError.identityProviderUnavailable("the provider's answer is not JSON")
        }
        return (status, doc)
    }
}
