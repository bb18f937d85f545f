import DLSMSNetwork
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Open connections, in all and per client address, against the caps.
public final class ConnectionCounter: Sendable {
    public let limit: Int
    public let perAddress: Int
    private struct State {
        var open = 0
        var byAddress: [String: Int] = [:]
    }
    private let state = Mutex(State())

    public init(limit: Int, perAddress: Int = .max) {
        self.limit = limit
        self.perAddress = perAddress
    }

    public var count: Int { state.withLock { $0.open } }

    /// Counts a new connection from `address` (`nil`: exempt from the per-address cap); `false`
    /// when it is one too many (it still counts until it closes).
    func opened(from address: String?) -> Bool {
        state.withLock { s in
            s.open += 1
            var ok = s.open <= limit
            if let address {
                let n = s.byAddress[address, default: 0] + 1
                s.byAddress[address] = n
                ok = ok && n <= perAddress
            }
            return ok
        }
    }

    func closed(from address: String?) {
        state.withLock { s in
            s.open -= 1
            if let address {
                let n = s.byAddress[address, default: 1] - 1
                s.byAddress[address] = n > 0 ? n : nil
            }
        }
    }
}

/// One connection's place in a ``ConnectionCounter``, for the REST and the gRPC guards alike.
struct ConnectionSlot {
    let counter: ConnectionCounter
    let exempt: TrustedProxies
    private var address: String?
    private var counted = false

    init(counter: ConnectionCounter, exempt: TrustedProxies) {
        self.counter = counter
        self.exempt = exempt
    }

    /// Counts the connection from `peer` (trusted proxies are exempt from the per-address cap);
    /// `false` when it is one too many.
    mutating func take(peer: String?) -> Bool {
        address = peer.flatMap { exempt.trusts($0) ? nil : TrustedProxies.key($0) }
        counted = true
        return counter.opened(from: address)
    }

    mutating func release() {
        if counted {
            counted = false
            counter.closed(from: address)
        }
    }
}

/// Per connection:
/// - counts it, and answers a request on a connection beyond the cap (in all, or for its address)
///   with 503 and closes it: a clean refusal the client can read, not a failing `accept`;
/// - closes it when a request has not arrived whole within ``Limits/requestTimeout`` of its head
///   (a body trickled a byte at a time holds a slot no longer);
/// - closes an event stream as soon as its client half-closes, so that the stream's slot is freed
///   at once.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var slot: ConnectionSlot
    private let requestTimeout: Duration
    private var overLimit = false
    private var answered = false
    private var streaming = false
    /// The request in progress must be whole by its head's arrival plus the request timeout.
    private var deadline: RollingDeadline?

    init(counter: ConnectionCounter, requestTimeout: Duration, exempt: TrustedProxies) {
        slot = ConnectionSlot(counter: counter, exempt: exempt)
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        overLimit = !slot.take(peer: context.channel.remoteAddress?.ipAddress)
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = RollingDeadline(loop: context.eventLoop) { bound.value.close(promise: nil) }
    }

    func handlerRemoved(context: ChannelHandlerContext) { release() }

    func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    private func release() {
        deadline?.cancel()
        slot.release()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
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
