import DLSMSCore
import DLSMSStorage
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

/// The webhook outbox: registered endpoints, the events waiting for them (on disk, one ``Spool``
/// per endpoint), and each endpoint's delivery state.
///
/// Events are made by ``EventTap`` from the journal records of the changes they report, and
/// appended to the journal right after them, under the outbox's lock (so event ids follow the
/// journal's order). An event is durable when its change is: a crash loses none. Under the same
/// lock each event goes to the spool of every active endpoint that subscribes to it, or is dropped
/// there and counted, once the endpoint holds ``SpoolLimits/maxRecords`` events or
/// ``SpoolLimits/maxBytes`` bytes; memory holds each spool's cursor and counters, never its events.
/// Each endpoint takes its events one at a time in id order (so in order per reservation), each
/// only once its journal record is durable, and its cursor (``WebhookEndpoint/deliveredThrough``)
/// moves by a journal record once an event is delivered, or given up on after
/// ``WebhookOutbox/retryFor``. After a crash, an event whose delivery was not yet recorded is sent
/// again (at least once; receivers deduplicate by event id).
///
/// **The journal stays the truth.** A spool is synced and its state file written at every snapshot
/// (``checkpoint()``, ``sync(_:)``), before the snapshot lets the log before it go; between
/// snapshots, replay of the log offers every event again, and a spool takes only those above the
/// highest id it had considered, so its drop count is exact across a crash. At start
/// (``attach(dataDirectory:io:keepThrough:)``) each spool reads its last segment only, and cuts
/// events the recovered log does not hold (written before their record was durable). Appending to
/// the spools in the journal's order makes a standby, which replays the same records, keep the
/// same events and drop the same ones.
public final class WebhookOutbox: Sendable {
    /// An event is retried until this long after it was made.
    public static let retryFor: Timestamp = 25 * 3_600
    public static let maxEndpoints = 20
    /// The spools, under the data directory: one directory per endpoint id.
    public static let directory = "outbox/webhooks"

    /// What the sender reports and the staff see, per endpoint.
    public struct Status: Sendable, Hashable {
        /// Events delivered, and given up on, ever (the endpoint's journaled counters).
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

    /// An active endpoint as the staff and the metrics see it.
    public struct Queue: Sendable {
        public var endpoint: WebhookEndpoint
        public var status: Status
        /// Its spool: pending events and bytes, dropped events, a write failure.
        public var spool: SpoolFigures
        public var pending: Int { spool.pending }
    }

    /// Where the spools are: a data directory's, or memory (an engine without one).
    struct Store: Sendable {
        var io: any StorageIO
        var root: String
        func path(_ endpoint: Int64) -> String { root + "/" + String(endpoint) }
    }

    struct State {
        var endpoints: [Int64: WebhookEndpoint] = [:]
        var spools: [Int64: Spool] = [:]
        var status: [Int64: Status] = [:]
        var nextEventID: Int64 = 1
        var nextEndpointID: Int64 = 1
        /// Each branch's highest closure id seen (a higher one in a branch record is a new closure).
        var closureSerials: [String: Int64] = [:]
        var waiters: [Int64: [CheckedContinuation<Void, Never>]] = [:]
        /// The event types some active endpoint takes (kept by ``put(_:flag:)``).
        var subscribed: Set<String> = []
        var store: Store
        let limits: SpoolLimits
        /// The newest event made here, with its journal ticket: a sender waits for it before it
        /// sends an event not yet known to be durable.
        var newest: (id: Int64, ticket: JournalTicket) = (0, .durable)
        /// Events up to this id are durable (replayed, or waited for).
        var durableThrough: Int64 = 0

        init(store: Store, limits: SpoolLimits) {
            self.store = store
            self.limits = limits
        }

        /// Offers an event to the spools of the active endpoints that subscribe to it (and have
        /// not passed it); a spool ignores an event it considered before (replay).
        mutating func store(_ e: WebhookEvent, ticket: JournalTicket?) {
            nextEventID = max(nextEventID, e.id + 1)
            if let ticket {
                newest = (e.id, ticket)
            } else {
                durableThrough = max(durableThrough, e.id)
            }
            var payload: [UInt8]?
            for (id, endpoint) in endpoints
            where endpoint.active && endpoint.events.contains(e.type) && e.id > endpoint.deliveredThrough {
                guard let spool = spools[id] else { continue }
                if payload == nil { payload = RecordCodec.encode(.webhookEvent(e)) }
                if spool.offer(key: UInt64(e.id), payload: payload!, time: e.createdAt) == .appended { wake(id) }
            }
        }

