import DLSMSCore
import DLSMSTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The webhook outbox on disk, for real (issue 28): a server process, an endpoint nobody listens
/// at, bookings and cancellations as fast as the test can send them.
@Suite(.serialized) struct WebhookQueueEndToEndTests {
    /// The server's resident memory, from `/proc`.
    func residentBytes(_ server: ServerProcess) -> Int {
        let status =
            (try? String(contentsOfFile: "/proc/\(server.child.process.processIdentifier)/status", encoding: .utf8))
            ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1_024
    }

    /// `loops` bookings, each cancelled, on `workers` seats side by side (one seat and slot each,
    /// so they never conflict); returns how many of each were acknowledged: every acknowledged
    /// one made exactly one event.
    func bookAndCancel(_ server: ServerProcess, tokens: [String], loops: Int, workers: Int = 16) async throws -> Int {
        let slot = (Int64(Date().timeIntervalSince1970) / 3_600 + 30) * 3_600
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for w in 0..<workers {
                group.addTask {
                    var acknowledged = 0
                    let token = tokens[w % tokens.count]
                    let json = booking(1_001 + w, slot, slot + 3_600)
                    for _ in 0..<(loops / workers + (w < loops % workers ? 1 : 0)) {
                        let (status, body) = try await server.request("POST", "/reservations", token: token, json: json)
                        guard status == 201, let id = body["id"] as? Int else { continue }
                        acknowledged += 1
                        let (cancelled, _) = try await server.request("DELETE", "/reservations/\(id)", token: token)
                        if cancelled == 200 { acknowledged += 1 }
                    }
                    return acknowledged
                }
            }
            return try await group.reduce(0, +)
        }
    }

    func webhooks(_ server: ServerProcess, _ admin: String) async throws -> [String: Any] {
        let (status, body) = try await server.request("GET", "/admin/webhooks", token: admin)
        #expect(status == 200)
        return (body["webhooks"] as? [[String: Any]])?.first ?? [:]
    }

    func metrics(_ server: ServerProcess) async throws -> [String: Double] {
        let data = try await fetch(server.base + "/metrics", timeout: 10).body
        var values: [String: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("dlsms_webhook") {
            let parts = line.split(separator: " ")
            if parts.count == 2 { values[String(parts[0])] = Double(parts[1]) }
        }
        return values
    }

    /// One dead endpoint under a booking load: the backlog goes to disk while the server's memory
    /// stays flat; beyond the bound every event is dropped and counted exactly; kill -9 and a
    /// restart keep every count; the restart reads no backlog; `/metrics` shows it all.
    @Test func aDeadEndpointUnderLoadKeepsMemoryFlatAndCountsExactlyAcrossKillDashNine() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let log = dir + "/server.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let bound = 12_000
        let args = [
            "--webhook-hosts", "127.0.0.1", "--webhook-queue-events", String(bound), "--load-test-seats", "50",
            "--max-upcoming", "1000000", "--history-per-student", "20", "--booking-attempts-per-second", "0",
            "--sweep-interval", "1",
            "--snapshot-interval", "86400", "--log-level", "info",
        ]
        var server = try ServerProcess(
            dataDirectory: dir + "/data", extra: args,
            standardError: try FileHandle(forWritingTo: URL(fileURLWithPath: log)))
        try await server.waitUntilListening()
        let admin = try await server.login("admin", "admin-password")
        let (created, hook) = try await server.request(
            "POST", "/admin/webhooks", token: admin,
            json:
                #"{"url": "http://127.0.0.1:\#(freePort())/hook", "events": ["reservation.created", "reservation.cancelled"]}"#
        )
        #expect(created == 201)
        let id = try #require(hook["id"] as? Int)
        var tokens: [String] = []
        for n in 1...8 { tokens.append(try await server.login(String(format: "S20210%02d", n))) }

        // Warm up, then twice as many again: the backlog grows by megabytes, the memory does not.
        var made = try await bookAndCancel(server, tokens: tokens, loops: 2_000)
        var queue = try await webhooks(server, admin)
        #expect(queue["pending"] as? Int == made && queue["dropped"] as? Int == 0, "\(queue)")
        let rssBefore = residentBytes(server)
        let bytesBefore = queue["pending_bytes"] as? Int ?? 0
        made += try await bookAndCancel(server, tokens: tokens, loops: 6_000)
        queue = try await webhooks(server, admin)
        let rssAfter = residentBytes(server)
        let grown = (queue["pending_bytes"] as? Int ?? 0) - bytesBefore
        #expect(grown > 2_500_000, "\(queue)")
        #expect(
            rssAfter - rssBefore < grown / 2, "RSS \(rssBefore) → \(rssAfter) while the backlog grew by \(grown) bytes")
        print("RSS \(rssBefore) → \(rssAfter) while the backlog grew by \(grown) bytes")

        // Beyond the bound: every event dropped, and counted.
        #expect(made > bound)
        #expect(queue["pending"] as? Int == bound, "\(queue)")
        #expect(queue["dropped"] as? Int == made - bound, "\(queue)")
        let (_, listed) = try await server.request("GET", "/admin/webhooks", token: admin)
        #expect(listed["dropped_events"] as? Int == made - bound && listed["max_pending"] as? Int == bound)
        var series = try await metrics(server)
        #expect(series["dlsms_webhook_pending_events{endpoint=\"\(id)\"}"] == Double(bound), "\(series)")
        #expect(series["dlsms_webhook_dropped_total{endpoint=\"\(id)\"}"] == Double(made - bound))
        #expect(series["dlsms_webhook_delivered_total{endpoint=\"\(id)\"}"] == 0)
        #expect(series["dlsms_webhook_given_up_total{endpoint=\"\(id)\"}"] == 0)
        #expect(
            series["dlsms_webhook_pending_bytes{endpoint=\"\(id)\"}"] == Double(queue["pending_bytes"] as? Int ?? -1))
        #expect(series["dlsms_webhook_queue_failed{endpoint=\"\(id)\"}"] == 0)

        // kill -9, restart: the same counts, exactly; the restart read one segment of the spool
        // at most, not its megabytes.
        server.child.signal(SIGKILL)
        _ = await server.child.waitForExit(timeout: 30)
        let started = Date()
        server = try ServerProcess(
            dataDirectory: dir + "/data", extra: args,
            standardError: try FileHandle(forWritingTo: URL(fileURLWithPath: log)))
        try await server.waitUntilListening()
        let restart = Date().timeIntervalSince(started)
        let admin2 = try await server.login("admin", "admin-password")
        let again = try await webhooks(server, admin2)
        #expect(again["pending"] as? Int == bound && again["dropped"] as? Int == made - bound, "\(again)")
        #expect(again["pending_bytes"] as? Int == queue["pending_bytes"] as? Int)
        let opened =
            try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
            .last { $0.contains("data directory opened") } ?? ""
        let read = opened.split(separator: " ").first { $0.hasPrefix("webhook_queue_bytes_read=") }
            .flatMap { Int($0.split(separator: "=").last ?? "") }
        #expect(read != nil && read! <= 1 << 20 && read! < (again["pending_bytes"] as? Int ?? 0) / 4, "\(opened)")
        print(
            "restart with a backlog of \(again["pending_bytes"] ?? 0) bytes: \(restart) s, read \(read ?? -1) bytes of it"
        )

        // And the count goes on from there.
        tokens = []
        for n in 1...8 { tokens.append(try await server.login(String(format: "S20210%02d", n))) }
        let more = try await bookAndCancel(server, tokens: tokens, loops: 40)
        let last = try await webhooks(server, admin2)
        #expect(last["pending"] as? Int == bound && last["dropped"] as? Int == made + more - bound, "\(last)")
        series = try await metrics(server)
        #expect(series["dlsms_webhook_dropped_total{endpoint=\"\(id)\"}"] == Double(made + more - bound))

        // The offline tools read the spool as it is after the final snapshot.
        #expect(await server.stopped() == 0)
        let verify = try await runDLSMS(["snapshot", "verify", "--data-dir", dir + "/data"])
        #expect(
            verify.status == 0 && verify.output.contains("ok       webhook queue \(id): \(bound) records"), "\(verify)")
        let export = try await runDLSMS(["snapshot", "export", "--data-dir", dir + "/data"])
        let document = try JSONSerialization.jsonObject(with: Data(export.output.utf8)) as? [String: Any]
        let row = (document?["webhooks"] as? [[String: Any]])?.first
        #expect(
            row?["pending"] as? Int == bound && row?["dropped"] as? Int == made + more - bound,
            "\(String(describing: row))")
        #expect(document?["webhook_events_pending"] as? Int == bound)

        // Once more after a clean stop; then removing the endpoint answers its last counts and
        // deletes its queue and its series.
        server = try ServerProcess(dataDirectory: dir + "/data", extra: args)
        try await server.waitUntilListening()
        defer { _ = server.stop() }
        let admin3 = try await server.login("admin", "admin-password")
        let third = try await webhooks(server, admin3)
        #expect(third["pending"] as? Int == bound && third["dropped"] as? Int == made + more - bound, "\(third)")
        let (removed, gone) = try await server.request("DELETE", "/admin/webhooks/\(id)", token: admin3)
        #expect(removed == 200 && gone["pending"] as? Int == 0 && gone["dropped"] as? Int == made + more - bound)
        #expect(!FileManager.default.fileExists(atPath: dir + "/data/outbox/webhooks/\(id)"))
        #expect(try await metrics(server).keys.filter { $0.hasPrefix("dlsms_webhook") }.isEmpty)
    }
}
