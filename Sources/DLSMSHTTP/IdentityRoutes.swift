import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Campus sign-in and sign-out:
/// - `GET /auth/providers`: which ways of signing in this server offers (the web app's sign-in page);
/// - `GET /auth/oidc/start` (JSON) and `GET /auth/oidc/login` (a redirect): a new OpenID Connect
///   sign-in at the provider; `GET /auth/oidc/callback`: its end, which sends the browser to the
///   web app with a one-time code (`#handoff=…`) or an error (`#signin_error=…`);
/// - `GET /auth/sso`: the page a trusted SSO proxy (SAML, CAS) protects; its user headers count
///   only from a `--trusted-proxies` peer;
/// - `POST /auth/handoff {"code"}`: the one-time code for a token (the answer of a login);
/// - `POST /auth/logout`: the caller's token stops working at once, on every node.
package func addIdentityRoutes(public router: Router<APIContext>, api: RouterGroup<APIContext>, service: LibraryService)
{
    let settings = service.configuration.identity
    router.get("/auth/providers") { _, _ -> Response in
        Render.response {
            $0.object {
                $0.field("local", settings.local.rawValue)
                $0.field("registration", service.configuration.selfRegistration && settings.local == .all)
                $0.field("ldap", service.directory != nil)
                if let oidc = service.oidc {
                    $0.field("oidc", object: { $0.field("name", oidc.settings.displayName) })
                } else {
                    $0.field("oidc", nil as String?)
                }
                if let proxy = settings.proxy {
                    $0.field("sso", object: { $0.field("name", proxy.displayName) })
                } else {
                    $0.field("sso", nil as String?)
                }
            }
        }
    }
    addOIDCRoutes(router, service: service)
    router.get("/auth/sso") { request, context -> Response in
        let user = try await service.account(for: try ssoIdentity(request, context: context, service: service))
        // The code is bound to this browser by a new cookie (set with the redirect).
        let browser = Base64URL.encode(Base64URL.random(32))
        let app = request.uri.path.hasSuffix("/") ? "../../" : "../"
        var response = try handoffRedirect(to: app, user: user, browser: browser, service: service)
        response.headers[.setCookie] = bindingCookie(
            browser, secure: service.configuration.publicURL?.hasPrefix("https:") == true)
        return response
    }
    router.post("/auth/handoff") { request, context -> Response in
        var request = request
        let body = try await request.decodeJSON(Handoff.self)
        let browser = cookie(OIDCRelyingParty.bindingCookie, in: request)
        guard let code = body.code,
            let id = service.handoff.redeem(code, browser: browser, now: service.engine.clock.now()),
            let user = service.engine.user(id: id), !user.disabled
        else {
            throw APIError(
                .unauthorized, "invalid_handoff",
                "this sign-in code is unknown, used, expired or from another browser; sign in again")
        }
        var response = try await loginResponse(
            user, status: .ok, service: service, signInFrom: context.clientAddress)
        response.headers[.setCookie] = bindingCookie("", secure: false, maxAge: 0)
        return response
    }
    api.post("/auth/logout") { _, context -> Response in
        let caller = try context.requireCaller()
        guard let token = context.token else { throw APIError.unauthorized }
        try await service.signOut(token: token, caller: caller)
        let source = service.engine.user(id: caller.userID)?.source
        let endSession = source == .oidc ? await service.oidc?.endSessionURL(for: caller.userID) : nil
        return Render.response {
            $0.object {
                $0.field("signed_out", true)
                if let endSession { $0.field("end_session_url", endSession) }
            }
        }
    }
}

