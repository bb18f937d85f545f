import DLSMSCore
import Synchronization

/// Per-student notifications with ids increasing across all students, readable `since` an id and
/// streamable live.
///
/// A notification is *created* (id taken) inside a shard's turn and *published* once its journal
/// record is durable. Publishing goes strictly in id order: a notification waits until every
/// lower id is published or discarded. So a reader that has seen id N has seen everything below N,
/// which is what lets an SSE client resume with `Last-Event-ID` without gaps.
public final class NotificationHub: Sendable {
    /// How many notifications are kept per student (the oldest are dropped first); what a
    /// reconnecting stream can replay.
    public static let keptPerUser = 200
    /// Live streams per student; one more closes the oldest.
    public let streamsPerUser: Int
    /// Notifications queued for one stream; one more closes the stream (the client resumes with
    /// `Last-Event-ID` and loses nothing), instead of silently dropping the oldest.
    public let queuePerStream: Int

    private struct State {
        var nextID: NotificationID = 1
        var published: [UserID: [UserNotification]] = [:]
        /// Created, not yet published or discarded: id → (notification, ready to publish).
        var pending: [NotificationID: (UserNotification, Bool)] = [:]
        var watermark: NotificationID = 0  // every id ≤ watermark is published or discarded
        var subscribers: [UserID: [Int: AsyncStream<UserNotification>.Continuation]] = [:]
        var nextSubscriber = 0
        /// After ``finishAll()`` (shutdown): no new streams.
        var closed = false
        /// Streams that fell too far behind, to be finished once the lock is released (finishing
        /// runs the stream's termination handler, which takes the lock).
        var lagging: [AsyncStream<UserNotification>.Continuation] = []

        /// Publishes every ready notification directly above the watermark, in id order. An id that
        /// is no longer pending was discarded (or restored) and is skipped.
        mutating func drain() {
            while watermark + 1 < nextID {
                let next = watermark + 1
                if let (n, ready) = pending[next] {
                    guard ready else { return }
                    pending[next] = nil
                    deliver(n)
                }
                watermark = next
            }
        }

        mutating func deliver(_ n: UserNotification) {
            var list = published.removeValue(forKey: n.userID) ?? []  // unshared: no copy on write
            list.append(n)
            if list.count > NotificationHub.keptPerUser { list.removeFirst(list.count - NotificationHub.keptPerUser) }
            published[n.userID] = list
            if let subscribed = subscribers[n.userID] {
                for (key, c) in subscribed {
                    if case .dropped = c.yield(n) {
                        lagging.append(c)  // too slow a reader: it reconnects and replays what it missed
                        subscribers[n.userID]?[key] = nil
                    }
                }
            }
        }
    }

    private let state = Mutex(State())

    public init(streamsPerUser: Int = 8, queuePerStream: Int = 1_000) {
        self.streamsPerUser = max(1, streamsPerUser)
        self.queuePerStream = max(1, queuePerStream)
    }

    /// Takes the next id for a notification and appends its record; it is not visible until ``publish(_:)``.
    func create(
        user: UserID, kind: NotificationKind, message: String, seat: SeatID?, start: Timestamp?, end: Timestamp?,
        now: Timestamp, journal: any Journal
    ) -> Result<(UserNotification, JournalTicket), EngineError> {
        state.withLock { s in
            let n = UserNotification(
                id: s.nextID, userID: user, kind: kind, message: message, seatID: seat, start: start, end: end,
                createdAt: now)
            do throws(EngineError) {
                let ticket = try journal.append(.notificationCreated(n))
                s.nextID += 1
                s.pending[n.id] = (n, false)
                return .success((n, ticket))
            } catch {
                return .failure(error)
            }
        }
    }

    /// The id the next notification gets.
    var nextID: NotificationID { state.withLock { $0.nextID } }

    /// Makes the next id at least `next` (a snapshot's id floor).
    func raiseNext(to next: NotificationID) {
        state.withLock { s in
            if next > s.nextID {
                s.nextID = next
                s.watermark = max(s.watermark, next - 1)
            }
        }
    }

