import DLSMSCore
import Foundation
import Synchronization

/// What a webhook event reports; the application layer renders it (``WebhookPayloadRenderer``).
public enum WebhookSubject: Sendable, Hashable {
    case reservation(Reservation)
    case waitlistEntry(WaitlistEntry)
    case closure(branch: String, Closure)
}

/// An event about to be recorded: its id, type and time, and what it reports.
public struct WebhookNotice: Sendable, Hashable {
    public var id: Int64
    public var type: String
    public var createdAt: Timestamp
    public var subject: WebhookSubject
}

/// The body of a webhook event, `{"id", "type", "created_at", "data": {…}}`, from its notice.
public typealias WebhookPayloadRenderer = @Sendable (WebhookNotice) -> String

/// The webhook outbox: registered endpoints, the events waiting for them, and each endpoint's
/// delivery state.
///
/// Events are made by ``EventTap`` from the journal records of the changes they report, and
/// appended to the journal right after them, under the outbox's lock (so event ids follow the
/// journal's order). An event is durable when its change is: a crash loses none. Each endpoint
/// takes the events it subscribes to one at a time in id order (so in order per reservation), and
/// its cursor (``WebhookEndpoint/deliveredThrough``) moves by a journal record once an event is
/// delivered, or given up on after ``WebhookOutbox/retryFor``. After a crash, an event whose
/// delivery was not yet recorded is sent again (at least once; receivers deduplicate by event id).
public final class WebhookOutbox: Sendable {
    /// An event is retried until this long after it was made.
    public static let retryFor: Timestamp = 25 * 3_600
    /// Events owed to one endpoint kept in memory at most (the oldest are dropped beyond it,
    /// counted): a dead endpoint costs bounded memory, and nobody else anything.
    public static let maxQueued = 100_000
    public static let maxEndpoints = 20

    /// What the sender reports and the staff see, per endpoint.
    public struct Status: Sendable, Hashable {
        public var delivered = 0
        public var givenUp = 0
        /// Of the event being sent now.
        public var attempts = 0
        public var lastAttemptAt: Timestamp?
        public var lastResponse: Int?
        public var lastError: String?
        public var nextAttemptAt: Timestamp?

        public init() {}
    }

    /// An event owed, with the ticket of its journal record (sent only once durable).
    struct Owed {
        var event: WebhookEvent
        var ticket: JournalTicket
    }

    /// One endpoint's events, oldest first: `items[head...]` are owed.
    struct Queue {
        var items: [Owed] = []
        var head = 0
        var count: Int { items.count - head }
        var first: Owed? { head < items.count ? items[head] : nil }

        mutating func append(_ o: Owed) {
            items.append(o)
            if count > WebhookOutbox.maxQueued { head += 1 }
            compact()
        }

        /// Drops the events up to `id` (delivered or given up).
        mutating func drop(through id: Int64) {
            while head < items.count && items[head].event.id <= id { head += 1 }
            compact()
        }

        mutating func compact() {
            if head > 1_024 && head * 2 > items.count {
                items.removeFirst(head)
                head = 0
            }
        }
    }

    struct State {
        var endpoints: [Int64: WebhookEndpoint] = [:]
        var queues: [Int64: Queue] = [:]
        var status: [Int64: Status] = [:]
        var nextEventID: Int64 = 1
        var nextEndpointID: Int64 = 1
        /// Each branch's highest closure id seen (a higher one in a branch record is a new closure).
        var closureSerials: [String: Int64] = [:]
        /// Reservations that are seats held for waitlist offers (no events of their own).
        var holds: Set<ReservationID> = []
        var waiters: [Int64: [CheckedContinuation<Void, Never>]] = [:]
        var dropped = 0
        /// The event types some active endpoint takes (kept by ``put(_:flag:)``).
        var subscribed: Set<String> = []

