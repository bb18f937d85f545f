import AsyncAlgorithms
import AsyncHTTPClient
import Crypto
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Signs a webhook body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`
/// in the `DLSMS-Signature` header. A receiver recomputes it and refuses old timestamps (replay).
enum WebhookSignature {
    static func sign(body: String, secret: String, timestamp: Timestamp) -> String {
        let mac = HMAC<SHA256>.authenticationCode(
            for: Array("\(timestamp).\(body)".utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp),v1=" + mac.map { String(format: "%02x", $0) }.joined()
    }
}

/// Webhook settings: which hosts endpoints may name (none: webhooks are off), and the retry pace.
public struct WebhookSettings: Sendable, Hashable {
    /// Host names or addresses endpoints may point at, lowercased (the server is no open proxy).
    public var allowedHosts: Set<String> = []
    /// The first retry's delay; each further one doubles (with ±50 % jitter), up to an hour.
    public var backoffMilliseconds = 1_000
    /// How long one delivery attempt may take.
    public var timeoutSeconds = 10

    public init() {}

    /// Checks an endpoint URL: http(s), an allowed host, a port in 1–65535, no credentials, no
    /// percent-encoded host, at most 500 bytes.
    func check(_ text: String) throws(APIError) -> String {
        guard !allowedHosts.isEmpty else {
            throw APIError(
                .forbidden, "webhooks_off", "webhooks are off: the operator names the allowed hosts (--webhook-hosts)")
        }
        guard let host = Self.host(of: text) else {
            throw APIError.badRequest(
                "url must be an http(s) URL with a port in 1-65535 and without credentials, at most 500 bytes")
        }
        guard allowedHosts.contains(host) else {
            throw APIError.badRequest("host \(host.prefix(100)) is not among the allowed webhook hosts")
        }
        return text
    }

    /// Whether the sender may call `url` now (the operator may have narrowed the list since).
    func allows(_ url: String) -> Bool { Self.host(of: url).map(allowedHosts.contains) ?? false }

    /// The host of a well-formed endpoint URL, lowercased (an IPv6 address without brackets).
    static func host(of text: String) -> String? {
        guard text.utf8.count <= 500, let url = URL(string: text), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let raw = url.host?.lowercased(), !raw.isEmpty,
            !raw.contains("%"), url.user == nil, url.password == nil, url.fragment == nil,
            (1...65_535).contains(url.port ?? 80)
        else { return nil }
        // The authority as written (Foundation decodes "%31" and drops the brackets of
        // "[127.0.0.1]"): no percent signs, and brackets only around an IPv6 address.
        let afterScheme = text.split(separator: "://", maxSplits: 1).last ?? ""
        let authority = afterScheme.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        guard !authority.contains("%") else { return nil }
        if authority.hasPrefix("[") {
            let inside = authority.dropFirst().prefix { $0 != "]" }
            guard inside.contains(":") else { return nil }
            return raw.hasPrefix("[") ? String(raw.dropFirst().dropLast()) : raw
        }
        return raw
    }
}

/// Delivers the outbox: one task per endpoint, each sending its events one at a time in id
/// order, so a slow or dead endpoint delays only itself, never bookings or other endpoints.
struct WebhookDeliveryService: Service {
    let service: DLSMSService
    let logger: Logger

    func run() async throws {
        let client = HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: .init(
                redirectConfiguration: .disallow,
                timeout: .init(
                    connect: .seconds(5), read: .seconds(Int64(service.configuration.webhooks.timeoutSeconds))),
                connectionPool: .init(idleTimeout: .seconds(30))))
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                var running: Set<Int64> = []
                for await _ in AsyncTimerSequence(interval: .seconds(1), clock: .continuous).cancelOnGracefulShutdown()
                {
                    // A standby delivers nothing: its primary does.
                    guard service.replication.acceptsWrites else { continue }
                    for (endpoint, _, _) in service.engine.webhooks.endpoints where !running.contains(endpoint.id) {
                        running.insert(endpoint.id)
                        group.addTask { await deliver(endpoint.id, client: client) }
                    }
                }
                group.cancelAll()
                service.engine.webhooks.wakeAll()
            }
        } onGracefulShutdown: {
            service.engine.webhooks.wakeAll()
        }
        try? await client.shutdown()
    }

    /// Sends `endpoint`'s events until it is removed or the server stops.
    func deliver(_ endpoint: Int64, client: HTTPClient) async {
        let outbox = service.engine.webhooks
        let settings = service.configuration.webhooks
        var failures = 0
        while !Task.isCancelled {
            let next = await withTaskCancellationHandler {
                await outbox.next(for: endpoint)
            } onCancel: {
                outbox.wakeAll()
            }
            guard !Task.isCancelled, let (target, event) = next else { return }
            let now = service.engine.clock.now()
            let outcome = await send(event, to: target, client: client, now: now)
            switch outcome {
            case .success:
                failures = 0
                try? await service.engine.webhookDone(endpoint: endpoint, event: event, delivered: true)
            case .failure(let response, let error):
                failures += 1
                if now - event.createdAt >= WebhookOutbox.retryFor {
                    logger.warning(
                        "webhook event given up", metadata: ["endpoint": "\(endpoint)", "event": "\(event.id)"])
                    failures = 0
                    try? await service.engine.webhookDone(endpoint: endpoint, event: event, delivered: false)
                    continue
                }
                let base = Double(settings.backoffMilliseconds) * pow(2, Double(min(failures - 1, 20)))
                let delay = min(base, 3_600_000) * Double.random(in: 0.5...1.5)
                outbox.failed(
                    endpoint: endpoint, response: response, error: error,
                    next: now + Timestamp((delay / 1_000).rounded(.up)))
                try? await Task.sleep(for: .milliseconds(Int64(delay)))
            }
        }
    }

    enum Outcome {
        case success
        case failure(response: Int?, error: String?)
    }

    func send(_ event: WebhookEvent, to endpoint: WebhookEndpoint, client: HTTPClient, now: Timestamp) async -> Outcome
    {
        // Checked again before every call: an endpoint registered under an earlier, wider list of
        // hosts (or a malformed one from an older version) is never called.
        guard service.configuration.webhooks.allows(endpoint.url) else {
            return .failure(response: nil, error: "the host is not among the allowed webhook hosts (--webhook-hosts)")
        }
        do {
            var request = HTTPClientRequest(url: endpoint.url)
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "User-Agent", value: "DL-SMS-Webhooks/1")
            request.headers.add(name: "DLSMS-Event", value: event.type)
            request.headers.add(name: "DLSMS-Delivery", value: String(event.id))
            request.headers.add(
                name: "DLSMS-Signature",
                value: WebhookSignature.sign(body: event.payload, secret: endpoint.secret, timestamp: now))
            request.body = .bytes(ByteBuffer(string: event.payload))
            let response = try await client.execute(
                request, timeout: .seconds(Int64(service.configuration.webhooks.timeoutSeconds)))
            // Read (and drop) at most 64 KiB of the answer.
            _ = try? await response.body.collect(upTo: 65_536)
            return (200..<300).contains(response.status.code)
                ? .success : .failure(response: Int(response.status.code), error: nil)
        } catch {
            return .failure(response: nil, error: String(describing: error))
        }
    }
}

struct WebhookBody: Decodable {
    var url: String?
    var secret: String?
    var events: [String]?
}

func addWebhookRoutes(to api: RouterGroup<APIContext>, service: DLSMSService) {
    let engine = service.engine
    let settings = service.configuration.webhooks

    @Sendable func render(_ e: WebhookEndpoint, _ status: WebhookOutbox.Status, pending: Int, secret: Bool)
        -> (inout JSONWriter) -> Void
    {
        { w in
            w.object {
                $0.field("id", e.id)
                $0.field("url", e.url)
                $0.field("events", array: e.events) { $0.value($1) }
                if secret { $0.field("secret", e.secret) }
                $0.time("created_at", e.createdAt)
                $0.field("delivered_through", e.deliveredThrough)
                $0.field("pending", pending)
                $0.field("delivered", status.delivered)
                $0.field("given_up", status.givenUp)
                $0.field("attempts", status.attempts)
                $0.time("last_attempt_at", status.lastAttemptAt)
                $0.field("last_response", status.lastResponse)
                $0.field("last_error", status.lastError)
                $0.time("next_attempt_at", status.nextAttemptAt)
            }
        }
    }

    api.post("/admin/webhooks") { request, context -> Response in
        _ = try context.requireAdmin()
        var request = request
        let body = try await request.decodeJSON(WebhookBody.self)
        guard let url = body.url else { throw APIError.badRequest("url is required") }
        let checked = try settings.check(url)
        let events = body.events ?? WebhookEvent.types
        guard !events.isEmpty, Set(events).count == events.count, events.allSatisfy(WebhookEvent.types.contains) else {
            throw APIError.badRequest("events: some of \(WebhookEvent.types.joined(separator: ", ")), each once")
        }
        var secret = body.secret ?? ""
        if body.secret == nil { secret = Base64URL.encode(Base64URL.random(24)) }
        guard secret.utf8.count >= 16, secret.utf8.count <= 200 else {
            throw APIError.badRequest("secret: 16 to 200 bytes (leave it out for a random one)")
        }
        let endpoint = try await engine.registerWebhook(url: checked, secret: secret, events: events)
        return Render.response(.created, render(endpoint, .init(), pending: 0, secret: true))
    }

    api.get("/admin/webhooks") { _, context -> Response in
        _ = try context.requireAdmin()
        let all = engine.webhooks.endpoints
        return Render.response {
            $0.object {
                $0.field("webhooks", array: all) { w, e in
                    render(e.endpoint, e.status, pending: e.pending, secret: false)(&w)
                }
                $0.field("dropped_events", engine.webhooks.droppedEvents)
            }
        }
    }

    api.delete("/admin/webhooks/:id") { _, context -> Response in
        _ = try context.requireAdmin()
        guard let id = try context.pathID("webhook id") else {
            throw APIError(.notFound, "not_found", "webhook not found")
        }
        let removed = try await engine.removeWebhook(id: id)
        return Render.response(.ok, render(removed, .init(), pending: 0, secret: false))
    }
}
