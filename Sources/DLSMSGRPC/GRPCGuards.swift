import DLSMSApp
import NIOCore
import NIOHTTP2

/// The gRPC door's connections count against the same caps as REST's (`--max-connections`,
/// `--connections-per-address`, trusted proxies exempt from the second): one beyond either is
/// closed at once (HTTP/2 has no answer to give before its preface). A connection that sends
/// nothing for `silence` is closed too: grpc-swift sends an idle one GOAWAY, but keeps the socket
/// open for as long as the client neither answers nor leaves.
package final class GRPCConnectionGuard: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = ByteBuffer

    private var slot: ConnectionSlot
    private var overLimit = false
    private let silence: Duration
    private var lastRead = NIODeadline.now()
    private var watch: RepeatedTask?

    package init(counter: ConnectionCounter, exempt: TrustedProxies, silence: Duration) {
        slot = ConnectionSlot(counter: counter, exempt: exempt)
        self.silence = silence
    }

    package func handlerAdded(context: ChannelHandlerContext) {
        overLimit = !slot.take(peer: context.channel.remoteAddress?.ipAddress)
        // Added while the connection is set up: it is closed once active.
        if overLimit && context.channel.isActive { context.close(promise: nil) }
    }

    package func channelActive(context: ChannelHandlerContext) {
        if overLimit {
            context.close(promise: nil)
            return
        }
        lastRead = .now()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let limit = TimeAmount(silence)
        watch = context.eventLoop.scheduleRepeatedTask(initialDelay: limit, delay: TimeAmount(silence / 2)) { _ in
            let (handler, context) = bound.value
            if NIODeadline.now() - handler.lastRead >= limit { context.close(promise: nil) }
        }
        context.fireChannelActive()
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !overLimit else { return }
        lastRead = .now()
        context.fireChannelRead(data)
    }

    package func handlerRemoved(context: ChannelHandlerContext) { release() }

    package func channelInactive(context: ChannelHandlerContext) {
        release()
        context.fireChannelInactive()
    }

    private func release() {
        watch?.cancel()
        watch = nil
        slot.release()
    }
}

/// A call's request must arrive whole (headers, message and end of stream) within
/// ``Limits/requestTimeout`` of the stream's opening, like a REST request: a call whose body never
/// comes is reset, so that it holds no memory and no stream slot beyond that.
package final class GRPCRequestDeadline: ChannelInboundHandler, RemovableChannelHandler {
    package typealias InboundIn = HTTP2Frame.FramePayload

    private let timeout: Duration
    private var deadline: Scheduled<Void>?

    package init(timeout: Duration) { self.timeout = timeout }

    package func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: .init(timeout)) { bound.value.close(promise: nil) }
    }

    package func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    package func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let ended: Bool
        switch unwrapInboundIn(data) {
        case .headers(let h): ended = h.endStream
        case .data(let d): ended = d.endStream
        default: ended = false
        }
        if ended {
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }
}
