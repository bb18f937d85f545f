import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// Email: a student's own address (`POST`/`DELETE /me/email`), the signed links in emails
/// (`/mail/unsubscribe`, RFC 8058 one-click; `/mail/confirm`), and the outbox for staff
/// (`GET /admin/mail`).
package func addMailRoutes(public router: Router<APIContext>, api: RouterGroup<APIContext>, service: LibraryService) {
    let links = MailLinks(secret: service.tokenSecret, base: service.configuration.publicBase)
    addOwnAddressRoutes(api: api, service: service, links: links)
    addLinkRoutes(router: router, service: service, links: links)
    api.get("/admin/mail") { request, context -> Response in
        _ = try context.requireAdmin()
        let limit = try request.queryInt("limit", range: 1...200) ?? 50
        return Render.response { mailStatus(service, limit: Int(limit), &$0) }
    }
}

private func mailStatus(_ service: LibraryService, limit: Int, _ w: inout JSONWriter) {
    let settings = service.configuration.mail
    let figures = service.engine.mail.figures
    let summary = service.mailStatus.summary
    let transport: String? =
        switch settings.transport {
        case .smtp: "smtp"
        case .sendmail: "sendmail"
        case nil: nil
        }
    w.object {
        $0.field("enabled", settings.enabled)
        $0.field("transport", transport)
        $0.field("pending", figures.pending)
        $0.field("delivered", figures.delivered)
        $0.field("given_up", figures.givenUp)
        $0.field("dropped", figures.dropped)
        $0.time("oldest_pending_at", figures.oldestPendingAt)
        $0.time("last_attempt_at", summary.lastAttemptAt)
        $0.time("last_delivery_at", summary.lastDeliveryAt)
        $0.field("last_error", summary.lastError)
        $0.time("last_error_at", summary.lastErrorAt)
        $0.field("queue", array: service.engine.mail.pending(limit: limit)) { w, m in
            let attempt = service.mailStatus.attempt(m.id)
            w.object {
                $0.field("id", m.id)
                $0.field("kind", m.kind.name)
                $0.field("user_id", m.userID)
                $0.time("created_at", m.createdAt)
                $0.field("attempts", attempt?.attempts ?? 0)
                $0.time("next_attempt_at", attempt.map(\.nextAt))
                $0.field("last_error", attempt?.lastError)
            }
        }
    }
}

private struct AddressBody: Decodable {
    var address: String?
}

private func addOwnAddressRoutes(api: RouterGroup<APIContext>, service: LibraryService, links: MailLinks) {
    let engine = service.engine
    api.post("/me/email") { request, context -> Response in
        let caller = try context.requireCaller()
        var request = request
        guard let address = try await request.decodeJSON(AddressBody.self).address else {
            throw APIError.badRequest("address is required")
        }
        if let problem = MailAddress.problem(address) { throw APIError.badRequest("address \(problem)") }
        guard service.configuration.mail.enabled else {
            throw APIError(.forbidden, "mail_off", "email is off on this server")
        }
        guard let user = engine.user(id: caller.userID) else { throw APIError.unauthorized }
        if let wait = service.addressConfirmations.reserve(
            [("address:\(user.id)", LibraryService.addressConfirmationsPerHour)], now: engine.clock.now())
        {
            throw APIError(
                .tooManyRequests, "rate_limited", "too many address confirmations; try again later", retryAfter: wait)
        }
        let expires = engine.clock.now() + MailLinks.confirmationLifetime
        // A new request makes every earlier link void.
        let serial = try await engine.updateUser(id: user.id) { $0.mail.serial &+= 1 }.mail.serial
        let token = links.confirmationToken(user.id, address: address, expires: expires, serial: serial)
        let language = service.language(for: user.id, request: request)
        guard
            try await engine.queueAddressConfirmation(
                user: user.id, address: address, language: language.rawValue, token: token)
        else {
            throw APIError(.tooManyRequests, "mail_queue_full", "too many emails are waiting; try again later")
        }
        return Render.response(.accepted) {
            $0.object {
                $0.field("pending", address)
                $0.time("expires_at", expires)
            }
        }
    }

    api.delete("/me/email") { _, context -> Response in
        let caller = try context.requireCaller()
        _ = try await engine.updateUser(id: caller.userID) {
            $0.mail.address = ""
            $0.mail.serial &+= 1  // and every link still on its way
        }
        return Response(status: .noContent)
    }
}

