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

/// One keep-alive HTTP/1.1 connection over SwiftNIO (a request written as one buffer, and a
/// minimal response reader): far lighter per request than a general-purpose client, so that the load generator
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

    /// `send` with a body of another type (`text/csv`).
    public func send(_ method: HTTPMethod, _ url: String, token: String?, body: String, contentType: String) async
        -> Sent
    {
        (try? await loop.flatSubmit {
            self.exchange(method, url, token: token, json: body, contentType: contentType).map(\.sent)
        }.get()) ?? .unknown("event loop shut down")
    }

    /// `send` for code already on the connection's loop; the future completes there.
    /// `keepBody: false`: a 2xx answer's body is dropped as it arrives (a search's answer is large
    /// and the load generator does not read it); other answers keep theirs for the error code.
    func request(
        _ method: HTTPMethod, _ url: String, token: String?, json: String?, keepBody: Bool = true
    ) -> EventLoopFuture<Sent> {
        exchange(method, url, token: token, json: json, keepBody: keepBody).map(\.sent)
    }

    /// `request`, with the answer's `Retry-After` (whole seconds) when it has one; `contentType`
    /// labels the body (`json`, which need not be JSON then).
    func exchange(
        _ method: HTTPMethod, _ url: String, token: String?, json: String?, keepBody: Bool = true,
        contentType: String = "application/json"
    ) -> EventLoopFuture<(sent: Sent, retryAfter: Int?)> {
        loop.preconditionInEventLoop()
        var rest = Substring(url)
        if rest.hasPrefix("http://") { rest = rest.dropFirst(7) }
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = String(rest[..<slash])
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        // The request's bytes, written as they go on the wire (no header objects).
        var head = "\(method.rawValue) \(path) HTTP/1.1\r\nHost: \(authority)\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        if let json {
            head += "Content-Type: \(contentType)\r\nContent-Length: \(json.utf8.count)\r\n\r\n"
            head += json
        } else {
            head += method == .POST || method == .PUT ? "Content-Length: 0\r\n\r\n" : "\r\n"
        }
        let bytes = ByteBuffer(string: head)
        if let channel, authority == self.authority, channel.isActive {
            return write(bytes, keepBody: keepBody, on: channel)
        }
        close()
        return connect(authority).assumeIsolated().flatMap {
            channel -> EventLoopFuture<(sent: Sent, retryAfter: Int?)> in
            self.channel = channel
            self.authority = authority
            return self.write(bytes, keepBody: keepBody, on: channel)
        }.flatMapErrorThrowing { error -> (sent: Sent, retryAfter: Int?) in
            // Nothing was sent: a definite failure.
            (.notSent("\(error)".contains("refused") ? "connection refused" : "connect: \(error)"), nil)
        }.nonisolated()
    }

    private func write(_ bytes: ByteBuffer, keepBody: Bool, on channel: any Channel)
        -> EventLoopFuture<(sent: Sent, retryAfter: Int?)>
    {
        let promise = loop.makePromise(of: Reply.self)
        channel.writeAndFlush(PendingRequest(bytes: bytes, promise: promise, timeout: timeout, keepBody: keepBody))
            .whenFailure { promise.fail($0) }
        return promise.futureResult.assumeIsolated().map { reply -> (sent: Sent, retryAfter: Int?) in
            (.reply(status: reply.status, body: reply.body), reply.retryAfter)
        }.flatMapErrorThrowing { error -> (sent: Sent, retryAfter: Int?) in
            self.close()
            if let e = error as? ConnectionError, e == .timeout { return (.unknown("timeout"), nil) }
            if error is ConnectionError { return (.unknown("connection closed"), nil) }
            if let io = error as? IOError, io.errnoCode == ECONNRESET { return (.unknown("connection reset"), nil) }
            return (.unknown("\(error)"), nil)
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
                    try channel.pipeline.syncOperations.addHandler(RequestResponseHandler())
                }
            }
            .connect(host: host, port: port)
    }
}

struct Reply: Sendable {
    var status: Int
    var body: ByteBuffer
    /// The `Retry-After` header's whole seconds, when the answer has one.
    var retryAfter: Int?
}

enum ConnectionError: Error, Equatable {
    case closed
    case timeout
    case badAddress(String)
}

/// A request (its bytes) with the promise of its answer and its deadline.
struct PendingRequest: Sendable {
    var bytes: ByteBuffer
    var promise: EventLoopPromise<Reply>
    var timeout: TimeAmount
    var keepBody = true
}