        /// Queues an event for the active endpoints that subscribe to it (and have not passed it).
        mutating func store(_ e: WebhookEvent, ticket: JournalTicket) {
            nextEventID = max(nextEventID, e.id + 1)
            for (id, endpoint) in endpoints
            where endpoint.active && endpoint.events.contains(e.type) && e.id > endpoint.deliveredThrough {
                // In place: a copy of the queue would copy every event it holds.
                if let last = queues[id]?.items.last, last.event.id >= e.id { continue }  // replayed twice
                let before = queues[id]?.head ?? 0
                queues[id, default: Queue()].append(Owed(event: e, ticket: ticket))
                dropped += (queues[id]?.head ?? 0) - before
                wake(id)
            }
        }

        mutating func put(_ e: WebhookEndpoint, flag: borrowing Atomic<Bool>) {
            endpoints[e.id] = e
            nextEndpointID = max(nextEndpointID, e.id + 1)
            nextEventID = max(nextEventID, e.deliveredThrough + 1)
            if e.active {
                queues[e.id, default: Queue()].drop(through: e.deliveredThrough)
            } else {
                queues[e.id] = nil
                wake(e.id)
            }
            subscribed = Set(endpoints.values.filter(\.active).flatMap(\.events))
            flag.store(!subscribed.isEmpty, ordering: .releasing)
        }

        mutating func wake(_ endpoint: Int64) {
            for c in waiters[endpoint] ?? [] { c.resume() }
            waiters[endpoint] = nil
        }

        mutating func wakeAll() {
            for (_, list) in waiters { for c in list { c.resume() } }
            waiters = [:]
        }
    }

    let state = Mutex(State())
    let clock: any WallClock
    /// Renders an event's payload (the application layer's JSON); without one, no events are made.
    let render: WebhookPayloadRenderer?
    /// Whether any active endpoint exists: the booking path looks only at this flag otherwise.
    let subscribers = Atomic<Bool>(false)

    init(clock: any WallClock, render: WebhookPayloadRenderer?) {
        self.clock = clock
        self.render = render
    }

    // MARK: - Events from journal records

    /// The events a record reports, made and appended under the lock (after the record itself).
    /// Without subscribers only the bookkeeping of holds and closures is done.
    func tap(_ record: JournalRecord, journal: any Journal, after ticket: JournalTicket) throws(EngineError)
        -> JournalTicket
    {
        let result: Result<JournalTicket, EngineError> = state.withLock { s in
            let made = Self.events(for: record, state: &s)
            guard !made.isEmpty, subscribers.load(ordering: .acquiring), let render else { return .success(ticket) }
            var last = ticket
            for (type, subject) in made where s.subscribed.contains(type) {
                let id = s.nextEventID
                let now = clock.now()
                let payload = render(WebhookNotice(id: id, type: type, createdAt: now, subject: subject))
                let event = WebhookEvent(id: id, type: type, createdAt: now, payload: payload)
                do throws(EngineError) {
                    last = try journal.append(.webhookEvent(event))
                } catch {
                    return .failure(error)
                }
                s.store(event, ticket: last)
            }
            return .success(last)
        }
        return try result.get()
    }

    /// The event types and subjects a record reports (keeping track of holds and closures).
    static func events(for record: JournalRecord, state s: inout State) -> [(String, WebhookSubject)] {
        switch record {
        case .reservationCreated(let r):
            if r.status == .held {
                s.holds.insert(r.id)
                return []
            }
            return [("reservation.created", .reservation(r))]
        case .reservationChanged(let r):
            let wasHold = s.holds.remove(r.id) != nil
            switch r.status {
            case .confirmed: return wasHold ? [("reservation.created", .reservation(r))] : []
            case .cancelled: return wasHold ? [] : [("reservation.cancelled", .reservation(r))]
            case .checkedIn: return [("reservation.checked_in", .reservation(r))]
            case .noShow: return [("reservation.no_show", .reservation(r))]
            case .completed: return [("reservation.completed", .reservation(r))]
            case .held:
                s.holds.insert(r.id)
                return []
            }
        case .waitlistChanged(let e) where e.status == .offered || e.status == .notified:
            return [("waitlist.notified", .waitlistEntry(e))]
        case .branchDefined(let b):
            let known = s.closureSerials[b.name] ?? 0
            s.closureSerials[b.name] = max(known, b.closureSerial)
            return b.closures.filter { $0.id > known }.map { ("closure.created", .closure(branch: b.name, $0)) }
        default:
            return []
        }
    }