private func addOIDCRoutes(_ router: Router<APIContext>, service: LibraryService) {
    @Sendable func provider() throws -> OIDCRelyingParty {
        guard let oidc = service.oidc else {
            throw APIError(.notFound, "not_found", "OpenID Connect sign-in is not configured on this server")
        }
        return oidc
    }
    /// A new sign-in: the provider's address, and the cookie that binds it to this browser.
    @Sendable func begin(_ context: APIContext) async throws -> (url: String, cookie: String) {
        let oidc = try provider()
        let (url, binding) = try await oidc.start(now: service.engine.clock.now(), client: context.clientAddress)
        return (url, bindingCookie(binding, secure: oidc.settings.redirectURI.hasPrefix("https:")))
    }
    router.get("/auth/oidc/start") { _, context -> Response in
        let (url, cookie) = try await begin(context)
        var response = Render.response { $0.object { $0.field("authorization_url", url) } }
        response.headers[.setCookie] = cookie
        response.headers[.cacheControl] = "no-store"
        return response
    }
    router.get("/auth/oidc/login") { _, context -> Response in
        let (url, cookie) = try await begin(context)
        return Response(status: .seeOther, headers: [.location: url, .cacheControl: "no-store", .setCookie: cookie])
    }
    router.get("/auth/oidc/callback") { request, context -> Response in
        let oidc = try provider()
        let query = request.uri.queryParameters
        let app = oidc.settings.appURL
        do {
            if let error = query.get("error") {
                throw AppError(.unauthorized, "provider_refused", "the campus sign-in answered: \(error.prefix(100))")
            }
            let browser = cookie(OIDCRelyingParty.bindingCookie, in: request)
            let (identity, idToken) = try await oidc.finish(
                code: query.get("code") ?? "", state: query.get("state") ?? "", browser: browser,
                now: service.engine.clock.now())
            let user = try await service.account(for: identity)
            oidc.remember(idToken: idToken, for: user.id)
            // The same browser (its cookie checked by finish) redeems the code.
            return try handoffRedirect(to: app, user: user, browser: browser ?? "", service: service)
        } catch let error as AppError {
            context.logger.notice("OpenID Connect sign-in refused: \(error.code): \(error.message)")
            return Response(
                status: .seeOther, headers: [.location: app + "#signin_error=" + error.code, .cacheControl: "no-store"])
        }
    }
}

/// The identity a trusted SSO proxy vouches for; from any other peer, its headers are ignored
/// (and logged) and the answer is 401.
private func ssoIdentity(_ request: Request, context: APIContext, service: LibraryService) throws -> ExternalIdentity {
    guard let proxy = service.configuration.identity.proxy else {
        throw APIError(.notFound, "not_found", "SSO proxy sign-in is not configured on this server")
    }
    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { request.headers[$0] }.map {
            $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t"))  // ASCII blanks only
        }
    }
    let user = header(proxy.userHeader)
    guard service.configuration.trustedProxies.trusts(context.peerAddress) else {
        if user != nil {
            context.logger.warning(
                "ignored \(proxy.userHeader) from \(context.peerAddress), which is not a trusted proxy")
        }
        throw APIError(.unauthorized, "unauthorized", "sign in through the campus single sign-on")
    }
    guard let user, !user.isEmpty else {
        throw APIError(.unauthorized, "unauthorized", "the single sign-on proxy sent no user")
    }
    return ExternalIdentity(
        source: .proxy, studentID: user, name: header(proxy.nameHeader), email: header(proxy.emailHeader),
        groups: header(proxy.groupsHeader).map(SSOProxySettings.groups) ?? [])
}

/// The cookie that binds a browser sign-in (OpenID Connect from its start, the SSO proxy from its
/// redirect) to the browser, up to the exchange of its one-time code: HttpOnly, SameSite=Lax (sent
/// on the provider's redirect back, a top-level navigation), for as long as a sign-in may take;
/// Secure when the server is reached by https.
private func bindingCookie(_ value: String, secure: Bool, maxAge: Int64 = 600) -> String {
    "\(OIDCRelyingParty.bindingCookie)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Lax"
        + (secure ? "; Secure" : "")
}

/// A cookie's value from the request's `Cookie` headers.
private func cookie(_ name: String, in request: Request) -> String? {
    for header in request.headers[values: .cookie] {
        for pair in header.split(separator: ";") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == name {
                return kv[1].trimmingCharacters(in: .whitespaces)
            }
        }
    }
    return nil
}

/// A redirect to the web app with a one-time code for `user`'s token.
private func handoffRedirect(to app: String, user: User, browser: String, service: LibraryService) throws -> Response {
    guard let code = service.handoff.issue(for: user.id, browser: browser, now: service.engine.clock.now()) else {
        throw APIError(
            .serviceUnavailable, "busy", "too many sign-ins under way; try again in a minute", retryAfter: 60)
    }
    return Response(status: .seeOther, headers: [.location: app + "#handoff=" + code, .cacheControl: "no-store"])
}

package struct Handoff: Decodable {
    package var code: String?
}
