import DLSMSApp
import NIOCore
import NIOHTTP1

/// The HTTP/1 rules a request meets before it reaches the router, on the wire's own terms (the
/// HTTP version, `Host` as sent, `Transfer-Encoding`, `Expect`), between NIO's decoder and the
/// conversion to HTTP types, which drops the version and folds `Host` into the authority.
///
/// Refused with the contract's JSON error, then the connection is closed:
/// - a request that cannot be parsed: 400 (`bad_request`), 431 (`headers_too_large`), or 501
///   (`not_implemented`) for a method HTTP's parser does not know;
/// - `CONNECT` (this is not a proxy): 501;
/// - an HTTP/1.1 request without `Host`, or any request with more than one: 400;
/// - a transfer coding other than `chunked`: 501;
/// - an `Expect` other than `100-continue`: 417; `100-continue` with a `Content-Length` over the
///   route's upload limit: 413, before the client sends the body. Otherwise `100 Continue` goes out
///   at once (after the responses still being written to earlier requests of the connection).
///
/// Every answer goes out in order: one to a request that follows others on the connection
/// (pipelining) waits until their responses have ended. A parse error inside a body goes on to the
/// route reading that body (``APIErrorMiddleware`` answers it).
///
/// Keep-alive as the version says: an HTTP/1.0 request is answered as HTTP/1.0, with
/// `Connection: keep-alive` only when it asked for it and the answer has a length; otherwise, and
/// for `Connection: close`, the connection closes after the answer.
package final class HTTP1Gate: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPServerRequestPart
    package typealias InboundOut = HTTPServerRequestPart
    package typealias OutboundIn = HTTPServerResponsePart
    package typealias OutboundOut = HTTPServerResponsePart

    /// What the answer to a request forwarded to the router must honour.
    private struct Forwarded {
        var version: HTTPVersion
        var keepAlive: Bool
    }

    /// The most a route reads of a body at `path`; an announced body over it is refused at once.
    private let uploadLimit: (String) -> Int
    /// Requests forwarded whose responses have not started, in order.
    private var waiting: [Forwarded] = []
    /// Requests forwarded whose responses have not ended (started or not).
    private var open = 0
    /// The last request forwarded has been read whole.
    private var lastRequestRead = true
    /// The response being written closes the connection when it ends.
    private var closeAfterResponse = false
    /// `100 Continue` owed to the last request forwarded, once the responses before it have ended.
    private var continueOwed = false
    /// A refusal decided, waiting for the responses in progress to end.
    private var pending: APIError?
    /// A refusal was decided: nothing more is read from this connection.
    private var refused = false

    package init(uploadLimit: @escaping (String) -> Int) {
        self.uploadLimit = uploadLimit
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !refused else { return }  // the rest of a refused request, or what follows it
        switch unwrapInboundIn(data) {
        case .head(var head):
            if let refusal = refusal(of: &head) {
                refuse(refusal, context: context)
                return
            }
            if continueOwed, open == 0 { sendContinue(context: context) }
            waiting.append(Forwarded(version: head.version, keepAlive: head.isKeepAlive))
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
        switch unwrapOutboundIn(data) {
        case .head(var head) where head.status.code >= 200 || head.status == .switchingProtocols:
            let request = waiting.isEmpty ? Forwarded(version: .http1_1, keepAlive: true) : waiting.removeFirst()
            closeAfterResponse =
                !request.keepAlive || head.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
            if request.version.major == 1 && request.version.minor == 0 {
                head.version = .http1_0
                // An HTTP/1.0 client reads a body without a length up to the connection's end.
                if !head.headers.contains(name: "content-length") { closeAfterResponse = true }
            }
            if closeAfterResponse {
                head.headers.replaceOrAdd(name: "connection", value: "close")
            } else if request.version.minor == 0 {
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
            } else if open == 1, continueOwed {
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
        if open == 0 || lastRequestRead {
            // Between requests, or a pipelined request after one read whole: the bad one is the next.
            refuse(Self.refusal(of: parseError), context: context)
        } else {
            context.fireErrorCaught(error)  // the body of the request in progress: its route answers
        }
    }

    /// Why `head` is refused here, if it is; an accepted `Expect: 100-continue` is taken off it.
    private func refusal(of head: inout HTTPRequestHead) -> APIError? {
        if head.method == .CONNECT {
            return APIError(.notImplemented, "not_implemented", "CONNECT is not supported: this server is not a proxy")
        }
        let hosts = head.headers["host"].count
        if hosts > 1 || (hosts == 0 && Self.isHTTP11(head.version)) {
            return APIError.badRequest(
                hosts == 0 ? "an HTTP/1.1 request needs a Host header" : "a request has at most one Host header")
        }
        let codings = head.headers[canonicalForm: "transfer-encoding"].map { $0.lowercased() }
        if !codings.isEmpty, codings != ["chunked"] {
            let other = codings.first { $0 != "chunked" } ?? "chunked"
            return APIError(
                .notImplemented, "not_implemented",
                "the transfer coding '\(other.prefix(40))' is not supported; send the body as it is or chunked")
        }
        let expectations = head.headers[canonicalForm: "expect"].map { $0.lowercased() }
        guard !expectations.isEmpty, Self.isHTTP11(head.version) else { return nil }  // HTTP/1.0 ignores Expect
        guard expectations == ["100-continue"] else {
            return APIError(.expectationFailed, "expectation_failed", "only 'Expect: 100-continue' is understood")
        }
        let limit = uploadLimit(String(head.uri.prefix { $0 != "?" }))
        if let announced = head.headers.first(name: "content-length").flatMap({ Int($0) }), announced > limit {
            return APIError(
                .contentTooLarge, "payload_too_large", "the body is larger than \(Self.size(limit)); it was not sent")
        }
        head.headers.remove(name: "expect")
        continueOwed = true
        return nil
    }

    private static func refusal(of parseError: HTTPParserError) -> APIError {
        switch parseError {
        case .headerOverflow:
            APIError(.requestHeaderFieldsTooLarge, "headers_too_large", "the request's headers or URL are too large")
        case .invalidMethod: APIError(.notImplemented, "not_implemented", "the request's method is not supported")
        default: APIError.badRequest("malformed HTTP request (\(parseError))")
        }
    }

    private static func isHTTP11(_ version: HTTPVersion) -> Bool {
        version.major > 1 || (version.major == 1 && version.minor >= 1)
    }

    private static func size(_ bytes: Int) -> String {
        bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
    }

    private func sendContinue(context: ChannelHandlerContext) {
        continueOwed = false
        context.writeAndFlush(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
    }

    /// Refuses the request just read, now or once the responses in progress have ended.
    private func refuse(_ refusal: APIError, context: ChannelHandlerContext) {
        refused = true
        continueOwed = false
        if open == 0 { answer(refusal, context: context) } else { pending = refusal }
    }

    /// Writes `refusal` as the contract's JSON error and closes the connection. The bytes go out
    /// past NIO's response encoder, which frames an answer to `CONNECT` as a tunnel's (no body).
    private func answer(_ refusal: APIError, context: ChannelHandlerContext) {
        let body = refusal.jsonBody
        var text = "HTTP/1.1 \(refusal.status.code) \(refusal.status.reasonPhrase)\r\n"
        text += "Content-Type: application/json; charset=utf-8\r\nContent-Length: \(body.count)\r\n"
        text += "Connection: close\r\n\r\n"
        var buffer = context.channel.allocator.buffer(capacity: text.utf8.count + body.count)
        buffer.writeString(text)
        buffer.writeBytes(body)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        guard let encoder = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self) else {
            context.close(promise: nil)
            return
        }
        encoder.writeAndFlush(NIOAny(buffer)).whenComplete { _ in bound.value.close(promise: nil) }
    }
}
