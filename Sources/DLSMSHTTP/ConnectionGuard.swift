import DLSMSApp
import DLSMSNetwork
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Per connection:
/// - counts it, and answers a request on a connection beyond the cap (in all, or for its address)
///   with 503 and closes it: a clean refusal the client can read, not a failing `accept`;
/// - closes it when a request has not arrived whole within ``Limits/requestTimeout`` of its head
///   (a body trickled a byte at a time holds a slot no longer);
/// - closes an event stream as soon as its client half-closes, so that the stream's slot is freed
///   at once.
package final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTPRequestPart
    package typealias InboundOut = HTTPRequestPart
    package typealias OutboundIn = HTTPResponsePart
    package typealias OutboundOut = HTTPResponsePart

    private var slot: ConnectionSlot
    private let requestTimeout: Duration
    private var overLimit = false
    /// This connection is over the cap: each request on it is answered 503.
    package var refusesConnection: Bool { overLimit }
    private var answered = false
    private var streaming = false
    /// The request in progress must be whole by its head's arrival plus the request timeout.
    private var deadline: RollingDeadline?

    package init(counter: ConnectionCounter, requestTimeout: Duration, exempt: TrustedProxies) {
        slot = ConnectionSlot(counter: counter, exempt: exempt)
        self.requestTimeout = requestTimeout
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        overLimit = !slot.take(peer: context.channel.remoteAddress?.ipAddress)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = RollingDeadline(loop: context.eventLoop) { bound.value.close(promise: nil) }
    }

    package func handlerRemoved(context: ChannelHandlerContext) { release() }

    package func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    private func release() {
        deadline?.cancel()
        slot.release()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        guard overLimit else {
            switch part {
            case .head: deadline?.begin(due: .now() + .init(requestTimeout))
            case .end: deadline?.end()
            case .body: break
            }
            context.fireChannelRead(data)
            return
        }
        // Beyond the cap: nothing reaches the application; the first request is answered 503.
        guard !answered, case .head = part else { return }
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

    package func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head): streaming = head.headerFields[.contentType] == "text/event-stream"
        case .end: streaming = false
        case .body: break
        }
        context.write(data, promise: promise)
    }

    package func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case ChannelEvent.inputClosed = event, streaming {
            context.close(promise: nil)  // an event stream's reader went away
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
