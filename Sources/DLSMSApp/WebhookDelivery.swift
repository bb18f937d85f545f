import AsyncAlgorithms
import AsyncHTTPClient
import Crypto
import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Signs a webhook body: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" with the secret>`
/// in the `DLSMS-Signature` header. A receiver recomputes it and refuses old timestamps (replay).
package enum WebhookSignature {
    package static func sign(body: String, secret: String, timestamp: Timestamp) -> String {
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
    /// Events kept on disk per endpoint at most, and their size in MiB: beyond either, new events
    /// are dropped (and counted).
    public var queueEvents = 100_000
    public var queueMegabytes = 64

    public init() {}

    /// The bound of each endpoint's spool.
    public var queueLimits: SpoolLimits { SpoolLimits(maxRecords: queueEvents, maxBytes: queueMegabytes << 20) }

    /// Checks an endpoint URL: http(s), an allowed host, a port in 1–65535, no credentials, no
    /// percent-encoded host, at most 500 bytes.
    package func check(_ text: String) throws(AppError) -> String {
        guard !allowedHosts.isEmpty else {
            throw AppError(
                .forbidden, "webhooks_off", "webhooks are off: the operator names the allowed hosts (--webhook-hosts)")
        }
        guard let host = Self.host(of: text) else {
            throw AppError.badRequest(
                "url must be an http(s) URL with a port in 1-65535 and without credentials, at most 500 bytes")
        }
        guard allowedHosts.contains(host) else {
            throw AppError.badRequest("host \(host.prefix(100)) is not among the allowed webhook hosts")
        }
        return text
    }

    /// Whether the sender may call `url` now (the operator may have narrowed the list since).
    package func allows(_ url: String) -> Bool { Self.host(of: url).map(allowedHosts.contains) ?? false }

    /// The host of a well-formed endpoint URL, lowercased (an IPv6 address without brackets).
    package static func host(of text: String) -> String? {
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
package struct WebhookDeliveryService: Service {
    package let service: LibraryService
    package let logger: Logger

    package init(service: LibraryService, logger: Logger) {
        self.service = service
        self.logger = logger
    }

    package func run() async throws {
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
                var failures: [Int64: String] = [:]
                for await _ in AsyncTimerSequence(interval: .seconds(1), clock: .continuous).cancelOnGracefulShutdown()
                {
                    let queues = service.engine.webhooks.endpoints
                    reportQueueFailures(queues, known: &failures)
                    // A standby delivers nothing: its primary does.
                    guard service.replication.acceptsWrites else { continue }
                    for queue in queues where !running.contains(queue.endpoint.id) {
                        let id = queue.endpoint.id
                        running.insert(id)
                        group.addTask { await deliver(id, client: client) }
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

    /// Logs an endpoint's spool that cannot be written (a full disk: its new events are dropped and
    /// counted) when that starts, and when it ends.
    func reportQueueFailures(_ queues: [WebhookOutbox.Queue], known: inout [Int64: String]) {
        for queue in queues {
            let id = queue.endpoint.id
            if let failure = queue.spool.failure, known[id] == nil {
                logger.error(
                    "webhook queue cannot be written: new events are dropped and counted",
                    metadata: ["endpoint": "\(id)", "error": "\(failure)"])
            } else if queue.spool.failure == nil, known[id] != nil {
                logger.notice("webhook queue written again", metadata: ["endpoint": "\(id)"])
            }
            known[id] = queue.spool.failure
        }
    }

    /// Sends `endpoint`'s events until it is removed or the server stops.
    package func deliver(_ endpoint: Int64, client: HTTPClient) async {
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

    package enum Outcome {
        case success
        case failure(response: Int?, error: String?)
    }

    package func send(_ event: WebhookEvent, to endpoint: WebhookEndpoint, client: HTTPClient, now: Timestamp) async
        -> Outcome
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
