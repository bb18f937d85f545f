import DLSMSApp
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request that cannot be parsed (bad request line, oversized headers or URL, a
/// smuggling attempt such as both `Content-Length` and `Transfer-Encoding`) with the contract's
/// JSON error, then closes the connection.
///
/// - Between requests, it answers at once.
/// - After a complete request whose response is still being written (a pipelined client), it
///   answers right after that response ends.
/// - Inside a request's body (a bad chunk size, a body shorter than its `Content-Length`), the
///   error goes on to the route that is reading the body, and ``APIErrorMiddleware`` answers it.
package final class ParseErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPRequestPart
    package typealias InboundOut = HTTPRequestPart
    package typealias OutboundIn = HTTPResponsePart
    package typealias OutboundOut = HTTPResponsePart

    package init() {}

    /// Requests whose head has arrived and whose response has not ended.
    private var open = 0
    /// The last request's body has been read whole.
    private var lastRequestRead = true
    /// A parse error waiting for the response in progress to end.
    private var pending: HTTPParserError?
    private var answered = false

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            open += 1
            lastRequestRead = false
        case .end: lastRequestRead = true
        case .body: break
        }
        context.fireChannelRead(data)
    }

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .end = unwrapOutboundIn(data) else {
            context.write(data, promise: promise)
            return
        }
        open = max(0, open - 1)
        context.write(data, promise: promise)
        if open == 0, let error = pending {
            pending = nil
            answer(error, context: context)
        }
    }

    package func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError, !answered else {
            context.fireErrorCaught(error)
            return
        }
        if open == 0 {
            answer(parseError, context: context)
        } else if lastRequestRead {
            pending = parseError  // the next (pipelined) request is the bad one: answer after this one
        } else {
            context.fireErrorCaught(error)  // the body of the request in progress: its route answers
        }
    }

    private func answer(_ parseError: HTTPParserError, context: ChannelHandlerContext) {
        answered = true
        let (status, message): (HTTPResponse.Status, String) =
            switch parseError {
            case .headerOverflow: (.requestHeaderFieldsTooLarge, "the request's headers or URL are too large")
            default: (.badRequest, "malformed HTTP request (\(parseError))")
            }
        var w = JSONWriter()
        w.object {
            $0.field("error", message)
            $0.field("code", status == .badRequest ? "bad_request" : "headers_too_large")
        }
        let body = context.channel.allocator.buffer(bytes: w.bytes)
        let head = HTTPResponse(
            status: status,
            headerFields: [
                .contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes),
                .connection: "close",
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }
}
