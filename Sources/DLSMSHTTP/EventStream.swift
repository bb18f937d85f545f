import DLSMSCore
import DLSMSEngine
import Hummingbird

/// `GET /notifications/stream`: Server-Sent Events.
///
/// The stream subscribes first, then replays what the caller missed (after `Last-Event-ID`, or
/// `?last_event_id=`), then forwards live notifications, skipping any id already sent: no gaps
/// (notifications are published in id order) and no duplicates. A comment line goes out at least
/// every heartbeat interval so proxies keep the connection.
func notificationStream(request: Request, caller: Caller, service: DLSMSService) throws -> Response {
    let hub = service.engine.notifications
    guard let live = hub.subscribe(user: caller.userID) else {
        throw APIError(.tooManyRequests, "rate_limited", "too many open streams for this student", retryAfter: 5)
    }
    let lastHeader = request.headers[.init("Last-Event-ID")!] ?? request.query("last_event_id")
    guard let lastSeen = lastHeader.map({ NotificationID($0) }) ?? 0 else {
        throw APIError.badRequest("Last-Event-ID must be a notification id")
    }
    let heartbeat = service.configuration.sseHeartbeat
    let body = ResponseBody { writer in
        enum Event: Sendable {
            case notification(UserNotification)
            case heartbeat
        }
        let (events, sink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1_000))
        let forward = Task {
            for await n in live { sink.yield(.notification(n)) }
            sink.finish()
        }
        let beat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: heartbeat)
                sink.yield(.heartbeat)
            }
        }
        defer {
            forward.cancel()
            beat.cancel()
        }
        var sent = lastSeen
        func frame(_ n: UserNotification) -> ByteBuffer {
            var w = JSONWriter()
            Render.notification(n, &w)
            return ByteBuffer(string: "event: \(n.kind.name)\nid: \(n.id)\ndata: \(w.text)\n\n")
        }
        try await writer.write(ByteBuffer(string: ": connected\nretry: 2000\n\n"))
        for n in hub.list(user: caller.userID, since: lastSeen) {
            try await writer.write(frame(n))
            sent = n.id
        }
        for await event in events {
            switch event {
            case .notification(let n) where n.id > sent:
                try await writer.write(frame(n))
                sent = n.id
            case .notification: continue
            case .heartbeat: try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
            }
        }
        try await writer.finish(nil)
    }
    return Response(
        status: .ok,
        headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no"],
        body: body)
}
