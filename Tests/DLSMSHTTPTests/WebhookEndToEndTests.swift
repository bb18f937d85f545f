import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

/// A webhook receiver on loopback: records what it is sent, and answers 503 to the first
/// `failFirst` requests (or to all, while `down`).
final class WebhookReceiver: Sendable {
    struct Delivery: Sendable {
        var id: Int
        var type: String
        var signature: String
        var body: String
        var accepted: Bool
    }

    let deliveries = Mutex<[Delivery]>([])
    let failures = Mutex(0)
    let down = Mutex(false)
    let port = Mutex(0)
    let task = Mutex<Task<Void, any Error>?>(nil)

    init(failFirst: Int = 0) { failures.withLock { $0 = failFirst } }

    func start() async throws {
        let router = Router()
        router.post("/hook") { request, _ -> Response in
            let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
            let fail =
                self.down.withLock { $0 }
                || self.failures.withLock { f -> Bool in
                    guard f > 0 else { return false }
                    f -= 1
                    return true
                }
            self.deliveries.withLock {
                $0.append(
                    Delivery(
                        id: Int(request.headers[HTTPField.Name("DLSMS-Delivery")!] ?? "") ?? -1,
                        type: request.headers[HTTPField.Name("DLSMS-Event")!] ?? "",
                        signature: request.headers[HTTPField.Name("DLSMS-Signature")!] ?? "", body: body,
                        accepted: !fail))
            }
            return Response(status: fail ? .serviceUnavailable : .noContent)
        }
        let (port, task) = await serveOnLoopback(router)
        self.port.withLock { $0 = port }
        self.task.withLock { $0 = task }
    }

    func stop() { task.withLock { $0?.cancel() } }

    var url: String { "http://127.0.0.1:\(port.withLock { $0 })/hook" }

    /// Accepted deliveries, in the order they arrived.
    var accepted: [Delivery] { deliveries.withLock { $0.filter(\.accepted) } }

    /// Waits (polling, bounded) until at least `n` requests arrived, accepted or not.
    func waitForAttempts(_ n: Int, seconds: Double = 30) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if deliveries.withLock({ $0.count }) >= n { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Waits (polling, bounded) until `done` holds.
    func wait(seconds: Double = 30, until done: ([Delivery]) -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if done(accepted) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return done(accepted)
    }
}

/// Webhooks for real: a server process, receivers on loopback, failures, kill -9.
@Suite(.serialized) struct WebhookEndToEndTests {
    static let checker = peerScript("webhook_verify.py")

