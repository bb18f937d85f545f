import DLSMSCore
import DLSMSNetwork
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// What came back for one request.
public enum Sent: Sendable, CustomStringConvertible {
    /// The server answered (any status).
    case reply(status: Int, body: ByteBuffer)
    /// The request was never sent: the connection could not be made. A definite failure.
    case notSent(String)
    /// The request may or may not have reached the server (timeout, reset, a half-read answer).
    case unknown(String)

    public var description: String {
        switch self {
        case .reply(let status, let body): return "HTTP \(status) \(String(buffer: body).prefix(300))"
        case .notSent(let reason): return "not sent: \(reason)"
        case .unknown(let reason): return "no answer: \(reason)"
        }
    }

    /// The outcome of a write: 2xx acknowledged, 4xx and unsent refused, the rest unknown
    /// (a 5xx may come from a failed durable write that the server could not fully undo).
    var outcome: Outcome {
        switch self {
        case .reply(let status, _) where (200..<300).contains(status): return .ok
        case .reply(let status, _) where (400..<500).contains(status): return .failed
        case .reply: return .unknown
        case .notSent: return .failed
        case .unknown: return .unknown
        }
    }
}

/// Makes load connections. One connection carries one request at a time, as a browser's would.
public struct LoadClient: Sendable {
    let group: any EventLoopGroup
    let timeout: TimeAmount

    public init(timeoutSeconds: Double, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.group = group
        timeout = .nanoseconds(Int64(timeoutSeconds * 1e9))
    }

    /// A connection whose socket and callbacks live on one of the group's loops.
    public func connection() -> Connection { Connection(loop: group.any(), timeout: timeout) }
}

/// One keep-alive HTTP/1.1 connection over SwiftNIO (the HTTP/1 codec and a request/response
/// handler): far lighter per request than a general-purpose client, so that the load generator
/// leaves the CPU to the server it measures. It reconnects after an error or when the target's
/// address changes (chaos mode). Its state belongs to its event loop: `request` is called there,
/// and the async `send` hops there.
public final class Connection: @unchecked Sendable {
    let loop: any EventLoop
    let timeout: TimeAmount
    private var channel: (any Channel)?
    private var authority = ""

    init(loop: any EventLoop, timeout: TimeAmount) {
        self.loop = loop
        self.timeout = timeout
    }

    /// Sends one request to `url` (`http://HOST:PORT/path?query`); never fails: every failure is classified.
    public func send(_ method: HTTPMethod, _ url: String, token: String? = nil, json: String? = nil) async -> Sent {
        (try? await loop.flatSubmit { self.request(method, url, token: token, json: json) }.get())
            ?? .unknown("event loop shut down")
    }

    /// `send` for code already on the connection's loop; the future completes there.
    /// `keepBody: false`: a 2xx answer's body is dropped as it arrives (a search's answer is large
    /// and the load generator does not read it); other answers keep theirs for the error code.
    func request(
        _ method: HTTPMethod, _ url: String, token: String?, json: String?, keepBody: Bool = true
    ) -> EventLoopFuture<Sent> {
        loop.preconditionInEventLoop()
        var rest = Substring(url)
        if rest.hasPrefix("http://") { rest = rest.dropFirst(7) }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: authority)
        if let token { headers.add(name: "Authorization", value: "Bearer " + token) }
        var body: ByteBuffer?
        if let json {
            let buffer = ByteBuffer(string: json)
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(buffer.readableBytes))
            body = buffer
        } else if method == .POST || method == .PUT {
            headers.add(name: "Content-Length", value: "0")
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: path, headers: headers)
        if let channel, authority == self.authority, channel.isActive {
            return write(head, body, keepBody: keepBody, on: channel)
        }
        close()
        return connect(authority).assumeIsolated().flatMap { channel -> EventLoopFuture<Sent> in
            self.channel = channel
            self.authority = authority
            return self.write(head, body, keepBody: keepBody, on: channel)
        }.flatMapErrorThrowing { error -> Sent in
            // Nothing was sent: a definite failure.
            .notSent("\(error)".contains("refused") ? "connection refused" : "connect: \(error)")
        }.nonisolated()
    }

    private func write(
        _ head: HTTPRequestHead, _ body: ByteBuffer?, keepBody: Bool, on channel: any Channel
    ) -> EventLoopFuture<Sent> {
        let promise = loop.makePromise(of: Reply.self)
        channel.writeAndFlush(
            PendingRequest(head: head, body: body, promise: promise, timeout: timeout, keepBody: keepBody)
        )
        .whenFailure { promise.fail($0) }
        return promise.futureResult.assumeIsolated().map { reply -> Sent in
            .reply(status: reply.status, body: reply.body)
        }.flatMapErrorThrowing { error -> Sent in
            self.close()
            if let e = error as? ConnectionError, e == .timeout { return .unknown("timeout") }
            if error is ConnectionError { return .unknown("connection closed") }
            if let io = error as? IOError, io.errnoCode == ECONNRESET { return .unknown("connection reset") }
            return .unknown("\(error)")
        }.nonisolated()
    }

    /// Closes the socket (on the connection's loop).
    public func close() {
        guard loop.inEventLoop else {
            loop.execute { self.close() }
            return
        }
        channel?.close(promise: nil)
        channel = nil
    }

    private func connect(_ authority: String) -> EventLoopFuture<any Channel> {
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...])
        else { return loop.makeFailedFuture(ConnectionError.badAddress(authority)) }
        let host = String(authority[..<colon])
        return ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connectTimeout(.seconds(2))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(RequestResponseHandler())
                }
            }
            .connect(host: host, port: port)
    }
}