/// The pages behind the links in emails: a `GET` only shows a button (mail scanners follow
/// links); the `POST` acts. An unsubscribe `POST` is RFC 8058's one-click (a mail client posts
/// `List-Unsubscribe=One-Click` to the header's URL).
private func addLinkRoutes(router: Router<APIContext>, service: LibraryService, links: MailLinks) {
    let engine = service.engine
    router.get("/mail/unsubscribe") { request, _ -> Response in
        let language = Language.choose(setting: "", acceptLanguage: request.headers[.acceptLanguage])
        // The page does not show the address: the link may be an old one, of an address since changed.
        guard let token = request.query("t"), links.unsubscriber(token).flatMap(engine.user(id:))?.isErased == false
        else { return mailPage(language, "page.link.invalid", status: .badRequest) }
        let ask = xmlEscape(language.text("page.unsubscribe.ask"))
        let button = xmlEscape(language.text("page.unsubscribe.button"))
        return mailPage(
            language, "page.unsubscribe.title",
            html: "<p>\(ask)</p><form method=\"post\"><input type=\"hidden\" name=\"t\" value=\"\(token)\">"
                + "<button type=\"submit\">\(button)</button></form>")
    }
    router.post("/mail/unsubscribe") { request, _ -> Response in
        let language = Language.choose(setting: "", acceptLanguage: request.headers[.acceptLanguage])
        var request = request
        let form = try await formFields(&request)
        guard let token = request.query("t") ?? form["t"], let id = links.unsubscriber(token),
            engine.user(id: id).map({ !$0.isErased }) == true
        else { return mailPage(language, "page.link.invalid", status: .badRequest) }
        _ = try await engine.updateUser(id: id) { $0.mail.off |= MailPreferences.allOff }
        return mailPage(language, "page.unsubscribe.done")
    }
    router.get("/mail/confirm") { request, _ -> Response in
        let language = Language.choose(setting: "", acceptLanguage: request.headers[.acceptLanguage])
        guard let token = request.query("t"), let link = links.confirmation(token, now: engine.clock.now()),
            engine.user(id: link.user).map({ !$0.isErased && $0.mail.serial == link.serial }) == true
        else { return mailPage(language, "page.link.invalid", status: .badRequest) }
        let address = link.address
        let button = xmlEscape(language.text("mail.address.subject"))
        return mailPage(
            language, "mail.address.subject",
            html: "<p>\(xmlEscape(address))</p><form method=\"post\">"
                + "<input type=\"hidden\" name=\"t\" value=\"\(token)\"><button type=\"submit\">\(button)</button></form>"
        )
    }
    router.post("/mail/confirm") { request, _ -> Response in
        let language = Language.choose(setting: "", acceptLanguage: request.headers[.acceptLanguage])
        var request = request
        let form = try await formFields(&request)
        guard let token = request.query("t") ?? form["t"],
            let link = links.confirmation(token, now: engine.clock.now()),
            engine.user(id: link.user).map({ !$0.isErased && !$0.disabled }) == true
        else { return mailPage(language, "page.link.invalid", status: .badRequest) }
        // Checked and used in one change: a link works once, and only the newest one.
        var used = false
        _ = try await engine.updateUser(id: link.user) { user in
            guard user.mail.serial == link.serial else { return }
            user.mail.address = link.address
            user.mail.serial &+= 1
            used = true
        }
        guard used else { return mailPage(language, "page.link.invalid", status: .badRequest) }
        return mailPage(language, "page.address.done", values: ["address": link.address])
    }
}

/// An `application/x-www-form-urlencoded` body (at most 4 KiB), as fields.
private func formFields(_ request: inout Request) async throws -> [String: String] {
    let buffer = try await request.collectBody(upTo: 4_096)
    var fields: [String: String] = [:]
    for pair in String(buffer: buffer).split(separator: "&") {
        let kv = pair.split(separator: "=", maxSplits: 1).map {
            $0.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
        }
        if kv.count == 2 { fields[kv[0]] = kv[1] }
    }
    return fields
}

/// A small page of its own (no script, no outside resources).
private func mailPage(
    _ language: Language, _ key: String, values: [String: String] = [:], html: String? = nil,
    status: HTTPResponse.Status = .ok
) -> Response {
    let text = xmlEscape(language.text(key, values))
    let page = """
        <!doctype html>
        <html lang="\(language.rawValue)"><head><meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1"><title>\(text) · DL-SMS</title>
        <style>body{font:1.1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem}
        button{font:inherit;padding:.5rem 1.2rem}</style></head>
        <body><main><h1>\(html == nil ? "DL-SMS" : text)</h1>\(html ?? "<p>\(text)</p>")</main></body></html>

        """
    return Response(
        status: status,
        headers: [
            .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
            .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
            .init("Referrer-Policy")!: "no-referrer",
        ],
        body: .init(byteBuffer: ByteBuffer(string: page)))
}
