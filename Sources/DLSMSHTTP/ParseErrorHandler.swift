import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes

/// Answers a request that cannot be parsed (bad request line, oversized headers or URL, a
/// smuggling attempt such as both `Content-Length` and `Transfer-Encoding`) with the contract's
/// JSON error, then closes the connection.
///
/// It acts only between requests, where no response is under way: a parse error inside a
/// request's body (a bad chunk size, a body shorter than its `Content-Length`) goes on to the
/// route, which is reading that body, and ``APIErrorMiddleware`` answers it.
final class ParseErrorHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Requests whose head has arrived and whose response has not ended.
    private var open = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { open += 1 }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { open = max(0, open - 1) }
        context.write(data, promise: promise)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let parseError = error as? HTTPParserError, open == 0 else {
            context.fireErrorCaught(error)
            return
        }
        let (status, message): (HTTPResponse.Status, String) =
            switch parseError {
            case .headerOverflow: (.requestHeaderFieldsTooLarge, "the request's headers or URL are too large")
            default: (.badRequest, "malformed HTTP request (\(parseError))")
            }
        open = 1  // one answer only
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