    func register(_ server: ServerProcess, _ admin: String, url: String, events: [String]? = nil) async throws
        -> [String: Any]
    {
        let list = events.map { "[" + $0.map { "\"\($0)\"" }.joined(separator: ",") + "]" } ?? "null"
        let (status, body) = try await server.request(
            "POST", "/admin/webhooks", token: admin,
            json: #"{"url": "\#(url)", "secret": "a-shared-secret-of-some-length", "events": \#(list)}"#)
        #expect(status == 201, "\(body)")
        return body
    }

    func book(_ server: ServerProcess, _ token: String, seat: Int, hoursAhead: Int) async throws -> Int {
        let start = (Int64(Date().timeIntervalSince1970) / 3_600 + Int64(hoursAhead)) * 3_600
        let (status, body) = try await server.request(
            "POST", "/reservations", token: token,
            json:
                #"{"seat_id": \#(seat), "start_time": "\#(RFC3339.format(start))", "end_time": "\#(RFC3339.format(start + 3_600))"}"#
        )
        #expect(status == 201, "\(body)")
        return body["id"] as? Int ?? 0
    }

    /// A receiver that fails at first gets every event once it recovers, once each, in order,
    /// signed; one that never answers does not hold back another.
    @Test func aFailingReceiverGetsEveryEventOnceInOrder() async throws {
        let flaky = WebhookReceiver(failFirst: 3)
        let dead = WebhookReceiver()
        try await flaky.start()
        try await dead.start()
        dead.down.withLock { $0 = true }
        defer {
            flaky.stop()
            dead.stop()
        }
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try ServerProcess(
            dataDirectory: dir + "/data",
            extra: ["--webhook-hosts", "127.0.0.1,localhost", "--webhook-backoff-ms", "20", "--max-upcoming", "50"])
        try await server.waitUntilListening()
        let admin = try await server.login("admin", "admin-password")
        _ = try await register(server, admin, url: dead.url)
        let hook = try await register(server, admin, url: flaky.url)
        #expect(hook["secret"] as? String == "a-shared-secret-of-some-length")

        let student = try await server.login("S2021008")
        var ids: [Int] = []
        for (k, seat) in [38, 39, 40, 41].enumerated() {
            ids.append(try await book(server, student, seat: seat, hoursAhead: 2 + 2 * k))
        }
        for id in ids.prefix(2) { _ = try await server.request("DELETE", "/reservations/\(id)", token: student) }
        // 4 created + 2 cancelled.
        let all = try await flaky.wait { $0.count >= 6 }
        #expect(all, "got \(flaky.accepted.count)")
        let got = flaky.accepted
        #expect(got.count == 6)
        #expect(Set(got.map(\.id)).count == got.count)  // once each
        #expect(got.map(\.id) == got.map(\.id).sorted())  // in order
        #expect(
            got.map(\.type) == Array(repeating: "reservation.created", count: 4) + [
                "reservation.cancelled", "reservation.cancelled",
            ])
        let failed = flaky.deliveries.withLock { $0.filter { !$0.accepted }.count }
        #expect(failed == 3)
        // Each signature checks out with Python's hmac (an independent implementation).
        for d in got {
            let file = dir + "/body-\(d.id)"
            try Data(d.body.utf8).write(to: URL(fileURLWithPath: file))
            let verified = try await runProgram(
                "/usr/bin/env", ["python3", Self.checker, file, d.signature, "a-shared-secret-of-some-length"])
            #expect(verified.status == 0 && verified.output == "ok\n", "\(verified.error)")
            let body = try JSONSerialization.jsonObject(with: Data(d.body.utf8)) as? [String: Any]
            #expect(body?["id"] as? Int == d.id && body?["type"] as? String == d.type)
        }
        let reservationIDs = got.compactMap { d in
            ((try? JSONSerialization.jsonObject(with: Data(d.body.utf8))) as? [String: Any])
                .flatMap { ($0["data"] as? [String: Any])?["reservation"] as? [String: Any] }?["id"] as? Int
        }
        #expect(reservationIDs == ids + ids.prefix(2))
        // The dead one is still owed everything, and says why.
        let (_, listed) = try await server.request("GET", "/admin/webhooks", token: admin)
        let deadStatus = (listed["webhooks"] as? [[String: Any]])?.first { $0["url"] as? String == dead.url }
        #expect(deadStatus?["pending"] as? Int == 6 && deadStatus?["last_response"] as? Int == 503, "\(listed)")
        #expect(deadStatus?["next_attempt_at"] is String)
        #expect(dead.accepted.isEmpty)
        // SIGTERM stops it promptly, though a sender is still retrying.
        let started = Date()
        #expect(await server.stopped() == 0)
        #expect(Date().timeIntervalSince(started) < 10)
    }