struct Reply: Sendable {
    var status: Int
    var body: ByteBuffer
}

enum ConnectionError: Error, Equatable {
    case closed
    case timeout
    case badAddress(String)
}

/// A request with the promise of its answer and its deadline.
struct PendingRequest: Sendable {
    var head: HTTPRequestHead
    var body: ByteBuffer?
    var promise: EventLoopPromise<Reply>
    var timeout: TimeAmount
    var keepBody = true
}

/// Writes a request, collects its response and completes the promise; fails it if the connection
/// closes or the deadline passes first (then the connection is closed: its state is unknown).
final class RequestResponseHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = PendingRequest
    typealias OutboundOut = HTTPClientRequestPart

    private var pending: EventLoopPromise<Reply>?
    /// The request in flight's deadline (one timer per connection, not one per request).
    private var deadline: RollingDeadline?
    private var status = 0
    private var keepBody = true
    private var body: ByteBuffer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        complete(.failure(ConnectionError.closed))  // never two at once
        pending = request.promise
        status = 0
        keepBody = request.keepBody
        body = nil
        if deadline == nil {
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            deadline = RollingDeadline(loop: context.eventLoop) {
                let (handler, context) = bound.value
                handler.complete(.failure(ConnectionError.timeout))
                context.close(promise: nil)
            }
        }
        deadline?.begin(due: .now() + request.timeout)
        context.write(wrapOutboundOut(.head(request.head)), promise: nil)
        if let b = request.body { context.write(wrapOutboundOut(.body(.byteBuffer(b))), promise: nil) }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            if !(200..<300).contains(status) { keepBody = true }
        case .body(var part):
            guard keepBody else { return }
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            complete(.success(Reply(status: status, body: body ?? ByteBuffer())))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        complete(.failure(ConnectionError.closed))
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        complete(.failure(error))
        context.close(promise: nil)
    }

    private func complete(_ result: Result<Reply, any Error>) {
        deadline?.end()
        guard let promise = pending else { return }
        pending = nil
        promise.completeWith(result)
    }
}

/// Small JSON helpers over Foundation, for the answers the load generator reads.
enum JSON {
    static func object(_ body: ByteBuffer) -> [String: Any]? {
        let data = Data(body.readableBytesView)
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// A JSON string literal (with quotes) for `text`.
    static func quote(_ text: String) -> String { jsonQuoted(text) }

    static func int(_ value: Any?) -> Int64? {
        if let n = value as? NSNumber { return n.int64Value }
        return nil
    }

    /// The contract's error code of a non-2xx answer, or `http_STATUS` when the body has none.
    static func errorCode(status: Int, body: ByteBuffer) -> String {
        guard let start = valueOffset(of: "code", in: body),
            body.readableBytesView[body.readerIndex + start] == UInt8(ascii: "\"")
        else { return "http_\(status)" }
        let bytes = body.readableBytesView.dropFirst(start + 1)
        guard let close = bytes.firstIndex(of: UInt8(ascii: "\"")) else { return "http_\(status)" }
        return String(decoding: bytes[..<close], as: UTF8.self)
    }

    /// The integer value of the first `"name":` in a JSON body, read without building the
    /// document: the hot path of a booking storm reads one id per answer.
    static func integer(_ name: String, in body: ByteBuffer) -> Int64? {
        guard let start = valueOffset(of: name, in: body) else { return nil }
        var value: Int64 = 0
        var digits = 0
        for byte in body.readableBytesView.dropFirst(start) {
            guard byte >= 48 && byte <= 57, digits < 18 else { break }
            value = value * 10 + Int64(byte - 48)
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    /// The offset (from the reader index) of the value after the first `"name":` and spaces.
    static func valueOffset(of name: String, in body: ByteBuffer) -> Int? {
        let key = Array("\"\(name)\":".utf8)
        let bytes = body.readableBytesView
        guard bytes.count >= key.count else { return nil }
        var i = bytes.startIndex
        while i <= bytes.endIndex - key.count {
            if bytes[i] == key[0] && bytes[i..<(i + key.count)].elementsEqual(key) {
                var j = i + key.count
                while j < bytes.endIndex && bytes[j] == UInt8(ascii: " ") { j += 1 }
                return j < bytes.endIndex ? j - bytes.startIndex : nil
            }
            i += 1
        }
        return nil
    }
}