    // MARK: - Replay and capture

    func restore(_ record: JournalRecord) {
        state.withLock { s in
            switch record {
            case .webhookEndpoint(let e): s.put(e, flag: subscribers)
            case .webhookEvent(let e): s.store(e, ticket: .durable)
            case .branchDefined(let b): s.closureSerials[b.name] = max(s.closureSerials[b.name] ?? 0, b.closureSerial)
            case .reservationCreated(let r) where r.status == .held: s.holds.insert(r.id)
            case .reservationChanged(let r):
                if r.status == .held { s.holds.insert(r.id) } else { s.holds.remove(r.id) }
            default: break
            }
        }
    }

    /// Endpoints, then the events still owed to any of them (for a snapshot).
    var image: [JournalRecord] {
        state.withLock { s in
            var events: [Int64: WebhookEvent] = [:]
            for q in s.queues.values { for o in q.items[q.head...] { events[o.event.id] = o.event } }
            return s.endpoints.values.sorted { $0.id < $1.id }.map { JournalRecord.webhookEndpoint($0) }
                + events.values.sorted { $0.id < $1.id }.map { .webhookEvent($0) }
        }
    }

    // MARK: - Endpoints

    func register(_ make: (Int64) -> WebhookEndpoint, journal: any Journal) throws(EngineError) -> (
        WebhookEndpoint, JournalTicket
    ) {
        let result: Result<(WebhookEndpoint, JournalTicket), EngineError> = state.withLock { s in
            guard s.endpoints.values.filter(\.active).count < Self.maxEndpoints else {
                return .failure(.limitReached(limit: Self.maxEndpoints))
            }
            var endpoint = make(s.nextEndpointID)
            endpoint.deliveredThrough = s.nextEventID - 1  // from now on
            return record(endpoint, in: &s, journal: journal)
        }
        return try result.get()
    }

    func change(_ id: Int64, journal: any Journal, _ body: (inout WebhookEndpoint) -> Void) throws(EngineError)
        -> (WebhookEndpoint, JournalTicket)
    {
        let result: Result<(WebhookEndpoint, JournalTicket), EngineError> = state.withLock { s in
            guard var endpoint = s.endpoints[id], endpoint.active else { return .failure(.webhookNotFound(id)) }
            body(&endpoint)
            return record(endpoint, in: &s, journal: journal)
        }
        return try result.get()
    }

    /// Appends an endpoint's record and, once the journal took it, stores the endpoint (under the lock).
    private func record(_ endpoint: WebhookEndpoint, in s: inout State, journal: any Journal) -> Result<
        (WebhookEndpoint, JournalTicket), EngineError
    > {
        do throws(EngineError) {
            let ticket = try journal.append(.webhookEndpoint(endpoint))
            s.put(endpoint, flag: subscribers)
            return .success((endpoint, ticket))
        } catch {
            return .failure(error)
        }
    }

    public var endpoints: [(endpoint: WebhookEndpoint, status: Status, pending: Int)] {
        state.withLock { s in
            s.endpoints.values.filter(\.active).sorted { $0.id < $1.id }.map { e in
                (e, s.status[e.id] ?? Status(), s.queues[e.id]?.count ?? 0)
            }
        }
    }

    public var droppedEvents: Int { state.withLock { $0.dropped } }

    // MARK: - Delivery

