import DLSMSTestSupport
import Foundation
import Testing

@testable import DLSMSHTTP

/// HTTP/1 as the RFCs say, tried through the real binary with raw sockets: HEAD, HTTP/1.0 and
/// keep-alive, `Expect: 100-continue`, transfer codings, `Host`, and methods the router does not
/// know.
@Suite(.serialized) struct HTTPDetailsEndToEndTests {
    /// A raw answer taken apart: status, header fields (names lower-cased, values of repeated
    /// fields joined by ", "), body.
    struct Answer {
        var status: Int
        var version: String
        var headers: [String: String]
        var body: String

        init(_ text: String) {
            let (head, body) =
                text.range(of: "\r\n\r\n").map { (String(text[..<$0.lowerBound]), String(text[$0.upperBound...])) }
                ?? (text, "")
            let lines = head.components(separatedBy: "\r\n")
            let statusLine = lines.first?.split(separator: " ") ?? []
            version = statusLine.first.map(String.init) ?? ""
            status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                headers[name] = headers[name].map { "\($0), \(value)" } ?? value
            }
            self.headers = headers
            self.body = body
        }
    }

    func started(_ dir: String, _ extra: [String] = []) async throws -> ServerProcess {
        let server = try ServerProcess(dataDirectory: dir, extra: ["--jwt-secret", testSecret] + extra)
        try await server.waitUntilListening()
        return server
    }

    /// One request on a new connection; the answer as read until it is whole or the server closes.
    func exchange(_ server: ServerProcess, _ request: String) async -> Answer {
        Answer(await rawExchange(port: server.port, Array(request.utf8), timeout: 10))
    }

    @Test func headOnEveryGetRouteIsTheGetWithoutItsBody() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try await started(dir)
        defer { #expect(server.stop() == 0) }
        let admin = try await server.login("admin", "admin-password")
        let values = [
            "{id}": "1", "{name}": "Main%20Library", "{area}": "Silent%20Study%20Zone", "{code}": "nope",
            "{file}": "index.html", "{version}": "1",
        ]
        var tried = 0
        for route in OpenAPI.routes where route.methods.contains("GET") {
            let path = "/" + route.segments.map { values[String($0)] ?? String($0) }.joined(separator: "/")
            // The event stream never ends (its HEAD is tried below); the WAL feed waits for records.
            if path == "/notifications/stream" || path == "/replication/wal" { continue }
            let auth = "Authorization: Bearer \(admin)\r\n"
            let get = await exchange(
                server, "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(auth)Connection: close\r\n\r\n")
            let head = await exchange(
                server, "HEAD \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\(auth)Connection: close\r\n\r\n")
            #expect(get.status != 0 && get.status != 405, "GET \(path): \(get.status)")
            #expect(get.headers["x-content-type-options"] == "nosniff", "GET \(path): \(get.headers)")
            #expect(head.status == get.status, "HEAD \(path): \(head.status), GET \(get.status)")
            #expect(head.body.isEmpty, "HEAD \(path) has a body: \(head.body.prefix(80))")
            var getHeaders = get.headers
            var headHeaders = head.headers
            // (A streamed GET is chunked; its HEAD has no framing to announce.)
            for volatile in ["date", "content-length", "transfer-encoding"] {
                getHeaders[volatile] = nil
                headHeaders[volatile] = nil
            }
            #expect(headHeaders == getHeaders, "HEAD \(path)")
            if get.headers["transfer-encoding"] == "chunked" {
                // A streamed GET: its HEAD announces the same, and no length.
                #expect(head.headers["content-length"] == nil, "HEAD \(path): \(head.headers)")
                #expect(head.headers["transfer-encoding"] == "chunked", "HEAD \(path): \(head.headers)")
            }
            if let length = get.headers["content-length"], path != "/metrics", path != "/healthz",
                !path.hasPrefix("/replication")
            {
                #expect(head.headers["content-length"] == length, "HEAD \(path) Content-Length")
            }
            tried += 1
        }
        #expect(tried >= 30, "GET routes tried: \(tried)")

        // A HEAD on the event stream: its headers at once, no body, and a stream open before it
        // stays open and keeps receiving.
        let student = try await server.login("S2021001")
        let stream = try #require(
            RawConnection.eventStream(port: server.port, path: "/notifications/stream?token=\(student)"))
        #expect(await stream.waitFor("\r\n\r\n"), "the stream answered: \(stream.text)")
        for _ in 0..<6 {
            let head = await exchange(
                server,
                "HEAD /notifications/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(student)\r\n"
                    + "Connection: close\r\n\r\n")
            #expect(head.status == 200 && head.headers["content-type"] == "text/event-stream" && head.body.isEmpty)
            #expect(head.headers["content-length"] == nil, "\(head.headers)")
        }
        // S2021001 holds seat 1 in an hour (the demo data): a closure cancels it and tells them.
        let start = Date().addingTimeInterval(1800).formatted(.iso8601)
        let end = Date().addingTimeInterval(5 * 3600).formatted(.iso8601)
        let (status, _) = try await server.request(
            "POST", "/admin/branches/Main%20Library/closures", token: admin,
            json: #"{"start_time":"\#(start)","end_time":"\#(end)","reason":"Fire drill"}"#)
        #expect(status == 201)
        #expect(await stream.waitFor("reservation_cancelled"), "the stream open before the HEADs: \(stream.text)")
    }

    @Test func http10AndKeepAliveAreAnsweredAsTheVersionSays() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try await started(dir)
        defer { #expect(server.stop() == 0) }

        // HTTP/1.0 without keep-alive: answered as HTTP/1.0, and the server closes.
        let plain = try #require(RawConnection(port: server.port))
        plain.send("GET /healthz HTTP/1.0\r\n\r\n")
        let first = Answer(await plain.readResponse(timeout: 10))
        #expect(first.status == 200 && first.version == "HTTP/1.0" && first.headers["connection"] == "close")
        #expect(first.body.contains(#""status":"healthy""#))
        #expect(await plain.closedByPeer(timeout: 10))

        // HTTP/1.0 with keep-alive: the connection stays for a second request.
        let kept = try #require(RawConnection(port: server.port))
        kept.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        let one = Answer(await kept.readResponse(timeout: 10))
        #expect(one.status == 200 && one.headers["connection"] == "keep-alive")
        kept.send("GET /rules HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        #expect(await kept.read(until: "max_upcoming", timeout: 10).contains("max_upcoming"), "\(kept.text)")

        // HTTP/1.1 with Connection: close: answered, then closed.
        let closing = try #require(RawConnection(port: server.port))
        closing.send("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(Answer(await closing.readResponse(timeout: 10)).headers["connection"] == "close")
        #expect(await closing.closedByPeer(timeout: 10))
    }

    @Test func expectContinueIsAnsweredBeforeTheBody() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try await started(dir)
        defer { #expect(server.stop() == 0) }
        let body = #"{"student_id":"S2021001","password":"password123"}"#
        let head =
            "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n"

        // Within the limit: 100 Continue before any byte of the body, then the answer.
        let c = try #require(RawConnection(port: server.port))
        c.send(head)
        #expect(await c.read(until: "\r\n\r\n", timeout: 10).hasPrefix("HTTP/1.1 100 Continue\r\n"), "\(c.text)")
        c.send(body)
        #expect(await c.read(until: #""token""#, timeout: 10).contains(#""token""#), "\(c.text)")

        // Over the limit: 413 at once, and the connection closes; the body is never sent.
        let big = await exchange(
            server,
            "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n")
        #expect(big.status == 413 && big.body.contains(#""code":"payload_too_large""#), "\(big)")
        // The catalog import takes larger bodies: 5 MiB is announced within its limit, on every
        // spelling of its path; the group membership import, up to 4 MiB.
        let admin = try await server.login("admin", "admin-password")
        for (path, length) in [
            ("/admin/catalog.csv", 5_000_000), ("/admin/catalog.csv/", 100_000), ("//admin/catalog.csv", 100_000),
            ("http://x/admin/catalog.csv", 100_000), ("/admin/groups/import", 3_000_000),
        ] {
            let c = try #require(RawConnection(port: server.port))
            c.send(
                "POST \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(admin)\r\nContent-Type: text/csv\r\n"
                    + "Content-Length: \(length)\r\nExpect: 100-continue\r\n\r\n")
            #expect(
                await c.read(until: "\r\n\r\n", timeout: 10).hasPrefix("HTTP/1.1 100 Continue"), "\(path): \(c.text)")
        }

        // Any other expectation: 417.
        let other = await exchange(
            server, "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 200-ok\r\n\r\n{}")
        #expect(other.status == 417 && other.body.contains(#""code":"expectation_failed""#), "\(other)")

        // No credentials on a route that needs them: the 401 comes first, with no 100 (and no 413
        // for an announced body over the limit); the connection serves the next request.
        let unread = try #require(RawConnection(port: server.port))
        unread.send(
            "POST /reservations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 900000\r\n"
                + "Expect: 100-continue\r\n\r\n")
        let denied = await unread.read(until: #""code":"unauthorized""#, timeout: 10)
        #expect(denied.hasPrefix("HTTP/1.1 401") && !denied.contains("100 Continue"), "\(denied)")

        // A length beyond 64 bits is over every limit.
        let huge = await exchange(
            server,
            "POST /reservations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(admin)\r\n"
                + "Content-Length: 18446744073709551615\r\nExpect: 100-continue\r\n\r\n")
        #expect(huge.status == 413, "\(huge)")

        // Pipelined behind a request still being answered: the 100 comes after that answer and
        // before the login's own, never later.
        let piped = try #require(RawConnection(port: server.port))
        piped.send(
            "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + head + body
                + "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(await piped.closedByPeer(timeout: 10))
        let statuses = piped.text.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        #expect(statuses == ["200", "100", "200", "200"], "\(piped.text)")
    }

    @Test func noContinueOnAConnectionOverTheCap() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try await started(dir, ["--max-connections", "2"])
        defer { #expect(server.stop() == 0) }
        let held = try (0..<2).map { _ in try #require(RawConnection(port: server.port)) }
        for c in held {
            c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            _ = await c.readResponse(timeout: 10)
        }
        let over = await exchange(
            server,
            "POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                + "Expect: 100-continue\r\n\r\n")
        #expect(over.status == 503 && over.version == "HTTP/1.1", "\(over)")
        _ = held
    }

    @Test func framingAndHostAndUnknownMethodsGetTheContractsErrors() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try await started(dir)
        defer { #expect(server.stop() == 0) }
        let cases: [(String, Int, String)] = [
            ("POST /auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "not_implemented"),
            (
                "POST /auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
                "not_implemented"
            ),
            ("GET /healthz HTTP/1.1\r\n\r\n", 400, "bad_request"),
            ("GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "bad_request"),
            ("CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: 127.0.0.1:443\r\n\r\n", 501, "not_implemented"),
            ("CONNECT /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented"),
            ("BREW /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 501, "not_implemented"),
            ("GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "bad_request"),
            ("GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, "bad_request"),
            ("GET /healthz HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400, "bad_request"),
            // An empty Transfer-Encoding: refused, and what would be its body is never a request.
            (
                "POST /auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\nGET /healthz?smuggled HTTP/1.1\r\n"
                    + "Host: x\r\n\r\n", 400, "bad_request"
            ),
        ]
        for (request, status, code) in cases {
            let c = try #require(RawConnection(port: server.port))
            c.send(request)
            let answer = Answer(await c.readResponse(timeout: 10))
            let line = request.prefix { $0 != "\r" }
            #expect(answer.status == status, "\(line): \(answer)")
            #expect(answer.body.contains(#""code":"\#(code)""#), "\(line): \(answer.body)")
            #expect(answer.headers["content-length"] == String(answer.body.utf8.count), "\(line)")
            #expect(answer.headers["content-type"] == "application/json; charset=utf-8", "\(line)")
            #expect(answer.headers["x-content-type-options"] == "nosniff", "\(line)")
            #expect(await c.closedByPeer(timeout: 10), "\(line): the connection closes")
            #expect(answer.headers["date"]?.hasSuffix(" GMT") == true, "\(line): \(answer.headers)")
            #expect(
                !c.text.contains("smuggled") && c.text.components(separatedBy: "\r\nDate: ").count == 2, "\(c.text)")
        }
        // Hosts as RFC 3986 writes them.
        for host in ["", "example.org", "127.0.0.1:8080", "[::1]:8080", "xn--bcher-kva.example"] {
            #expect(HTTP1Gate.isValidHost(host), "\(host)")
        }
        // A refusal to an HTTP/1.0 request is HTTP/1.0; to a HEAD, it has no body.
        let old = await exchange(server, "GET /healthz HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n")
        #expect(old.status == 400 && old.version == "HTTP/1.0", "\(old)")
        let headRefused = try #require(RawConnection(port: server.port))
        headRefused.send("HEAD /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
        #expect(await headRefused.closedByPeer(timeout: 10))
        #expect(Answer(headRefused.text).status == 400 && Answer(headRefused.text).body.isEmpty, "\(headRefused.text)")
        // A bad chunk in a body the route never read: one answer, then the connection closes.
        let unreadBody = try #require(RawConnection(port: server.port))
        unreadBody.send("GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n")
        #expect(await unreadBody.closedByPeer(timeout: 10))
        #expect(unreadBody.text.components(separatedBy: "\r\nDate: ").count == 2, "\(unreadBody.text)")
        // HTTP/1.0 needs no Host.
        #expect(await exchange(server, "GET /healthz HTTP/1.0\r\n\r\n").status == 200)
        // A method the router has no route for: 405 with what is allowed.
        let propfind = await exchange(server, "PROPFIND /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(propfind.status == 405 && propfind.headers["allow"] == "GET, HEAD", "\(propfind)")
        #expect(propfind.body.contains(#""code":"method_not_allowed""#))
        // Pipelined: a good request and a bad one sent together are answered in order.
        let both = try #require(RawConnection(port: server.port))
        both.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nBREW / HTTP/1.1\r\nHost: x\r\n\r\n")
        let text = await both.read(until: #""code":"not_implemented""#, timeout: 10)
        let healthy = try #require(text.range(of: "healthy"))
        let refused = try #require(text.range(of: "501 Not Implemented"))
        #expect(healthy.upperBound < refused.lowerBound, "\(text)")
        // The server lives on.
        #expect(try await server.request("GET", "/healthz").0 == 200)
    }
}
