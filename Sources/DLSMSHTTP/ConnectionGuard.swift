import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Open connections, against ``Limits/connections``.
public final class ConnectionCounter: Sendable {
    public let limit: Int
    private let open = Atomic<Int>(0)

    public init(limit: Int) { self.limit = limit }

    public var count: Int { open.load(ordering: .relaxed) }

    /// Counts a new connection; `false` when it is one too many (it still counts until it closes).
    func opened() -> Bool { open.wrappingAdd(1, ordering: .relaxed).newValue <= limit }
    func closed() { open.wrappingSubtract(1, ordering: .relaxed) }
}

/// Per connection: counts it, answers a request on a connection beyond the cap with 503 and closes
/// it (a clean refusal the client can read, not a failing `accept`), and closes an event stream as
/// soon as its client half-closes, so that the stream's slot is freed at once.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let counter: ConnectionCounter
    private var counted = false
    private var overLimit = false
    private var answered = false
    private var streaming = false

    init(counter: ConnectionCounter) { self.counter = counter }

    func handlerAdded(context: ChannelHandlerContext) {
        counted = true
        overLimit = !counter.opened()
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    private func release() {
        if counted {
            counted = false
            counter.closed()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard overLimit else {
            context.fireChannelRead(data)
            return
        }
        // Beyond the cap: nothing reaches the application; the first request is answered 503.
        guard !answered, case .head = unwrapInboundIn(data) else { return }
        answered = true
        var w = JSONWriter()
        w.object {
            $0.field("error", "the server has too many open connections; try again")
            $0.field("code", "unavailable")
        }
        let body = context.channel.allocator.buffer(bytes: w.bytes)
        let head = HTTPResponse(
            status: .serviceUnavailable,
            headerFields: [
                .contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes),
                .connection: "close", .retryAfter: "1",
            ])
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(body)), promise: nil)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in bound.value.close(promise: nil) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head): streaming = head.headerFields[.contentType] == "text/event-stream"
        case .end: streaming = false
        case .body: break
        }
        context.write(data, promise: promise)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, streaming {
            context.close(promise: nil)  // an event stream's reader went away
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
