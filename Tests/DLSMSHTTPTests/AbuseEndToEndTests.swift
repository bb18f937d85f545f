import DLSMSCore
import DLSMSTestSupport
import Dispatch
import Foundation
import Testing

/// The security defects of issue 9, tried against the real binary as an attacker would.
@Suite(.serialized) struct AbuseEndToEndTests {
    func started(_ dir: String, _ extra: [String] = [], standardError: FileHandle? = nil) async throws -> ServerProcess
    {
        let server = try ServerProcess(dataDirectory: dir, extra: extra, standardError: standardError)
        try await server.waitUntilListening()
        return server
    }

    @Test func concurrentGuessesAreCappedAndMalformedRequestsAreClearErrors() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try await started(dir, ["--jwt-secret", testSecret])
        defer { #expect(server.stop() == 0) }

        // 50 simultaneous wrong passwords for one student: at most 5 are ever evaluated.
        let statuses = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    (try? await server.request(
                        "POST", "/auth/login", json: #"{"student_id":"S2021002","password":"wrong-guess"}"#))?.0 ?? 0
                }
            }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 401 }.count <= 5 && statuses.filter { $0 == 401 }.count >= 1)
        #expect(statuses.allSatisfy { $0 == 401 || $0 == 429 }, "\(statuses)")

        // A token signed with the real secret whose exp does not fit in 64 bits: 401, and the
        // process lives on.
        for exp in [9.223372036854775807e18, 1e300] {
            let token = try await signed(
                RawClaims(sub: "1", studentID: "S2021001", role: "student", gen: 0, iat: 0, exp: exp))
            #expect(try await server.request("GET", "/auth/me", token: token).0 == 401)
        }

        // Bodies that cannot be read: 400 with the contract's JSON, never 500.
        let login = "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        // (A chunk size that parses, FFFFFFFFFFFFFFFF, leaves the server waiting for the chunk; the
        // client then stops sending, and that is the error.)
        for size in ["zz", "FFFFFFFFFFFFFFFF", "-1"] {
            let answer = await rawExchange(
                port: server.port, Array((login + "Transfer-Encoding: chunked\r\n\r\n\(size)\r\n{}\r\n0\r\n\r\n").utf8),
                halfClose: true)
            #expect(rawStatus(answer) == 400, "chunk size \(size): \(answer)")
            #expect(rawBody(answer).contains(#""code":"bad_request""#), "chunk size \(size): \(answer)")
        }
        // The same chunk that keeps coming is cut off at the body limit.
        let flood = await rawExchange(
            port: server.port,
            Array((login + "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\n").utf8)
                + Array(repeating: 32, count: 70_000))
        #expect(
            rawStatus(flood) == 413 && rawBody(flood).contains(#""code":"payload_too_large""#), "\(flood.prefix(300))")
        let short = await rawExchange(
            port: server.port, Array((login + "Content-Length: 100\r\n\r\n{\"student_id\":").utf8), halfClose: true)
        #expect(rawStatus(short) == 400 && rawBody(short).contains(#""code":"bad_request""#), "\(short)")

        // Requests that cannot be parsed at all: JSON errors too, where a response can be written.
        let unparsable: [(String, Int)] = [
            ("GARBAGE\r\n\r\n", 501),  // not a method HTTP's parser knows: 501 not_implemented
            ("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: \(String(repeating: "a", count: 100_000))\r\n\r\n", 431),
            ("GET /\(String(repeating: "a", count: 100_000)) HTTP/1.1\r\nHost: x\r\n\r\n", 431),
            (login + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", 400),
            ("GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", 400),
        ]
        for (request, status) in unparsable {
            let answer = await rawExchange(port: server.port, Array(request.utf8))
            #expect(rawStatus(answer) == status, "\(request.prefix(60)): \(answer.prefix(200))")
            #expect(rawBody(answer).hasPrefix(#"{"error":"#), "\(request.prefix(60)): \(answer.prefix(200))")
        }
        // A pipelined client: a good request, then a bad one in the same packet: the second answer
        // is the contract's JSON too.
        let pipelined = try #require(RawConnection(port: server.port))
        pipelined.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\u{1} / HTTP/1.1\r\n\r\n")
        let both = await pipelined.read(until: "not_implemented")
        #expect(
            both.components(separatedBy: "HTTP/1.1 ").count == 3 && both.contains(#""code":"not_implemented""#),
            "\(both)")
        // A body announced over the limit is refused before it is sent.
        let announced = await rawExchange(
            port: server.port, Array((login + "Content-Length: 1000000\r\n\r\n").utf8), timeout: 5)
        #expect(rawStatus(announced) == 413, "\(announced)")
        #expect(try await server.request("GET", "/healthz").0 == 200)
    }

    @Test func limitsCountTheForwardedClientOnlyBehindATrustedProxy() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        func wrong(_ server: ServerProcess, _ n: Int, from address: String) async throws -> Int {
            try await server.request(
                "POST", "/auth/login", json: #"{"student_id":"S20210\#(10 + n % 10)x","password":"wrong-guess"}"#,
                headers: ["X-Forwarded-For": address]
            ).0
        }
        func right(_ server: ServerProcess, from address: String) async throws -> Int {
            try await server.request(
                "POST", "/auth/login", json: #"{"student_id":"S2021005","password":"password123"}"#,
                headers: ["X-Forwarded-For": address]
            ).0
        }
        /// The statuses of twenty wrong logins, four at a time (a client's share of the password
        /// checks): the limit's window is a minute of real time, which one by one on a loaded
        /// machine could run out.
        func twentyWrong(_ server: ServerProcess, from address: @escaping @Sendable (Int) -> String) async throws
            -> [Int]
        {
            var statuses: [Int] = []
            for batch in 0..<5 {
                statuses += try await withThrowingTaskGroup(of: Int.self) { group in
                    for n in batch * 4..<batch * 4 + 4 {
                        group.addTask { try await wrong(server, n, from: address(n)) }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            return statuses
        }
        do {
            // Behind nginx on 127.0.0.1: one bad client does not lock out everyone else.
            let server = try await started(dir + "/a", ["--trusted-proxies", "127.0.0.1"])
            defer { #expect(server.stop() == 0) }
            #expect(try await twentyWrong(server) { _ in "203.0.113.7" } == Array(repeating: 401, count: 20))
            #expect(try await wrong(server, 20, from: "203.0.113.7") == 429)
            #expect(try await right(server, from: "203.0.113.8") == 200)
        }
        do {
            // Without the setting the header is ignored: it cannot be used to escape the limit.
            let server = try await started(dir + "/b")
            defer { #expect(server.stop() == 0) }
            #expect(try await twentyWrong(server) { "198.51.100.\($0)" } == Array(repeating: 401, count: 20))
            #expect(try await right(server, from: "198.51.100.99") == 429)
        }
    }

    @Test func tokensAreNeverLogged() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let logPath = dir + "/server.log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        let server = try await started(
            dir + "/data", ["--log-level", "debug", "--sse-heartbeat", "1"], standardError: log)
        let token = try await server.login("S2021001")
        // The SSE stream takes the token in the query; ask for it and go away.
        let stream = try #require(
            RawConnection.eventStream(port: server.port, path: "/notifications/stream?token=\(token)"))
        #expect(await stream.waitFor(": connected", timeout: 10))
        stream.shutdownBoth()
        #expect(try await server.request("GET", "/auth/me?token=\(token)", token: token).0 == 200)
        // A calendar feed's path is its credential: fetched, and never logged.
        let (made, feed) = try await server.request("POST", "/calendar/feed", token: token)
        let feedPath = try #require(feed["url"] as? String, "\(made) \(feed)")
        #expect(try await server.request("GET", feedPath).0 == 200)
        let secret = String(feedPath.dropFirst("/calendar/".count).prefix { $0 != "." })
        #expect(await server.stopped() == 0)
        try log.close()
        let text = try String(contentsOfFile: logPath, encoding: .utf8)
        #expect(text.contains("token=<redacted>"))
        #expect(!text.contains(token) && !text.contains(String(token.split(separator: ".")[2])))
        #expect(text.contains("/calendar/<redacted>") && !text.contains(secret), "the feed's secret was logged")
    }

    @Test func staffControlAccountsOfflineAndDemoDataCanBeRefused() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let data = dir + "/data"
        var server = try await started(data)
        // While it runs, the data directory is locked: a second server and the offline tool say who has it.
        let pid = server.child.process.processIdentifier
        let second = try await runDLSMS(["serve", "--port", "0", "--grpc-port", "0", "--data-dir", data])
        #expect(second.status != 0 && second.error.contains("in use by process \(pid)"), "\(second)")
        let busy = try await runDLSMS(["users", "disable", "S2021001", "--data-dir", data])
        #expect(busy.status != 0 && busy.error.contains("in use by process \(pid)"), "\(busy)")
        // Listing only reads: it works while the server runs.
        #expect(try await runDLSMS(["users", "list", "--data-dir", data]).output.contains("\tS2021001\t"))
        #expect(await server.stopped() == 0)

        // The admin password printed once is lost: reset it offline.
        let reset = try await runDLSMS(
            ["users", "reset-password", "admin", "--data-dir", data, "--password-stdin", "--bcrypt-cost", "4"],
            input: "a-brand-new-admin-password\n")
        #expect(reset.status == 0, "\(reset)")
        let created = try await runDLSMS([
            "users", "create", "S2031999", "--name", "Eve", "--data-dir", data, "--bcrypt-cost", "4",
        ])
        #expect(created.status == 0 && created.output.contains("password: "), "\(created)")
        let generated = created.output.split(separator: "\n").first { $0.hasPrefix("password: ") }?.dropFirst(10) ?? ""
        #expect(try await runDLSMS(["users", "disable", "nobody", "--data-dir", data]).status != 0)

        // A production start refuses the demo accounts while they keep the public password...
        let refused = try await runDLSMS([
            "serve", "--port", "0", "--grpc-port", "0", "--data-dir", data, "--demo-data", "false",
        ])
        #expect(refused.status != 0 && refused.error.contains("S2021001"), "\(refused)")
        let ids = (1...10).map { SeedData.studentID($0) }
        #expect(try await runDLSMS(["users", "disable"] + ids + ["--data-dir", data]).status == 0)
        let list = try await runDLSMS(["users", "list", "--data-dir", data])
        #expect(list.output.split(separator: "\n").filter { $0.contains("\tdisabled\t") }.count == 10, "\(list)")
        // Each offline change is in the audit trail, as the operator's.
        let trail = try await runDLSMS(["audit", "export", "--data-dir", data]).output
        let operatorKinds = trail.split(separator: "\r\n").filter { $0.contains(",(operator),local,") }.map {
            $0.split(separator: ",")[5]
        }
        #expect(
            operatorKinds == ["account.password_reset", "account.created"]
                + Array(repeating: "account.disabled", count: 10),
            "\(trail)")
        #expect(try await runDLSMS(["audit", "verify", "--data-dir", data]).status == 0)

        // ...and starts once they are disabled.
        server = try await started(data, ["--demo-data", "false"])
        defer { #expect(server.stop() == 0) }
        #expect(
            try await server.request(
                "POST", "/auth/login", json: #"{"student_id":"admin","password":"admin-password"}"#
            ).0 == 401)
        _ = try await server.login("admin", "a-brand-new-admin-password")
        _ = try await server.login("S2031999", String(generated))
        #expect(
            try await server.request(
                "POST", "/auth/login", json: #"{"student_id":"S2021001","password":"password123"}"#
            ).0 == 401)
    }
}
