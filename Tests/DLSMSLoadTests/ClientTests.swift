import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import DLSMSLoad

/// A loopback HTTP/1.1 server for the client: `/ok` answers 200 "ok", `/missing` a 404 with a JSON
/// error, `/big` 200 with 64 KiB, `/slow` 200 "ok" after 200 ms, and `/hang` never answers.
final class ScriptedHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var received = ""

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
        while let end = received.range(of: "\r\n\r\n") {
            let head = received[..<end.lowerBound]
            received = String(received[end.upperBound...])
            let path = head.split(separator: " ").dropFirst().first ?? ""
            let (status, body): (String, String)
            switch path {
            case "/ok": (status, body) = ("200 OK", "ok")
            case "/missing": (status, body) = ("404 Not Found", #"{"error":"no","code":"not_here"}"#)
            case "/big": (status, body) = ("200 OK", String(repeating: "x", count: 65_536))
            case "/slow": (status, body) = ("200 OK", "ok")
            default: continue
            }
            let text = "HTTP/1.1 \(status)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            let buffer = context.channel.allocator.buffer(string: text)
            if path == "/slow" {
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.eventLoop.scheduleTask(in: .milliseconds(200)) {
                    bound.value.writeAndFlush(NIOAny(buffer), promise: nil)
                }
            } else {
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            }
        }
    }
}

@Suite struct ClientTests {
    func withServer(_ body: (Int) async throws -> Void) async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ScriptedHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        do {
            try await body(server.localAddress!.port!)
        } catch {
            try? await server.close()
            throw error
        }
        try await server.close()
    }

    func text(_ sent: Sent) -> String? {
        if case .reply(_, let body) = sent { return String(buffer: body) }
        return nil
    }

    func status(_ sent: Sent) -> Int? {
        if case .reply(let status, _) = sent { return status }
        return nil
    }

    /// A request the server never answers is "no answer: timeout" after its own deadline, also
    /// when it follows a slow answered one on the same connection (whose timer, armed first, is
    /// due half-way through it), and the connection serves again afterwards.
    @Test func anUnansweredRequestTimesOutOnItsOwnDeadline() async throws {
        try await withServer { port in
            let connection = LoadClient(timeoutSeconds: 0.4).connection()
            defer { connection.close() }
            let base = "http://127.0.0.1:\(port)"
            for _ in 0..<2 {
                #expect(text(await connection.send(.GET, base + "/slow")) == "ok")
                let started = ContinuousClock.now
                let hung = await connection.send(.GET, base + "/hang")
                let waited = ContinuousClock.now - started
                #expect(hung.description == "no answer: timeout")
                // The upper bound only tells stuck from slow: a loaded machine is slow.
                #expect(waited >= .milliseconds(390) && waited < .seconds(30), "\(waited)")
            }
            #expect(text(await connection.send(.GET, base + "/ok")) == "ok")
        }
    }

    /// The response head reader: whole heads only, the length whatever the header's case,
    /// and what it cannot delimit refused rather than guessed.
    @Test func theHeadReaderReadsWhatTheServerSendsAndRefusesTheRest() throws {
        func head(_ text: String) throws -> (Int, Int, Int)? {
            var buffer = ByteBuffer(string: text)
            guard let (status, length, _) = try RequestResponseHandler.head(&buffer) else { return nil }
            return (status, length, buffer.readableBytes)
        }
        #expect(try head("HTTP/1.1 200 OK\r\nContent-Len") == nil)
        #expect(try head("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").map { [$0.0, $0.1, $0.2] } == [200, 2, 2])
        #expect(
            try head("HTTP/1.1 201 Created\r\nX: y\r\nCONTENT-LENGTH:  5 \r\n\r\n").map { [$0.0, $0.1] } == [201, 5])
        #expect(try head("HTTP/1.1 204 No Content\r\n\r\n").map { [$0.0, $0.1] } == [204, 0])
        var limited = ByteBuffer(
            string: "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n")
        #expect(try RequestResponseHandler.head(&limited)?.retryAfter == 2)
        for bad in [
            "HTTP/1.1 200 OK\r\n\r\nbody", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n", "SSH-2.0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        ] {
            #expect(throws: RequestResponseHandler.Malformed.self, "\(bad)") { try head(bad) }
        }
        #expect(throws: RequestResponseHandler.Malformed.self) {
            try head("HTTP/1.1 200 OK\r\n" + String(repeating: "X-Pad: 1\r\n", count: 8_000))
        }
    }

    /// Without `keepBody`, a 2xx answer's body is dropped (a search's is large and unread), an
    /// error's is kept for its code; with it, the whole body arrives.
    @Test func answersKeepTheirBodiesOnlyWhenAskedOrWhenTheyAreErrors() async throws {
        try await withServer { port in
            let connection = LoadClient(timeoutSeconds: 5).connection()
            defer { connection.close() }
            let base = "http://127.0.0.1:\(port)"
            func send(_ path: String, keepBody: Bool) async throws -> Sent {
                try await connection.loop.flatSubmit {
                    connection.request(.GET, base + path, token: nil, json: nil, keepBody: keepBody)
                }.get()
            }
            #expect(text(try await send("/big", keepBody: true))?.count == 65_536)
            let dropped = try await send("/big", keepBody: false)
            #expect(status(dropped) == 200 && text(dropped) == "")
            let missing = try await send("/missing", keepBody: false)
            #expect(status(missing) == 404)
            if case .reply(let code, let body) = missing {
                #expect(JSON.errorCode(status: code, body: body) == "not_here")
            }
        }
    }
}
