import DLSMSCore
import DLSMSTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 10's defects, against the real binary as an operator runs it.
@Suite(.serialized) struct OperabilityEndToEndTests {
    func started(_ dir: String, _ extra: [String] = []) async throws -> ServerProcess {
        let server = try ServerProcess(dataDirectory: dir, extra: extra)
        try await server.waitUntilListening()
        return server
    }

    /// `n` event streams, those that connected.
    func openStreams(_ n: Int, _ server: ServerProcess, token: String) async -> [RawConnection] {
        var streams: [RawConnection] = []
        for _ in 0..<n { if let s = await openStream(server, token: token) { streams.append(s) } }
        return streams
    }

    func openStream(_ server: ServerProcess, token: String) async -> RawConnection? {
        guard let c = RawConnection(port: server.port) else { return nil }
        c.send("GET /notifications/stream?token=\(token) HTTP/1.1\r\nHost: x\r\n\r\n")
        return await c.read(until: ": connected", timeout: 10).contains(": connected") ? c : nil
    }

    func metric(_ server: ServerProcess, _ name: String) async throws -> Double? {
        let data = try await fetch(server.base + "/metrics", timeout: 10).body
        let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(name + " ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func sigtermEndsOpenStreamsThenSnapshotsAndExitsZero() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try await started(dir, ["--sse-heartbeat", "600"])
        let token = try await server.login("S2021001")
        let streams = await openStreams(3, server, token: token)
        #expect(streams.count == 3)
        let started = Date()
        server.child.signal(SIGTERM)
        #expect(await server.child.waitForExit(timeout: 20) == 0)
        #expect(Date().timeIntervalSince(started) < 15, "the drain waited for the streams")
        for s in streams {
            #expect(await s.read(until: "reconnect", timeout: 5).contains("stream closed by the server; reconnect"))
            #expect(await s.closedByPeer(timeout: 5))
        }
        // The final snapshot was written, and the directory verifies.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(names.contains { $0.hasPrefix("snapshot-") && $0.hasSuffix(".dlsnap") })
        let verify = try await runDLSMS(["snapshot", "verify", "--data-dir", dir])
        #expect(verify.status == 0, "\(verify)")
    }

    @Test func anOnlineBackupIsADataDirectoryOfItsOwn() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try await started(dir + "/data", ["--backup-dir", dir + "/backups"])
        let token = try await server.login("S2021001")
        let admin = try await server.login("admin", "admin-password")
        let slot = (Int64(Date().timeIntervalSince1970) / 3_600 + 3) * 3_600
        let (status, booked) = try await server.request(
            "POST", "/reservations", token: token, json: booking(12, slot, slot + 3_600))
        #expect(status == 201)
        #expect(try await server.request("POST", "/admin/backup", token: token).0 == 403)
        let (made, backup) = try await server.request("POST", "/admin/backup", token: admin)
        #expect(made == 201)
        let path = try #require(backup["backup"] as? String)
        #expect(await server.stopped() == 0)
        #expect(try await runDLSMS(["snapshot", "verify", "--data-dir", path]).status == 0)
        // Restore = start a server on it (or on a copy of it).
        let restored = try await started(path)
        defer { #expect(restored.stop() == 0) }
        let (found, r) = try await restored.request("GET", "/reservations/\(booked["id"] as? Int ?? 0)", token: token)
        #expect(found == 200 && r["seat_id"] as? Int == 12)
    }

    @Test func aTakenPortStopsTheStartBeforeTheDataDirectoryIsTouched() async throws {
        // Hold a port.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 && listen(fd, 1) == 0 && getsockname(fd, $0, &length) == 0
            }
        }
        let port = Int(UInt16(bigEndian: address.sin_port))
        #expect(port > 0)
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let result = try await runDLSMS([
            "serve", "--port", String(port), "--grpc-port", "0", "--data-dir", dir + "/data", "--bcrypt-cost", "4",
        ])
        #expect(result.status != 0 && result.error.contains("cannot listen on 127.0.0.1:\(port)"), "\(result)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/data"), "the data directory was touched")
        // A host that does not resolve is a usage error, also with port 0, and touches nothing either.
        for port in ["0", "18099"] {
            let bad = try await runDLSMS([
                "serve", "--host", "no-such-host.invalid", "--port", port, "--data-dir", dir + "/data",
            ])
            #expect(bad.status == 64 && bad.error.contains("cannot resolve"), "\(bad)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/data"))
    }

