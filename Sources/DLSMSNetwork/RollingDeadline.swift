import NIOCore

/// The deadline of the request in progress on one connection, kept with at most one timer.
///
/// Scheduling a timer when each request begins and cancelling it when it ends is a heap insert
/// and removal in NIO's scheduler per request (about 3% of a booking's CPU on the server). This
/// keeps one timer per connection instead: when it fires between requests it lapses, and when it
/// fires during a later request it moves to that request's deadline; `expired` runs only when
/// the request in progress has passed its own deadline. It belongs to the connection's event loop.
public final class RollingDeadline {
    private let loop: any EventLoop
    private var due: NIODeadline?
    private var timer: Scheduled<Void>?
    private var expired: (() -> Void)?

    public init(loop: any EventLoop, expired: @escaping () -> Void) {
        self.loop = loop
        self.expired = expired
    }

    /// A request began; it must be done by `due`.
    public func begin(due: NIODeadline) {
        self.due = due
        if timer == nil { arm(at: due) }
    }

    /// The request in progress is done.
    public func end() { due = nil }

    /// The connection is gone: no timer, and `expired` is released.
    public func cancel() {
        timer?.cancel()
        timer = nil
        due = nil
        expired = nil
    }

    private func arm(at deadline: NIODeadline) {
        let bound = NIOLoopBound(self, eventLoop: loop)
        timer = loop.scheduleTask(deadline: deadline) {
            let me = bound.value
            me.timer = nil
            guard let due = me.due else { return }
            if due <= .now() {
                me.due = nil
                me.expired?()
            } else {
                me.arm(at: due)
            }
        }
    }
}