    /// Registration refuses what could be misused; an endpoint registered under a wider list of
    /// hosts is not called once the operator narrows it.
    @Test func registrationIsCheckedAndNarrowedHostsAreNotCalled() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        var server = try ServerProcess(
            dataDirectory: dir + "/data", extra: ["--webhook-hosts", "127.0.0.1", "--webhook-backoff-ms", "20"])
        try await server.waitUntilListening()
        let admin = try await server.login("admin", "admin-password")
        for url in [
            "http://127.0.0.1:65536/", "http://127.0.0.1:99999/", "http://127.0.0.1:0/", "http://[127.0.0.1]/",
            "http://127.0.0.%31/", "http://localhost/", "http://127.0.0.1@evil.example/", "ftp://127.0.0.1/",
            "http://evil.example/",
        ] {
            let (status, body) = try await server.request(
                "POST", "/admin/webhooks", token: admin, json: #"{"url": "\#(url)"}"#)
            #expect(status == 400, "\(url): \(body)")
        }
        let (empty, _) = try await server.request(
            "POST", "/admin/webhooks", token: admin, json: #"{"url": "\#(receiver.url)", "secret": ""}"#)
        #expect(empty == 400)
        let (notFound, missing) = try await server.request("DELETE", "/admin/webhooks/-1", token: admin)
        #expect(notFound == 404 && missing["error"] as? String == "webhook not found")
        _ = try await register(server, admin, url: receiver.url)
        #expect(await server.stopped() == 0)

        // Restarted with no allowed hosts: webhooks are off, the endpoint is not called.
        server = try ServerProcess(dataDirectory: dir + "/data", extra: ["--webhook-backoff-ms", "20"])
        try await server.waitUntilListening()
        let (off, refusal) = try await server.request(
            "POST", "/admin/webhooks", token: try await server.login("admin", "admin-password"),
            json: #"{"url": "\#(receiver.url)"}"#)
        #expect(off == 403 && refusal["code"] as? String == "webhooks_off")
        let student = try await server.login("S2021008")
        _ = try await book(server, student, seat: 47, hoursAhead: 3)
        let admin2 = try await server.login("admin", "admin-password")
        var status: [String: Any]?
        for _ in 0..<200 {
            let (_, listed) = try await server.request("GET", "/admin/webhooks", token: admin2)
            status = (listed["webhooks"] as? [[String: Any]])?.first
            if (status?["attempts"] as? Int ?? 0) > 0 { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(
            (status?["last_error"] as? String)?.contains("allowed webhook hosts") == true,
            "\(String(describing: status))")
        #expect(receiver.deliveries.withLock { $0.isEmpty })
        #expect(await server.stopped() == 0)
    }

    /// An event a receiver keeps refusing is retried until 25 hours after it was made, then given
    /// up (and the next one is sent): the delivery service on a manual clock, in this process.
    @Test func anEventIsGivenUpAfterTwentyFiveHours() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        receiver.down.withLock { $0 = true }
        defer { receiver.stop() }
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        var config = testConfiguration(dir)
        config.webhooks.allowedHosts = ["127.0.0.1"]
        config.webhooks.backoffMilliseconds = 1
        let clock = ManualClock(t0)
        let service = try await DLSMSServer.makeNode(
            config, clock: clock, logger: Logger(label: "test"), announce: { _ in }
        ).service
        let engine = service.engine
        let hook = try await engine.registerWebhook(url: receiver.url, secret: "s", events: ["reservation.created"])
        _ = try await engine.book(user: 6, seat: 40, start: t0 + 3_600, end: t0 + 7_200)
        let sender = Task { try await WebhookDeliveryService(service: service, logger: Logger(label: "test")).run() }
        defer { sender.cancel() }
        #expect(try await receiver.waitForAttempts(2))
        var status = try #require(engine.webhooks.endpoints.first { $0.endpoint.id == hook.id })
        #expect(status.pending == 1 && status.status.givenUp == 0 && status.status.lastResponse == 503)
        // A day later: still owed.
        clock.advance(by: 24 * 3_600)
        let seen = receiver.deliveries.withLock { $0.count }
        #expect(try await receiver.waitForAttempts(seen + 1))
        status = try #require(engine.webhooks.endpoints.first { $0.endpoint.id == hook.id })
        #expect(status.pending == 1 && status.status.givenUp == 0)
        // Past 25 hours: given up, the cursor moves on, and the next event is sent.
        clock.advance(by: 3_600)
        for _ in 0..<400 where engine.webhooks.endpoints.first?.status.givenUp != 1 {
            try await Task.sleep(for: .milliseconds(10))
        }
        status = try #require(engine.webhooks.endpoints.first { $0.endpoint.id == hook.id })
        #expect(status.status.givenUp == 1 && status.pending == 0 && status.endpoint.deliveredThrough >= 1)
        receiver.down.withLock { $0 = false }
        _ = try await engine.book(user: 7, seat: 41, start: clock.now() + 3_600, end: clock.now() + 7_200)
        #expect(try await receiver.wait { $0.count == 1 })
        sender.cancel()
        await service.durable.close(finalSnapshot: false)
    }

    /// kill -9 after the bookings were acknowledged and before their events were delivered:
    /// after the restart the receiver gets every one of them.
    @Test func killDashNineBetweenEventAndDeliveryLosesNothing() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        receiver.down.withLock { $0 = true }
        defer { receiver.stop() }
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let args = ["--webhook-hosts", "127.0.0.1", "--webhook-backoff-ms", "20", "--max-upcoming", "50"]
        var server = try ServerProcess(dataDirectory: dir + "/data", extra: args)
        try await server.waitUntilListening()
        let admin = try await server.login("admin", "admin-password")
        _ = try await register(server, admin, url: receiver.url, events: ["reservation.created"])
        let student = try await server.login("S2021009")
        var ids: [Int] = []
        for (k, seat) in [42, 43, 44, 45, 46].enumerated() {
            ids.append(try await book(server, student, seat: seat, hoursAhead: 2 + 2 * k))
        }
        server.child.signal(SIGKILL)
        _ = await server.child.waitForExit(timeout: 30)
        #expect(receiver.accepted.isEmpty)

        receiver.down.withLock { $0 = false }
        server = try ServerProcess(dataDirectory: dir + "/data", extra: args)
        try await server.waitUntilListening()
        defer { _ = server.stop() }
        // At least once: a delivery whose record the crash lost may come twice (receivers
        // deduplicate by event id); every event comes, in order.
        func reservations() -> [Int] {
            var seen: [Int] = []
            for d in receiver.accepted {
                let id =
                    ((try? JSONSerialization.jsonObject(with: Data(d.body.utf8))) as? [String: Any])
                    .flatMap { ($0["data"] as? [String: Any])?["reservation"] as? [String: Any] }?["id"] as? Int
                if let id, !seen.contains(id) { seen.append(id) }
            }
            return seen
        }
        let arrived = try await receiver.wait { _ in reservations().count >= 5 }
        #expect(arrived, "got \(receiver.accepted.count)")
        #expect(reservations() == ids)
    }
}