    /// An erased account: its notifications go, and its streams end.
    func erase(user: UserID) {
        _ = state.withLock { s in s.published.removeValue(forKey: user) }
        finishStreams(of: user)
    }

    /// Every notification kept, published or not (a snapshot's view), by id.
    var all: [UserNotification] {
        state.withLock { s in
            (s.published.values.joined() + s.pending.values.map(\.0)).sorted { $0.id < $1.id }
        }
    }

    /// Makes a created notification visible (after its journal record is durable).
    func publish(_ id: NotificationID) {
        let lagging: [AsyncStream<UserNotification>.Continuation] = state.withLock { s in
            guard let (n, _) = s.pending[id] else { return [] }
            s.pending[id] = (n, true)
            s.drain()
            defer { s.lagging = [] }
            return s.lagging
        }
        for c in lagging { c.finish() }
    }

    /// Stores a recorded notification as published (replay). Idempotent.
    func restore(_ n: UserNotification) {
        state.withLock { s in
            if s.published[n.userID]?.contains(where: { $0.id == n.id }) == true { return }
            var list = s.published.removeValue(forKey: n.userID) ?? []  // unshared: no copy on write
            let i = list.firstIndex { $0.id > n.id } ?? list.count
            list.insert(n, at: i)
            if list.count > Self.keptPerUser { list.removeFirst(list.count - Self.keptPerUser) }
            s.published[n.userID] = list
            s.nextID = max(s.nextID, n.id + 1)
            s.watermark = max(s.watermark, n.id)
        }
    }

    /// The student's published notifications with an id above `since`, oldest first.
    public func list(user: UserID, since: NotificationID = 0) -> [UserNotification] {
        state.withLock { s in (s.published[user] ?? []).filter { $0.id > since } }
    }

    /// A live stream of the student's notifications published from now on; `nil` after
    /// ``finishAll()``. When the student already has ``streamsPerUser`` streams, the oldest is
    /// ended (a closed tab whose connection is not yet noticed must not lock the student out). Ends
    /// when the returned stream is dropped, when it falls ``queuePerStream`` behind, or at
    /// ``finishAll()``.
    public func subscribe(user: UserID) -> AsyncStream<UserNotification>? {
        let (stream, continuation) = AsyncStream.makeStream(
            of: UserNotification.self, bufferingPolicy: .bufferingOldest(queuePerStream))
        let (key, evicted): (Int?, AsyncStream<UserNotification>.Continuation?) = state.withLock { s in
            guard !s.closed else { return (nil, nil) }
            var evicted: AsyncStream<UserNotification>.Continuation?
            if let streams = s.subscribers[user], streams.count >= streamsPerUser, let oldest = streams.keys.min() {
                evicted = streams[oldest]
                s.subscribers[user]?[oldest] = nil
            }
            s.nextSubscriber += 1
            s.subscribers[user, default: [:]][s.nextSubscriber] = continuation
            return (s.nextSubscriber, evicted)
        }
        evicted?.finish()
        guard let key else { return nil }
        continuation.onTermination = { [weak self] _ in
            self?.state.withLock { s in
                s.subscribers[user]?[key] = nil
                if s.subscribers[user]?.isEmpty == true { s.subscribers[user] = nil }
            }
        }
        return stream
    }

    /// Ends the student's live streams (their tokens were revoked).
    public func finishStreams(of user: UserID) {
        let streams = state.withLock { s in
            defer { s.subscribers[user] = nil }
            return Array((s.subscribers[user] ?? [:]).values)
        }
        for c in streams { c.finish() }
    }

    public var streamCount: Int { state.withLock { $0.subscribers.values.reduce(0) { $0 + $1.count } } }

    /// Ends every live stream (shutdown).
    public func finishAll() {
        let all = state.withLock { s in
            let c = s.subscribers.values.flatMap { $0.values }
            s.subscribers = [:]
            s.closed = true
            return c
        }
        for c in all { c.finish() }
    }
}