    /// The next event `endpoint` is owed, once its record is durable, waiting for one; `nil` once
    /// the endpoint is removed or the task is cancelled (cancel, then ``wakeAll()``).
    public func next(for endpoint: Int64) async -> (WebhookEndpoint, WebhookEvent)? {
        while !Task.isCancelled {
            enum Step {
                case deliver(WebhookEndpoint, Owed)
                case gone
                case wait
            }
            let step: Step = state.withLock { s in
                guard let e = s.endpoints[endpoint], e.active else { return .gone }
                if let owed = s.queues[endpoint]?.first { return .deliver(e, owed) }
                return .wait
            }
            switch step {
            case .deliver(let e, let owed):
                // Never send an event whose record could still be lost (its id would be reused).
                guard (try? await owed.ticket.wait()) != nil else { return nil }
                return (e, owed.event)
            case .gone: return nil
            case .wait:
                guard !Task.isCancelled else { return nil }
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    state.withLock { s in
                        // Something may have arrived between the look and the wait.
                        if s.endpoints[endpoint]?.active != true || s.queues[endpoint]?.first != nil || Task.isCancelled
                        {
                            c.resume()
                        } else {
                            s.waiters[endpoint, default: []].append(c)
                        }
                    }
                }
            }
        }
        return nil
    }

    /// Wakes every waiting sender (shutdown).
    public func wakeAll() { state.withLock { $0.wakeAll() } }

    /// Notes an event delivered or given up: the next one starts afresh.
    func done(endpoint: Int64, delivered: Bool) {
        state.withLock { s in
            var st = s.status[endpoint] ?? Status()
            if delivered { st.delivered += 1 } else { st.givenUp += 1 }
            st.attempts = 0
            st.nextAttemptAt = nil
            st.lastAttemptAt = clock.now()
            if delivered { st.lastError = nil }
            s.status[endpoint] = st
        }
    }

    /// Notes an attempt that failed; the sender waits until `next`.
    public func failed(endpoint: Int64, response: Int?, error: String?, next: Timestamp?) {
        state.withLock { s in
            var st = s.status[endpoint] ?? Status()
            st.attempts += 1
            st.lastAttemptAt = clock.now()
            st.lastResponse = response
            st.lastError = error.map { String($0.prefix(200)) }
            st.nextAttemptAt = next
            s.status[endpoint] = st
        }
    }
}

extension SeatEngine {
    /// Registers a receiver of `events` (see ``WebhookEvent/types``); it gets the events made
    /// from now on.
    public func registerWebhook(url: String, secret: String, events: [String]) async throws(EngineError)
        -> WebhookEndpoint
    {
        try context.health.check()
        let now = clock.now()
        let (endpoint, ticket) = try webhooks.register(
            { WebhookEndpoint(id: $0, url: url, secret: secret, events: events, deliveredThrough: 0, createdAt: now) },
            journal: context.journal)
        try await context.health.commit(ticket)
        return endpoint
    }

    public func removeWebhook(id: Int64) async throws(EngineError) -> WebhookEndpoint {
        try context.health.check()
        let (endpoint, ticket) = try webhooks.change(id, journal: context.journal) { $0.active = false }
        try await context.health.commit(ticket)
        return endpoint
    }

    /// Records that `event` reached `endpoint` (or was given up on): the cursor moves past it.
    public func webhookDone(endpoint: Int64, event: WebhookEvent, delivered: Bool) async throws(EngineError) {
        try context.health.check()
        let (_, ticket) = try webhooks.change(endpoint, journal: context.journal) { e in
            e.deliveredThrough = max(e.deliveredThrough, event.id)
        }
        webhooks.done(endpoint: endpoint, delivered: delivered)
        try await context.health.commit(ticket)
    }
}

/// The engine's journal with the webhook outbox's tap: every record, then the events it reports.
struct EventTap: Journal {
    let inner: any Journal
    let outbox: WebhookOutbox

    func append(_ record: JournalRecord) throws(EngineError) -> JournalTicket {
        let ticket = try inner.append(record)
        switch record {
        case .branchDefined:  // always: the closures seen decide what is new later
            return try outbox.tap(record, journal: inner, after: ticket)
        case .reservationCreated(let r) where r.status == .held:
            return try outbox.tap(record, journal: inner, after: ticket)  // holds are tracked always
        case .reservationChanged(let r) where r.status == .confirmed || r.status == .cancelled:
            return try outbox.tap(record, journal: inner, after: ticket)  // a hold may end
        case .reservationCreated, .reservationChanged, .waitlistChanged:
            guard outbox.subscribers.load(ordering: .acquiring) else { return ticket }
            return try outbox.tap(record, journal: inner, after: ticket)
        default:
            return ticket
        }
    }

    func barrier() -> JournalTicket { inner.barrier() }
}