/// Writes a request, reads its response and completes the promise; fails it if the connection
/// closes or the deadline passes first (then the connection is closed: its state is unknown).
///
/// A minimal HTTP/1.1 response reader of its own, not NIO's HTTP codec: it reads the status
/// line and the headers, then counts `Content-Length` bytes of body without parsing them (a
/// search answer is 21 KB that the generator mostly does not read). It understands what
/// `dlsms serve` sends: a status line, headers, and a body of `Content-Length` bytes (or none);
/// anything else (chunked encoding, a body without a length, a malformed head) fails the request
/// as a broken connection.
final class RequestResponseHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = PendingRequest
    typealias OutboundOut = ByteBuffer

    struct Malformed: Error, CustomStringConvertible {
        var description: String
    }

    private var pending: EventLoopPromise<Reply>?
    /// The request in flight's deadline (one timer per connection, not one per request).
    private var deadline: RollingDeadline?
    private var keepBody = true
    /// Bytes received and not yet consumed.
    private var input: ByteBuffer?
    /// Once the head is read: the status and the body bytes still to come.
    private var status: Int?
    private var remaining = 0
    private var retryAfter: Int?
    private var body: ByteBuffer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        complete(.failure(ConnectionError.closed))  // never two at once
        pending = request.promise
        status = nil
        input = nil
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
        context.writeAndFlush(wrapOutboundOut(request.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if input == nil { input = bytes } else { input!.writeBuffer(&bytes) }
        do {
            try consume()
        } catch {
            complete(.failure(error))
            context.close(promise: nil)
        }
    }

    /// Reads the head when it is whole, then the body's bytes; completes the request at its end.
    private func consume() throws {
        guard var buffer = input else { return }
        input = nil
        defer { if buffer.readableBytes > 0 { input = buffer } }
        if status == nil {
            guard let (code, length, retry) = try Self.head(&buffer) else { return }
            status = code
            remaining = length
            retryAfter = retry
            if !(200..<300).contains(code) { keepBody = true }
        }
        let take = min(remaining, buffer.readableBytes)
        if take > 0 {
            var part = buffer.readSlice(length: take)!
            if keepBody { if body == nil { body = part } else { body!.writeBuffer(&part) } }
            remaining -= take
        }
        guard remaining == 0, let code = status else { return }
        status = nil
        complete(.success(Reply(status: code, body: body ?? ByteBuffer(), retryAfter: retryAfter)))
    }

    /// The status, `Content-Length` and `Retry-After` (whole seconds) of a whole head at the start
    /// of `buffer` (read past it), or nil while it is incomplete.
    static func head(_ buffer: inout ByteBuffer) throws(Malformed) -> (status: Int, length: Int, retryAfter: Int?)? {
        // Byte by byte, without building strings: this runs once per response.
        typealias Head = (status: Int, length: Int, retryAfter: Int?, size: Int)
        let found: Result<Head?, Malformed> = buffer.withUnsafeReadableBytes { b in
            let n = b.count
            var end = -1
            var i = 3
            while i < n {
                if b[i] == 10 && b[i - 1] == 13 && b[i - 2] == 10 && b[i - 3] == 13 {
                    end = i + 1
                    break
                }
                i += 1
            }
            guard end > 0 else {
                return n > 64 * 1024 ? .failure(Malformed(description: "a response head over 64 KiB")) : .success(nil)
            }
            // "HTTP/1.x NNN"
            let prefix: [UInt8] = Array("HTTP/1.".utf8)
            guard end >= 14, b[0..<7].elementsEqual(prefix), b[8] == 32,
                (9...11).allSatisfy({ b[$0] >= 48 && b[$0] <= 57 }), b[12] == 32 || b[12] == 13
            else { return .failure(Malformed(description: "a malformed status line")) }
            let code = (Int(b[9]) - 48) * 100 + (Int(b[10]) - 48) * 10 + Int(b[11]) - 48
            guard (100...599).contains(code) else { return .failure(Malformed(description: "status \(code)")) }
            var length: Int?
            var retryAfter: Int?
            var line = 0
            while b[line] != 10 { line += 1 }
            line += 1  // the first header line
            func named(_ name: StaticString, at start: Int) -> Int? {
                let count = name.utf8CodeUnitCount
                guard start + count < end, b[start + count] == 58 else { return nil }
                for k in 0..<count where b[start + k] | 0x20 != name.utf8Start[k] { return nil }
                return start + count + 1
            }
            while line < end - 2 {
                var stop = line
                while b[stop] != 13 { stop += 1 }
                if var v = named("content-length", at: line) {
                    while b[v] == 32 || b[v] == 9 { v += 1 }
                    var value = 0
                    var digits = 0
                    while v < stop, b[v] >= 48, b[v] <= 57, digits < 12 {
                        value = value * 10 + Int(b[v]) - 48
                        digits += 1
                        v += 1
                    }
                    while v < stop && (b[v] == 32 || b[v] == 9) { v += 1 }
                    guard digits > 0, v == stop else { return .failure(Malformed(description: "a bad content-length")) }
                    length = value
                } else if var v = named("retry-after", at: line) {
                    // Whole seconds; an HTTP date is left unread.
                    while b[v] == 32 || b[v] == 9 { v += 1 }
                    var value = 0
                    var digits = 0
                    while v < stop, b[v] >= 48, b[v] <= 57, digits < 9 {
                        value = value * 10 + Int(b[v]) - 48
                        digits += 1
                        v += 1
                    }
                    if digits > 0 { retryAfter = value }
                } else if named("transfer-encoding", at: line) != nil {
                    return .failure(Malformed(description: "transfer-encoding is not read"))
                }
                line = stop + 2
            }
            // No length: no body (204, 304, 1xx), or one this reader cannot delimit.
            if length == nil && !(code == 204 || code == 304 || code < 200) {
                return .failure(Malformed(description: "a \(code) answer without content-length"))
            }
            return .success((code, length ?? 0, retryAfter, end))
        }
        guard let head = try found.get() else { return nil }
        buffer.moveReaderIndex(forwardBy: head.size)
        return (head.status, head.length, head.retryAfter)
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
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += "\\u" + String(format: "%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

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
