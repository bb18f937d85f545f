import DLSMSApp
import Foundation
import NIOCore
import NIOHTTP1

/// The HTTP/1 rules a request meets before it reaches the router, on the wire's own terms (the
/// HTTP version, `Host` as sent, `Transfer-Encoding`, `Expect`), between NIO's decoder and the
/// conversion to HTTP types, which drops the version and folds `Host` into the authority.
///
/// Refused with the contract's JSON error (as HTTP/1.0 to an HTTP/1.0 request, without the body
/// to a `HEAD`), then the connection is closed:
/// - a request that cannot be parsed: 400 (`bad_request`), 431 (`headers_too_large`), or 501
///   (`not_implemented`) for a method HTTP's parser does not know;
/// - `CONNECT` (this is not a proxy): 501;
/// - an HTTP/1.1 request without `Host`, any request with more than one, or an invalid one: 400;
/// - a `Transfer-Encoding` that is empty (400) or names a coding other than `chunked` (501);
/// - an `Expect` other than `100-continue`: 417; `100-continue` with a `Content-Length` over the
///   route's upload limit: 413, before the client sends the body.
///
/// `Expect: 100-continue` is answered `100 Continue` when the body will be read: the request is
/// one a route reads (it carries credentials, or it signs in), within the limit, on a
/// connection the connection guard serves; the `100` goes out once the responses to earlier
/// requests of the connection have ended, and not at all if the request's own answer comes first.
///
/// Every answer goes out in order: one to a request that follows others on the connection
/// (pipelining) waits until their responses have ended. One response per request: a second one
/// (a body error noticed after the route answered) is not sent, and the connection is closed. A
/// parse error inside a body the route is reading goes on to the route (``APIErrorMiddleware``
/// answers it).
///
/// Keep-alive as the version says: an HTTP/1.0 request is answered as HTTP/1.0, with
/// `Connection: keep-alive` only when it asked for it and the answer has a length; otherwise, and
/// for `Connection: close`, the connection closes after the answer. A `HEAD` whose `GET` would be
/// streamed announces `Transfer-Encoding: chunked`, not a length.
package final class HTTP1Gate: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias InboundOut = HTTPServerRequestPart
    package typealias OutboundIn = HTTPServerResponsePart
    package typealias OutboundOut = HTTPServerResponsePart

    /// A request forwarded to the router, and what its answer must honour.
    private struct Forwarded {
        var sequence: Int
        var version: HTTPVersion
        var keepAlive: Bool
        var isHead: Bool
    }

    /// A refusal and how the request it answers reads it.
    private struct Refusal {
        var error: APIError
        var version = HTTPVersion.http1_1
        var isHead = false
    }

    /// Request paths that read a body without credentials.
    private static let publicBodyPaths: Set<String> = ["/auth/login", "/auth/register", "/auth/handoff"]

    /// The most a route reads of a body at `path`; an announced body over it is refused at once.
    private let uploadLimit: (String) -> Int
    private var sequence = 0
    /// Requests forwarded whose responses have not started, in order.
    private var waiting: [Forwarded] = []
    /// Requests forwarded whose responses have not ended (started or not).
    private var open = 0
    /// The last request forwarded has been read whole.
    private var lastRequestRead = true
    /// The response being written closes the connection when it ends.
    private var closeAfterResponse = false
    /// The request owed a `100 Continue` once the responses before it have ended.
    private var continueOwed: Int?
    /// A refusal decided, waiting for the responses in progress to end.
    private var pending: Refusal?
    /// A refusal was decided: nothing more is read from this connection.
    private var refused = false
    /// A response to no request is being dropped; the connection closes at its end.
    private var dropping = false

    package init(uploadLimit: @escaping (String) -> Int) {
        self.uploadLimit = uploadLimit
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }  // the rest of a refused request, or what follows it
        switch unwrapInboundIn(data) {
        case .head(var head):
            var expectsContinue = false
            if let error = refusal(of: &head, expectsContinue: &expectsContinue) {
                refuse(Refusal(error: error, version: head.version, isHead: head.method == .HEAD), context: context)
                return
            }
            sequence += 1
            if expectsContinue, !connectionRefused(context) {
                if open == 0 { sendContinue(context: context) } else { continueOwed = sequence }
            }
            waiting.append(
                Forwarded(
                    sequence: sequence, version: head.version, keepAlive: head.isKeepAlive, isHead: head.method == .HEAD
                ))
            open += 1
            lastRequestRead = false
            context.fireChannelRead(wrapInboundOut(.head(head)))
        case .body:
            context.fireChannelRead(data)
        case .end:
            lastRequestRead = true
            context.fireChannelRead(data)
        }
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if dropping {
            promise?.succeed()
            if case .end = unwrapOutboundIn(data) { context.close(promise: nil) }
            return
        }
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200 || head.status == .switchingProtocols:
            guard !waiting.isEmpty else {
                // A second answer to a request already answered (its body failed after the route
                // had replied): not sent; the connection cannot be trusted any more.
                dropping = true
                promise?.succeed()
                return
            }
            let request = waiting.removeFirst()
            if continueOwed == request.sequence { continueOwed = nil }  // the answer came first
            closeAfterResponse =
                !request.keepAlive
                || (head.headers.contains(name: "connection")
                    && head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" })
            if request.isHead && head.headers.contains(name: "transfer-encoding") {
                head.headers.remove(name: "content-length")  // the GET is streamed: no length to announce
            }
            let http10 = Self.isHTTP10(request.version)
            if http10 {
                head.version = .http1_0
                // An HTTP/1.0 client reads a body without a length up to the connection's end.
                if !head.headers.contains(name: "content-length") { closeAfterResponse = true }
                head.headers.remove(name: "transfer-encoding")
            }
            if closeAfterResponse {
                head.headers.replaceOrAdd(name: "connection", value: "close")
            } else if http10 {
                head.headers.replaceOrAdd(name: "connection", value: "keep-alive")
            }
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .head, .body:
            context.write(data, promise: promise)
        case .end:
            open = max(0, open - 1)
            if closeAfterResponse {
                refused = true
                pending = nil
                let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
                context.writeAndFlush(data).whenComplete { result in
                    promise?.completeWith(result)
                    bound.value.close(promise: nil)
                }
                return
            }
            context.write(data, promise: promise)
            if open == 0, let refusal = pending {
                pending = nil
                answer(refusal, context: context)
            } else if let owed = continueOwed, waiting.first?.sequence == owed {
                sendContinue(context: context)
            }
        }
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        guard !refused else { return }  // answered already: what follows is not read
        if open == 0 && !lastRequestRead {
            // The body of a request already answered: nobody reads it; the connection ends.
            refused = true
            context.close(promise: nil)
        } else if open == 0 || lastRequestRead {
            // Between requests, or a pipelined request after one read whole: the bad one is the next.
            refuse(Refusal(error: Self.refusal(of: parseError)), context: context)
        } else {
            context.fireErrorCaught(error)  // the body of the request in progress: its route answers
        }
    }

    /// Why `head` is refused here, if it is; an accepted `Expect: 100-continue` is taken off it,
    /// `expectsContinue` saying whether the client should be told to send the body.
    private func refusal(of head: inout HTTPRequestHead, expectsContinue: inout Bool) -> APIError? {
        if head.method == .CONNECT {
            return APIError(.notImplemented, "not_implemented", "CONNECT is not supported: this server is not a proxy")
        }
        // One pass over the fields (this runs for every request).
        var hosts = 0
        var host: String?
        var framed = false
        var expects = false
        var credentials = false
        for (name, value) in head.headers {
            if Self.named(name, "host") {
                hosts += 1
                host = value
            } else if Self.named(name, "transfer-encoding") {
                framed = true
            } else if Self.named(name, "expect") {
                expects = true
            } else if Self.named(name, "authorization") {
                credentials = true
            }
        }
        if hosts > 1 || (hosts == 0 && Self.isHTTP11(head.version)) {
            return APIError.badRequest(
                hosts == 0 ? "an HTTP/1.1 request needs a Host header" : "a request has at most one Host header")
        }
        if let host, !Self.isValidHost(host) {
            return APIError.badRequest("the Host header is not a host name or address with an optional port")
        }
        if framed {
            let codings = head.headers[canonicalForm: "transfer-encoding"].map { $0.lowercased() }
            if codings.isEmpty {
                return APIError.badRequest("Transfer-Encoding is empty: send chunked or leave it out")
            }
            if codings != ["chunked"] {
                let other = codings.first { $0 != "chunked" } ?? "chunked"
                return APIError(
                    .notImplemented, "not_implemented",
                    "the transfer coding '\(other.prefix(40))' is not supported; send the body as it is or chunked")
            }
        }
        guard expects, Self.isHTTP11(head.version) else { return nil }  // HTTP/1.0 ignores Expect
        guard head.headers[canonicalForm: "expect"].map({ $0.lowercased() }) == ["100-continue"] else {
            return APIError(.expectationFailed, "expectation_failed", "only 'Expect: 100-continue' is understood")
        }
        head.headers.remove(name: "expect")
        let path = Self.path(of: head.uri)
        // Without credentials, a route other than signing in answers 401 without reading: that
        // answer comes first, with no invitation to send the body.
        guard credentials || Self.publicBodyPaths.contains(path) else { return nil }
        let limit = uploadLimit(path)
        if let announced = head.headers.first(name: "content-length")?.trimmingCharacters(in: .whitespaces),
            !announced.isEmpty, announced.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
            (Int(announced) ?? .max) > limit
        {
            return APIError(
                .contentTooLarge, "payload_too_large", "the body is larger than \(Self.size(limit)); it was not sent")
        }
        expectsContinue = true
        return nil
    }

    /// Whether the field `name` is `lowercase` (ASCII, any case).
    private static func named(_ name: String, _ lowercase: StaticString) -> Bool {
        guard name.utf8.count == lowercase.utf8CodeUnitCount else { return false }
        return lowercase.withUTF8Buffer { expected in
            zip(name.utf8, expected).allSatisfy { a, b in a | 0x20 == b || (a == b) }
        }
    }

    private static func refusal(of parseError: HTTPParserError) -> APIError {
        switch parseError {
        case .headerOverflow:
            APIError(.requestHeaderFieldsTooLarge, "headers_too_large", "the request's headers or URL are too large")
        case .invalidMethod: APIError(.notImplemented, "not_implemented", "the request's method is not supported")
        default: APIError.badRequest("malformed HTTP request (\(parseError))")
        }
    }

    private static func isHTTP10(_ version: HTTPVersion) -> Bool { version.major == 1 && version.minor == 0 }

    private static func isHTTP11(_ version: HTTPVersion) -> Bool {
        version.major > 1 || (version.major == 1 && version.minor >= 1)
    }

    /// `uri-host [":" port]` (RFC 9112 §3.2, RFC 3986 §3.2.2): a name, an IPv4 address or a
    /// bracketed IPv6 literal, and digits after the colon. Empty is allowed (RFC 9112 §3.2).
    static func isValidHost(_ host: String) -> Bool {
        var bytes = Substring(host).utf8[...]
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return false }
            let literal = bytes[bytes.index(after: bytes.startIndex)..<close]
            guard !literal.isEmpty,
                literal.allSatisfy({ Self.isHex($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else { return false }
            bytes = bytes[bytes.index(after: close)...]
            guard bytes.isEmpty || bytes.first == UInt8(ascii: ":") else { return false }
        } else {
            let name = bytes.prefix { $0 != UInt8(ascii: ":") }
            guard name.allSatisfy(Self.isNameByte) else { return false }
            bytes = bytes[name.endIndex...]
        }
        guard !bytes.isEmpty else { return true }
        let port = bytes.dropFirst()  // after the colon
        return port.count <= 5 && port.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }

    private static func isHex(_ b: UInt8) -> Bool {
        (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
            || (b | 0x20 >= UInt8(ascii: "a") && b | 0x20 <= UInt8(ascii: "f"))
    }

    /// reg-name: unreserved, pct-encoded, sub-delims (RFC 3986 §3.2.2).
    private static func isNameByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"),
            UInt8(ascii: "!"),
            UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
            UInt8(ascii: "*"),
            UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="):
            true
        default: false
        }
    }

    /// The request target's path as the router reads it: no scheme and authority (absolute
    /// form), no query, no empty segments.
    static func path(of uri: String) -> String {
        var target = Substring(uri)
        if let scheme = target.range(of: "://"), target[..<scheme.lowerBound].allSatisfy(\.isLetter) {
            let rest = target[scheme.upperBound...]
            target = rest[(rest.firstIndex(of: "/") ?? rest.endIndex)...]
        }
        let path = target.prefix { $0 != "?" && $0 != "#" }
        return "/" + path.split(separator: "/").joined(separator: "/")
    }

    private static func size(_ bytes: Int) -> String {
        bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
    }

    /// Whether the connection guard refuses this connection (over the cap): its answer is a 503,
    /// and no body should be sent for it.
    private func connectionRefused(_ context: ChannelHandlerContext) -> Bool {
        (try? context.pipeline.syncOperations.handler(type: ConnectionGuard.self))?.refusesConnection ?? false
    }

    private func sendContinue(context: ChannelHandlerContext) {
        continueOwed = nil
        context.writeAndFlush(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
    }

    /// Refuses the request just read, now or once the responses in progress have ended.
    private func refuse(_ refusal: Refusal, context: ChannelHandlerContext) {
        refused = true
        continueOwed = nil
        if open == 0 { answer(refusal, context: context) } else { pending = refusal }
    }

    /// Writes `refusal` as the contract's JSON error and closes the connection. The bytes go out
    /// past NIO's response encoder, which frames an answer to `CONNECT` as a tunnel's (no body).
    private func answer(_ refusal: Refusal, context: ChannelHandlerContext) {
        let body = refusal.error.jsonBody
        let version = Self.isHTTP10(refusal.version) ? "HTTP/1.0" : "HTTP/1.1"
        var text = "\(version) \(refusal.error.status.code) \(refusal.error.status.reasonPhrase)\r\n"
        text += "Date: \(Self.httpDate(Date()))\r\nServer: dlsms\r\nX-Content-Type-Options: nosniff\r\n"
        text += "Content-Type: application/json; charset=utf-8\r\nContent-Length: \(body.count)\r\n"
        text += "Connection: close\r\n\r\n"
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count + body.count)
        buffer.writeString(text)
        if !refusal.isHead { buffer.writeBytes(body) }
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        guard let encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else {
            context.close(promise: nil)
            return
        }
        encoder.writeAndFlush(NIOAny(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
    }

    /// An IMF-fixdate (RFC 9110 §5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
    static func httpDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var t = tm()
        gmtime_r(&seconds, &t)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        return "\(days[Int(t.tm_wday)]), \(two(t.tm_mday)) \(months[Int(t.tm_mon)]) \(t.tm_year + 1900) "
            + "\(two(t.tm_hour)):\(two(t.tm_min)):\(two(t.tm_sec)) GMT"
    }
}