        mutating func put(_ e: WebhookEndpoint, flag: borrowing Atomic<Bool>) {
            endpoints[e.id] = e
            nextEndpointID = max(nextEndpointID, e.id + 1)
            nextEventID = max(nextEventID, e.deliveredThrough + 1)
            if e.active {
                let spool =
                    spools[e.id]
                    ?? Spool.create(
                        directory: store.path(e.id), io: store.io, limits: limits, after: UInt64(e.deliveredThrough))
                spools[e.id] = spool
                spool.consume(through: UInt64(e.deliveredThrough))
            } else {
                spools.removeValue(forKey: e.id)?.remove()
                status[e.id] = nil
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

    let state: Mutex<State>
    let clock: any WallClock
    /// Renders an event's payload (the application layer's JSON); without one, no events are made.
    let render: WebhookPayloadRenderer?
    /// Whether any active endpoint exists: the booking path looks only at this flag otherwise.
    let subscribers = Atomic<Bool>(false)

    init(clock: any WallClock, render: WebhookPayloadRenderer?, limits: SpoolLimits) {
        self.clock = clock
        self.render = render
        state = Mutex(State(store: Store(io: MemoryIO(), root: "/memory/" + Self.directory), limits: limits))
    }

    /// The bounds of each endpoint's spool.
    public var limits: SpoolLimits { state.withLock { $0.limits } }

    // MARK: - Events from journal records

    /// The events a record reports, made and appended under the lock (after the record itself).
    /// Without subscribers only the bookkeeping of closures is done. `endsHold`: the record ends a
    /// seat held for a waitlist offer (``HeldSeats``).
    func tap(_ record: JournalRecord, endsHold: Bool = false, journal: any Journal, after ticket: JournalTicket)
        throws(EngineError) -> JournalTicket
    {
        let result: Result<JournalTicket, EngineError> = state.withLock { s in
            let made = Self.events(for: record, endsHold: endsHold, state: &s)
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

    /// The event types and subjects a record reports (keeping track of closures). A held seat has
    /// none; the change that ends it (`endsHold`) is the booking's creation, or nothing.
    static func events(for record: JournalRecord, endsHold: Bool, state s: inout State) -> [(String, WebhookSubject)] {
        switch record {
        case .reservationCreated(let r):
            return r.status == .held ? [] : [("reservation.created", .reservation(r))]
        case .reservationChanged(let r):
            switch r.status {
            case .confirmed: return endsHold ? [("reservation.created", .reservation(r))] : []
            case .cancelled: return endsHold ? [] : [("reservation.cancelled", .reservation(r))]
            case .checkedIn: return [("reservation.checked_in", .reservation(r))]
            case .noShow: return [("reservation.no_show", .reservation(r))]
            case .completed: return [("reservation.completed", .reservation(r))]
            case .held: return []
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

    // MARK: - Replay, recovery and capture

    func restore(_ record: JournalRecord) {
        if case .together(let parts) = record {
            for part in parts { restore(part) }
            return
        }
        state.withLock { s in
            switch record {
            case .webhookEndpoint(let e): s.put(e, flag: subscribers)
            case .webhookEvent(let e): s.store(e, ticket: nil)
            case .idFloor(let f): s.nextEventID = max(s.nextEventID, f.webhookEvent)
            case .branchDefined(let b): s.closureSerials[b.name] = max(s.closureSerials[b.name] ?? 0, b.closureSerial)
            default: break
            }
        }
    }

    /// The highest event id that a recovered snapshot and log hold (durably): what a spool may
    /// keep at start; events after it were written before their record was durable.
    public static func durableEventFloor(_ records: some Sequence<JournalRecord>) -> Int64 {
        var floor: Int64 = 0
        for record in records {
            switch record {
            case .webhookEvent(let e): floor = max(floor, e.id)
            case .webhookEndpoint(let e): floor = max(floor, e.deliveredThrough)
            case .idFloor(let f): floor = max(floor, f.webhookEvent - 1)
            default: break
            }
        }
        return floor
    }

    /// What opening the spools did (for the log and the open report).
    public struct AttachReport: Sendable {
        public var spools = 0
        /// Bytes of spool segments read: at most the last segment of each (not the backlog).
        public var bytesRead = 0
        public var lines: [String] = []
    }

    /// Keeps the spools in `<dataDirectory>/outbox/webhooks` from now on, opening those there;
    /// called before replay. Each spool reads its last segment only, and cuts events above
    /// `keepThrough` (``durableEventFloor(_:)`` of what recovery read). A spool that cannot be
    /// opened is reported and left on disk untouched; its endpoint's events are dropped (counted)
    /// until a restart opens it.
    public func attach(dataDirectory: String, io: any StorageIO, keepThrough: Int64) throws(StorageError)
        -> AttachReport
    {
        let root = dataDirectory + "/" + Self.directory
        try io.makeDirectory(dataDirectory + "/outbox")
        try io.makeDirectory(root)
        try io.syncDirectory(dataDirectory + "/outbox")
        try io.syncDirectory(dataDirectory)
        var report = AttachReport()
        let limits = self.limits
        var opened: [Int64: Spool] = [:]
        for name in try io.list(root) {
            guard let id = Int64(name), id > 0 else { continue }
            let path = root + "/" + name
            do throws(StorageError) {
                let (spool, r) = try Spool.open(
                    directory: path, io: io, limits: limits, keepThrough: UInt64(max(0, keepThrough)))
                opened[id] = spool
                report.spools += 1
                report.bytesRead += r.bytesRead
                if r.tornBytes > 0 {
                    report.lines.append("webhook queue \(id): cut a torn record (\(r.tornBytes) bytes)")
                }
                if r.cutRecords > 0 {
                    report.lines.append(
                        "webhook queue \(id): cut \(r.cutRecords) events written before their journal record was durable"
                    )
                }
            } catch {
                opened[id] = Spool.unavailable(directory: path, io: io, limits: limits, reason: "\(error)")
                report.lines.append(
                    "webhook queue \(id) cannot be opened (\(error)); its events are dropped and counted")
            }
        }
        state.withLock { s in
            precondition(s.endpoints.isEmpty, "the outbox's spools are attached before replay")
            s.store = Store(io: io, root: root)
            s.spools = opened
        }
        return report
    }

    /// After replay: removes the spools of endpoints that are gone (or whose registration never
    /// became durable), and continues event ids after every id a spool considered.
    public func finishRecovery() {
        state.withLock { s in
            for (id, spool) in s.spools where s.endpoints[id]?.active != true {
                spool.remove()
                s.spools[id] = nil
            }
            for spool in s.spools.values {
                s.nextEventID = max(s.nextEventID, Int64(clamping: spool.figures.considered) + 1)
            }
            s.durableThrough = max(s.durableThrough, s.nextEventID - 1)
        }
    }

    /// Endpoints (a snapshot's part): the events they are owed are in their spools.
    var image: [JournalRecord] {
        state.withLock { s in s.endpoints.values.sorted { $0.id < $1.id }.map { JournalRecord.webhookEndpoint($0) } }
    }

    /// The id the next event gets at least (a snapshot's id floor).
    var nextEventID: Int64 { state.withLock { $0.nextEventID } }

    // MARK: - Durability of the spools

    /// Where every spool is, its buffer written (taken before a snapshot's image).
    public struct Checkpoint: Sendable {
        public var spools: [(endpoint: Int64, spool: Spool, checkpoint: SpoolCheckpoint)]
    }

    public func checkpoint() -> Checkpoint {
        state.withLock { s in
            Checkpoint(spools: s.spools.sorted { $0.key < $1.key }.map { ($0.key, $0.value, $0.value.checkpoint()) })
        }
    }

    /// Makes a checkpoint durable (segments synced, state files written); call it once the journal
    /// is durable up to the checkpoint.
    public func sync(_ checkpoint: Checkpoint) throws(StorageError) {
        for part in checkpoint.spools { try part.spool.sync(part.checkpoint) }
    }

    /// The files of a copy of every spool as of `checkpoint`, as paths relative to the data
    /// directory (a backup, a new standby): call it once the journal is durable up to it.
    public func export(_ checkpoint: Checkpoint, _ visit: (String, [UInt8]) async throws -> Void) async throws {
        for part in checkpoint.spools {
            try await part.spool.export(at: part.checkpoint) { name, bytes in
                try await visit(Self.directory + "/" + String(part.endpoint) + "/" + name, bytes)
            }
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

    /// The active endpoints, by id, with their delivery state and spools.
    public var endpoints: [Queue] {
        state.withLock { s in
            s.endpoints.values.filter(\.active).sorted { $0.id < $1.id }.map { e in
                var status = s.status[e.id] ?? Status()
                status.delivered = Int(e.delivered)
                status.givenUp = Int(e.givenUp)
                return Queue(endpoint: e, status: status, spool: s.spools[e.id]?.figures ?? SpoolFigures())
            }
        }
    }

    /// Events dropped by the active endpoints' spools, ever.
    public var droppedEvents: Int64 { endpoints.reduce(0) { $0 + $1.spool.dropped } }

    // MARK: - Delivery

    /// The next event `endpoint` is owed, read from its spool, once its record is durable,
    /// waiting for one; `nil` once the endpoint is removed or the task is cancelled (cancel, then
    /// ``wakeAll()``).
    public func next(for endpoint: Int64) async -> (WebhookEndpoint, WebhookEvent)? {
        while !Task.isCancelled {
            enum Step {
                case read(WebhookEndpoint, Spool, newest: (id: Int64, ticket: JournalTicket), durable: Int64)
                case gone
                case wait
            }
            let step: Step = state.withLock { s in
                guard let e = s.endpoints[endpoint], e.active, let spool = s.spools[endpoint] else { return .gone }
                return spool.figures.pending > 0 ? .read(e, spool, newest: s.newest, durable: s.durableThrough) : .wait
            }
            switch step {
            case .read(let e, let spool, let newest, let durable):
                // Read outside the lock (a cold page must not stall bookings).
                guard let record = spool.peek() else { continue }
                guard case .webhookEvent(let event)? = try? RecordCodec.decode(record.payload),
                    UInt64(event.id) == record.key
                else {
                    spool.discard(through: record.key)  // a valid checksum over bytes that are no event
                    continue
                }
                if event.id > durable {
                    // Never send an event whose record could still be lost (its id would be reused);
                    // the newest event's ticket covers every earlier one.
                    guard (try? await newest.ticket.wait()) != nil else { return nil }
                    state.withLock { $0.durableThrough = max($0.durableThrough, newest.id) }
                }
                return (e, event)
            case .gone: return nil
            case .wait:
                guard !Task.isCancelled else { return nil }
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    state.withLock { s in
                        // Something may have arrived between the look and the wait.
                        if s.endpoints[endpoint]?.active != true || (s.spools[endpoint]?.figures.pending ?? 0) > 0
                            || Task.isCancelled
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

    /// Removes an endpoint: its sender stops and its spool is deleted.
    public func removeWebhook(id: Int64) async throws(EngineError) -> WebhookEndpoint {
        try context.health.check()
        let (endpoint, ticket) = try webhooks.change(id, journal: context.journal) { $0.active = false }
        try await context.health.commit(ticket)
        return endpoint
    }

    /// Records that `event` reached `endpoint` (or was given up on): the cursor moves past it, and
    /// the endpoint's delivered (or given-up) count by one.
    public func webhookDone(endpoint: Int64, event: WebhookEvent, delivered: Bool) async throws(EngineError) {
        try context.health.check()
        let (_, ticket) = try webhooks.change(endpoint, journal: context.journal) { e in
            guard event.id > e.deliveredThrough else { return }
            e.deliveredThrough = event.id
            if delivered { e.delivered += 1 } else { e.givenUp += 1 }
        }
        webhooks.done(endpoint: endpoint, delivered: delivered)
        try await context.health.commit(ticket)
    }
}

/// The engine's journal with the webhook outbox's tap: every record, then the events it reports.
struct EventTap: Journal {
    let inner: any Journal
    let outbox: WebhookOutbox
    let mail: MailOutbox
    let held: HeldSeats

    func append(_ record: JournalRecord) throws(EngineError) -> JournalTicket {
        let ticket = try inner.append(record)
        guard case .together(let parts) = record else { return try tap(record, after: ticket) }
        var last = ticket
        for part in parts { last = try tap(part, after: last) }
        return last
    }

    /// The webhook events and the email of an appended record, appended after it.
    private func tap(_ record: JournalRecord, after ticket: JournalTicket) throws(EngineError) -> JournalTicket {
        switch record {
        case .reservationCreated, .reservationChanged:
            let endsHold = held.note(record)  // once, for both outboxes
            let mailed = try mail.tap(record, endsHold: endsHold, journal: inner, after: ticket)
            guard outbox.subscribers.load(ordering: .acquiring) else { return mailed }
            return try outbox.tap(record, endsHold: endsHold, journal: inner, after: mailed)
        case .notificationCreated:
            return try mail.tap(record, endsHold: false, journal: inner, after: ticket)
        case .branchDefined:  // always: the closures seen decide what is new later
            return try outbox.tap(record, journal: inner, after: ticket)
        case .waitlistChanged:
            guard outbox.subscribers.load(ordering: .acquiring) else { return ticket }
            return try outbox.tap(record, journal: inner, after: ticket)
        default:
            return ticket
        }
    }

    func barrier() -> JournalTicket { inner.barrier() }
}