    @Test func aTrickledBodyIsCutOffAndOneAddressCannotTakeEverySlot() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try await started(
            dir, ["--request-timeout", "2", "--idle-timeout", "60", "--connections-per-address", "3"])
        defer { #expect(server.stop() == 0) }
        // A body announced at 1,000 bytes, sent one byte at a time: the connection is closed once
        // the request has taken longer than its deadline, however busy it keeps the socket.
        let slow = try #require(RawConnection(port: server.port))
        slow.send(
            "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        let started = Date()
        var closed = false
        while !closed && Date().timeIntervalSince(started) < 10 {
            slow.send(" ")
            closed = await slow.closedByPeer(timeout: 0.5)
        }
        #expect(closed && Date().timeIntervalSince(started) < 8)
        // The same for a later request on a connection kept alive, on its own deadline: its head
        // completes a second after the first request (whose deadline armed the connection's
        // timer), and it is cut off two seconds after its head, not after the first request's.
        let kept = try #require(RawConnection(port: server.port))
        kept.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(rawStatus(await kept.readResponse(timeout: 10)) == 200)
        kept.send("POST /auth/login HTTP/1.1\r\nHost: x\r\n")
        for _ in 0..<2 {
            kept.send("X-Pad: 1\r\n")
            #expect(await kept.closedByPeer(timeout: 0.5) == false)
        }
        kept.send("Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{")
        let second = Date()
        closed = false
        while !closed && Date().timeIntervalSince(second) < 10 {
            kept.send(" ")
            closed = await kept.closedByPeer(timeout: 0.5)
        }
        let cut = Date().timeIntervalSince(second)
        #expect(closed && cut >= 1.8 && cut < 8, "\(cut)")
        // Three connections from this address are all it gets; the fourth is told so.
        let held = (0..<3).compactMap { _ in RawConnection(port: server.port) }
        #expect(held.count == 3)
        // Each answers once, so the server has taken up (and counted) all three before the fourth.
        for c in held {
            c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(rawStatus(await c.readResponse(timeout: 10)) == 200)
        }
        let fourth = await rawExchange(port: server.port, Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(rawStatus(fourth) == 503, "\(fourth)")
    }

    @Test func aBackupThatCannotBeWrittenIsA503AndLeavesNothing() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        _ = FileManager.default.createFile(atPath: dir + "/not-a-directory", contents: Data("x".utf8))
        let server = try await started(dir + "/data", ["--backup-dir", dir + "/not-a-directory"])
        defer { #expect(server.stop() == 0) }
        let admin = try await server.login("admin", "admin-password")
        let (status, body) = try await server.request("POST", "/admin/backup", token: admin)
        #expect(status == 503 && body["code"] as? String == "unavailable")
    }

    @Test func environmentVariablesAreValidatedLikeFlags() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        for (name, value) in [("SSE_HEARTBEAT", "0"), ("SWEEP_INTERVAL", "x"), ("JWT_SECRET", "short")] {
            let result = try await runDLSMS(
                ["serve", "--port", "0", "--grpc-port", "0", "--data-dir", dir + "/data"], environment: [name: value])
            #expect(result.status == 64 && result.error.contains(name), "\(name)=\(value): \(result)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir + "/data"))
    }

    @Test func connectionsAreCappedAndIdleOnesClosed() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try await started(dir, ["--max-connections", "4", "--idle-timeout", "2"])
        defer { #expect(server.stop() == 0) }
        var idle = (0..<4).compactMap { _ in RawConnection(port: server.port) }
        #expect(idle.count == 4)
        // Each answers once (so the server has taken up and counted all four), then goes idle.
        for c in idle {
            c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(rawStatus(await c.readResponse(timeout: 10)) == 200)
        }
        // One more: answered 503 with the contract's JSON, then closed.
        let answer = await rawExchange(port: server.port, Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        #expect(rawStatus(answer) == 503 && rawBody(answer).contains(#""code":"unavailable""#), "\(answer)")
        // The idle ones are closed by the server after the idle timeout...
        for c in idle { #expect(await c.closedByPeer(timeout: 15)) }
        idle.removeAll()
        // ...which frees their places.
        var status = 0
        let deadline = Date().addingTimeInterval(10)
        while status != 200 && Date() < deadline {
            status = rawStatus(
                await rawExchange(port: server.port, Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        }
        #expect(status == 200)
    }

    /// Near the descriptor limit the server says so (log at `error`, /healthz 503, a metric) and
    /// recovers when connections close.
    @Test func descriptorExhaustionIsReportedAndPassesOff() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let logPath = dir + "/server.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }
        // A hard limit of 64 descriptors (the server raises its soft limit to the hard one).
        let child = try ChildProcess(
            "/bin/sh",
            [
                "-c",
                #"ulimit -n 64 && exec "$0" serve --port 0 --grpc-port 0 --data-dir "$1" --bcrypt-cost 4 --log-level info"#,
                try dlsmsExecutable(), dir + "/data",
            ], standardError: log)
        defer {
            child.signal(SIGTERM)
            _ = child.wait(timeout: 30)
        }
        let line = await child.waitForLine(timeout: 60) { $0.hasPrefix("dlsms listening on ") }
        let port = try #require(line.flatMap { Int($0.split(separator: ":").last ?? "") })
        func health() async -> Int {
            rawStatus(await rawExchange(port: port, Array("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".utf8)))
        }
        func logged(_ text: String) -> Bool {
            ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").contains(text)
        }
        #expect(await health() == 200)
        var held = (0..<24).compactMap { _ in RawConnection(port: port) }
        #expect(held.count == 24)
        var deadline = Date().addingTimeInterval(15)
        while !logged("file descriptors nearly exhausted") && Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(logged("file descriptors nearly exhausted"))
        #expect(await health() == 503)
        // Past the limit: connections wait in the backlog while accept fails with EMFILE, and the
        // accept loop backs off instead of spinning (CPU time over two seconds stays far below two).
        held += (0..<48).compactMap { _ in RawConnection(port: port) }
        let before = cpuSeconds(child.process.processIdentifier)
        try await Task.sleep(for: .seconds(2))
        #expect(cpuSeconds(child.process.processIdentifier) - before < 1.0)
        held.removeAll()
        deadline = Date().addingTimeInterval(15)
        while !logged("file descriptors available again") && Date() < deadline {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(logged("file descriptors available again"))
        #expect(await health() == 200)
    }

    @Test func streamSlotsAreFreedAtOnceAndTheOldestMakesRoom() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try await started(dir, ["--sse-heartbeat", "600"])
        defer { #expect(server.stop() == 0) }
        let token = try await server.login("S2021001")
        var streams = await openStreams(8, server, token: token)
        #expect(streams.count == 8)
        #expect(try await metric(server, "dlsms_sse_connections") == 8)
        // The tabs close: the server notices at once, not at the next heartbeat.
        for s in streams { s.shutdownBoth() }
        streams.removeAll()
        var open = 8.0
        let deadline = Date().addingTimeInterval(10)
        while open > 0 && Date() < deadline { open = try await metric(server, "dlsms_sse_connections") ?? -1 }
        #expect(open == 0)
        // Eight again, then a ninth: the oldest is closed with a comment, the ninth works.
        streams = await openStreams(8, server, token: token)
        let ninth = await openStream(server, token: token)
        #expect(streams.count == 8 && ninth != nil)
        let evicted = await streams[0].read(until: "\r\n0\r\n\r\n", timeout: 5)
        // The comment, then the end of the response (the chunked terminator).
        #expect(evicted.contains("stream closed by the server") && evicted.hasSuffix("\r\n0\r\n\r\n"))
    }
}

/// User plus system CPU time of a process, in seconds (from /proc).
func cpuSeconds(_ pid: Int32) -> Double {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
    else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}
