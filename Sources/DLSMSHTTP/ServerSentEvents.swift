import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Hummingbird
import NIOCore

/// `GET /notifications/stream`: Server-Sent Events.
///
/// The stream subscribes first, then replays what the caller missed (after `Last-Event-ID`, or
/// `?last_event_id=`), then forwards live notifications, skipping any id already sent: no gaps
/// (notifications are published in id order) and no duplicates. A comment line goes out at least
/// every heartbeat interval so proxies keep the connection.
///
/// It ends, so that the client reconnects with `Last-Event-ID` and loses nothing:
/// - at shutdown, and when the student opens one stream too many (the oldest goes), with a final
///   comment saying so;
/// - when the reader falls ``Limits/sseQueue`` notifications behind, or a write takes longer than
///   ``Limits/sseWriteTimeout`` (the connection is closed);
/// - at once when the client goes away (``ConnectionGuard`` closes a half-closed stream).
package func notificationStream(
    request: Request, context: APIContext, caller: Caller, service: LibraryService, head: Bool = false
) throws -> Response {
    let hub = service.engine.notifications
    let lastHeader = request.headers[.init("Last-Event-ID")!] ?? request.query("last_event_id")
    // Without Last-Event-ID the stream carries what is created from now on (the contract): its
    // starting point is the newest notification before it subscribes, so one published between
    // that reading and the subscription is replayed, never lost.
    let newest = hub.list(user: caller.userID).last?.id ?? 0
    guard let lastSeen = lastHeader.map({ NotificationID($0) }) ?? newest else {
        throw APIError.badRequest("Last-Event-ID must be a notification id")
    }
    let headers: HTTPFields = [
        .contentType: "text/event-stream", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no",
    ]
    if head {  // a HEAD does not take the stream; its body, of no length, is never written
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in try await writer.finish(nil) })
    }
    guard let live = hub.subscribe(user: caller.userID) else {
        throw APIError(.serviceUnavailable, "unavailable", "the server is shutting down; reconnect", retryAfter: 2)
    }
    let limits = service.configuration.limits
    let channel = context.channel
    let text = service.noticeText(for: caller.userID, request: request)
    let body = ResponseBody { writer in
        let (events, feeders) = streamEvents(live, limits: limits, channel: channel)
        defer { for task in feeders { task.cancel() } }
        try await writeStream(
            events, to: &writer, hub: hub, user: caller.userID, after: lastSeen, limits: limits, channel: channel,
            text: text)
    }
    return Response(status: .ok, headers: headers, body: body)
}

/// What a stream forwards.
private enum StreamEvent: Sendable {
    case notification(UserNotification)
    case heartbeat
    /// The hub ended the subscription: shutdown, a newer stream, or a reader too slow.
    case ended
}

/// The live notifications and a heartbeat every ``Limits/sseHeartbeat`` as one stream, which
/// ends when the client goes away; the two tasks feed it until they are cancelled.
private func streamEvents(_ live: AsyncStream<UserNotification>, limits: Limits, channel: any Channel) -> (
    AsyncStream<StreamEvent>, [Task<Void, Never>]
) {
    let (events, sink) = AsyncStream.makeStream(
        of: StreamEvent.self, bufferingPolicy: .bufferingOldest(limits.sseQueue + 2))
    let forward = Task {
        for await n in live {
            if case .dropped = sink.yield(.notification(n)) { break }
        }
        sink.yield(.ended)
        sink.finish()
    }
    let beat = Task {
        while !Task.isCancelled {
            try? await Task.sleep(for: limits.sseHeartbeat)
            sink.yield(.heartbeat)
        }
    }
    channel.closeFuture.whenComplete { _ in sink.finish() }  // the client went away
    return (events, [forward, beat])
}

/// Writes the stream: a greeting, what the user missed after `lastSeen`, then the live events
/// (skipping any id already sent) until the hub ends the subscription or the client goes away.
private func writeStream(
    _ events: AsyncStream<StreamEvent>, to writer: inout any ResponseBodyWriter, hub: NotificationHub, user: UserID,
    after lastSeen: NotificationID, limits: Limits, channel: any Channel,
    text: @Sendable (UserNotification) -> String
) async throws {
    /// A write that a stalled reader holds longer than the timeout closes the connection,
    /// which fails the write.
    func send(_ text: String) async throws {
        let timer = channel.eventLoop.scheduleTask(in: .init(limits.sseWriteTimeout)) {
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        try await writer.write(ByteBuffer(string: text))
    }
    var sent = lastSeen
    func frame(_ n: UserNotification) -> String {
        var w = JSONWriter()
        Render.notification(n, message: text(n), &w)
        return "event: \(n.kind.name)\nid: \(n.id)\ndata: \(w.text)\n\n"
    }
    try await send(": connected\nretry: 2000\n\n")
    for n in hub.list(user: user, since: lastSeen) {
        try await send(frame(n))
        sent = n.id
    }
    loop: for await event in events {
        switch event {
        case .notification(let n) where n.id > sent:
            try await send(frame(n))
            sent = n.id
        case .notification: continue
        case .heartbeat: try await send(": heartbeat\n\n")
        case .ended:
            try await send(": stream closed by the server; reconnect with Last-Event-ID\n\n")
            break loop
        }
    }
    try await writer.finish(nil)
}
