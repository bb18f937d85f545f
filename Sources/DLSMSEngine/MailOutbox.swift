import DLSMSCore
import Foundation
import Synchronization

/// The email outbox: messages waiting to be sent, each a journal record (`mailQueued`) appended
/// right after the record of the change it is about, under the outbox's lock, so a message is
/// durable exactly when its cause is. A message leaves the outbox by a `mailSettled` record
/// (delivered, given up, dropped); after a crash every message not yet settled is sent again, with
/// the same `Message-ID` (at least once).
///
/// **Bounded.** At most ``Limits/maxPending`` messages in all and ``Limits/perStudent`` per
/// student wait; a message beyond either is not queued, and counted (``Figures/dropped``).
/// Memory holds the pending messages (a few hundred bytes each) and, until their reservation
/// ends, the reminders sent (so none is sent twice); snapshots hold both.
///
/// Nothing is queued until a sender is configured (``enable()``): an engine without one writes
/// no mail records at all.
public final class MailOutbox: Sendable {
    public struct Limits: Sendable, Hashable {
        public var maxPending = 10_000
        public var perStudent = 20
        public init(maxPending: Int = 10_000, perStudent: Int = 20) {
            self.maxPending = maxPending
            self.perStudent = perStudent
        }
    }

    /// Counters since the start (and the pending count), for the staff and `/metrics`.
    public struct Figures: Sendable, Hashable {
        public var pending = 0
        public var delivered = 0
        public var givenUp = 0
        public var dropped = 0
        public var oldestPendingAt: Timestamp?
    }

    struct State {
        var enabled = false
        var pending: [Int64: MailItem] = [:]
        /// The pending ids in id order (ids only grow), with settled ones left behind until a
        /// compaction: the sender reads from the front.
        var order: [Int64] = []
        var orderStart = 0
        var perUser: [UserID: Int] = [:]
        /// Reminders and check-in messages queued, by reservation (settled ones too, until the
        /// reservation ends): none is queued twice.
        var reminded: [ReminderKey: MailItem] = [:]
        var nextID: Int64 = 1
        var figures = Figures()
        /// The newest message's journal ticket: a sender waits for it before sending a message
        /// not known to be durable.
        var newest: (id: Int64, ticket: JournalTicket) = (0, .durable)
        var durableThrough: Int64 = 0
        var waiters: [CheckedContinuation<Void, Never>] = []

        mutating func wakeAll() {
            for c in waiters { c.resume() }
            waiters = []
        }

        /// A queued message in memory (by the tap, or replayed).
        mutating func store(_ m: MailItem, ticket: JournalTicket?) {
            nextID = max(nextID, m.id + 1)
            if let ticket { newest = (m.id, ticket) } else { durableThrough = max(durableThrough, m.id) }
            guard pending[m.id] == nil else { return }
            pending[m.id] = m
            if let last = order.last, last > m.id {
                // Out of order (never from the tap; only if a replay were): keep the order sorted.
                order.insert(m.id, at: order[orderStart...].firstIndex { $0 > m.id } ?? order.endIndex)
            } else {
                order.append(m.id)
            }
            perUser[m.userID, default: 0] += 1
            if m.kind == .reminder || m.kind == .checkIn { reminded[ReminderKey(m)] = m }
            wakeAll()
        }

        /// The first `limit` pending messages in id order that `include` takes.
        func first(_ limit: Int, where include: (MailItem) -> Bool = { _ in true }) -> [MailItem] {
            var out: [MailItem] = []
            var i = orderStart
            while i < order.count && out.count < limit {
                if let m = pending[order[i]], include(m) { out.append(m) }
                i += 1
            }
            return out
        }

        mutating func settle(_ s: MailSettlement) {
            guard let m = pending.removeValue(forKey: s.id) else { return }
            while orderStart < order.count, pending[order[orderStart]] == nil { orderStart += 1 }
            if orderStart > 1_024 && orderStart * 2 > order.count {
                order.removeFirst(orderStart)
                orderStart = 0
            }
            let left = (perUser[m.userID] ?? 1) - 1
            perUser[m.userID] = left > 0 ? left : nil
            switch s.outcome {
            case .delivered: figures.delivered += 1
            case .givenUp: figures.givenUp += 1
            case .dropped: figures.dropped += 1
            }
        }
    }

    struct ReminderKey: Hashable {
        var reservation: ReservationID
        var kind: MailKind
        init(reservation: ReservationID, kind: MailKind) {
            self.reservation = reservation
            self.kind = kind
        }
        init(_ m: MailItem) { self.init(reservation: m.reference, kind: m.kind) }
    }

    let state: Mutex<State>
    let clock: any WallClock
    let users: UserDirectory
    public let limits: Limits

    init(clock: any WallClock, users: UserDirectory, limits: Limits) {
        self.clock = clock
        self.users = users
        self.limits = limits
        state = Mutex(State())
    }

    /// Whether a sender is configured (read without the lock by the booking path).
    let enabledFlag = Atomic<Bool>(false)

    /// Queues messages from now on (a sender is configured).
    public func enable() {
        state.withLock { $0.enabled = true }
        enabledFlag.store(true, ordering: .releasing)
    }

    public var isEnabled: Bool { enabledFlag.load(ordering: .acquiring) }

    public var figures: Figures {
        state.withLock { s in
            var f = s.figures
            f.pending = s.pending.count
            f.oldestPendingAt = s.first(1).first?.createdAt
            return f
        }
    }

    /// The pending messages in id order (at most `limit`).
    public func pending(limit: Int = .max) -> [MailItem] {
        state.withLock { s in s.first(limit) }
    }

    // MARK: - Messages from journal records

    /// The message a record causes, if any: its kind, student and subject. A held seat has none;
    /// its confirmation comes when the offer is accepted (`endsHold`).
    static func cause(of record: JournalRecord, endsHold: Bool) -> (MailKind, UserID, MailItem)? {
        func about(_ r: Reservation) -> MailItem {
            MailItem(
                id: 0, userID: r.userID, kind: .confirmed, createdAt: 0, to: "", language: "", reference: r.id,
                seatID: r.seatID, start: r.start, end: r.end)
        }
        switch record {
        case .reservationCreated(let r):
            return r.status == .confirmed ? (.confirmed, r.userID, about(r)) : nil
        case .reservationChanged(let r):
            return endsHold && r.status == .confirmed ? (.confirmed, r.userID, about(r)) : nil
        case .notificationCreated(let n):
            let kind: MailKind
            switch n.kind {
            case .reservationNoShow: kind = .noShow
            case .seatOffered: kind = .offer
            case .reservationCancelled: kind = .cancelled
            case .strikeRecorded: kind = .strike
            case .suspended: kind = .suspended
            default: return nil
            }
            return (
                kind, n.userID,
                MailItem(
                    id: 0, userID: n.userID, kind: kind, createdAt: 0, to: "", language: "",
                    reference: Self.reference(in: n), seatID: n.seatID ?? 0, start: n.start ?? 0, end: n.end ?? 0,
                    text: n.message)
            )
        default:
            return nil
        }
    }

    /// The waitlist entry an offer names ("Accept waitlist entry 12 to book it."), else 0.
    static func reference(in n: UserNotification) -> Int64 {
        guard n.kind == .seatOffered, let range = n.message.range(of: "waitlist entry ", options: .backwards) else {
            return 0
        }
        return Int64(n.message[range.upperBound...].prefix { $0.isNumber }) ?? 0
    }

    /// The address and language a student's message of `kind` goes to, or `nil` when none is sent
    /// (no address, the kind turned off, an erased or disabled account).
    func recipient(_ user: UserID, kind: MailKind) -> (to: String, language: String)? {
        guard let u = users.user(id: user), !u.disabled, !u.isErased, u.mail.wants(kind) else { return nil }
        let to = u.mail.address.isEmpty ? u.email : u.mail.address
        return to.isEmpty ? nil : (to, u.language)
    }

    /// Appends the message a record causes (after the record itself), under the lock.
    func tap(_ record: JournalRecord, endsHold: Bool, journal: any Journal, after ticket: JournalTicket)
        throws(EngineError) -> JournalTicket
    {
        guard isEnabled else { return ticket }  // without a sender nothing is queued
        let result: Result<JournalTicket, EngineError> = state.withLock { s in
            guard let (kind, user, draft) = Self.cause(of: record, endsHold: endsHold), s.enabled,
                let (to, language) = recipient(user, kind: kind)
            else { return .success(ticket) }
            var item = draft
            item.to = to
            item.language = language
            return queue(item, in: &s, journal: journal).map { $0 ?? ticket }
        }
        return try result.get()
    }

    /// Queues `draft` (its id and time given here), or `nil` when a bound is reached (then it is
    /// counted).
    private func queue(_ draft: MailItem, in s: inout State, journal: any Journal)
        -> Result<JournalTicket?, EngineError>
    {
        guard s.pending.count < limits.maxPending, (s.perUser[draft.userID] ?? 0) < limits.perStudent else {
            s.figures.dropped += 1
            return .success(nil)
        }
        var item = draft
        item.id = s.nextID
        item.createdAt = clock.now()
        do throws(EngineError) {
            let last = try journal.append(.mailQueued(item))
            s.store(item, ticket: last)
            return .success(last)
        } catch {
            return .failure(error)
        }
    }

    /// Queues a message that no journal record causes (a reminder, an address confirmation).
    func enqueue(_ draft: MailItem, journal: any Journal) throws(EngineError) -> JournalTicket? {
        let result: Result<JournalTicket?, EngineError> = state.withLock { s in
            guard s.enabled else { return .success(nil) }
            if draft.kind == .reminder || draft.kind == .checkIn, s.reminded[ReminderKey(draft)] != nil {
                return .success(nil)
            }
            return queue(draft, in: &s, journal: journal)
        }
        return try result.get()
    }

    /// Whether a reminder (or check-in message) for a reservation was queued already.
    func reminded(_ reservation: ReservationID, _ kind: MailKind) -> Bool {
        state.withLock { $0.reminded[ReminderKey(reservation: reservation, kind: kind)] != nil }
    }

    // MARK: - Replay and snapshots

    func restore(_ record: JournalRecord) {
        if case .together(let parts) = record {
            for part in parts { restore(part) }
            return
        }
        state.withLock { s in
            switch record {
            case .mailQueued(let m): s.store(m, ticket: nil)
            case .mailSettled(let m): s.settle(m)
            default: break
            }
        }
    }

    /// The pending messages, and the reminders already sent for reservations not yet ended (as
    /// a queued record followed by its settlement).
    var image: [JournalRecord] {
        state.withLock { s in
            var out = s.first(.max).map { JournalRecord.mailQueued($0) }
            for m in s.reminded.values.sorted(by: { $0.id < $1.id }) where s.pending[m.id] == nil {
                out.append(.mailQueued(m))
                out.append(.mailSettled(MailSettlement(id: m.id, outcome: .delivered, at: m.createdAt)))
            }
            return out
        }
    }

    /// Drops an erased account's messages (live and in replay alike: the erasure's record says so).
    func drop(user: UserID, at t: Timestamp) {
        state.withLock { s in
            for m in s.pending.values where m.userID == user {
                s.settle(MailSettlement(id: m.id, outcome: .dropped, at: t))
            }
            for (id, m) in s.reminded where m.userID == user { s.reminded[id] = nil }
        }
    }

    /// Whether a message is still waiting.
    public func isPending(_ id: Int64) -> Bool { state.withLock { $0.pending[id] != nil } }

    /// Forgets the reminders of reservations that ended before `t`.
    func forgetReminders(endedBefore t: Timestamp) {
        state.withLock { s in
            for (id, m) in s.reminded where m.end < t && s.pending[m.id] == nil { s.reminded[id] = nil }
        }
    }

    // MARK: - Delivery

    /// The pending messages due (those `ready` takes), in id order, at most `limit`, once their
    /// records are durable (an empty list: none due; `nil`: the journal failed).
    public func due(limit: Int, ready: (MailItem) -> Bool) async -> [MailItem]? {
        let (batch, newest, durable) = state.withLock { s in (s.first(limit, where: ready), s.newest, s.durableThrough)
        }
        if batch.contains(where: { $0.id > durable }) {
            // Never send a message whose record could still be lost (its id would be reused).
            guard (try? await newest.ticket.wait()) != nil else { return nil }
            state.withLock { $0.durableThrough = max($0.durableThrough, newest.id) }
        }
        return batch
    }

    public func wakeAll() { state.withLock { $0.wakeAll() } }
}

extension SeatEngine {
    /// Records what became of queued messages.
    public func settleMail(_ settlements: [MailSettlement]) async throws(EngineError) {
        guard !settlements.isEmpty else { return }
        try context.health.check()
        var last = JournalTicket.durable
        for s in settlements {
            last = try mail.record(.mailSettled(s), journal: context.journal)
        }
        try await context.health.commit(last)
    }

    /// Queues an address confirmation (`token` is the link's) to `address`.
    public func queueAddressConfirmation(user: UserID, address: String, language: String, token: String)
        async throws(EngineError) -> Bool
    {
        try context.health.check()
        let draft = MailItem(
            id: 0, userID: user, kind: .address, createdAt: 0, to: address, language: language, text: token)
        guard let ticket = try mail.enqueue(draft, journal: context.journal) else { return false }
        try await context.health.commit(ticket)
        return true
    }
}

extension MailOutbox {
    /// Appends a settlement and applies it (under the lock, so the log's order is memory's).
    func record(_ record: JournalRecord, journal: any Journal) throws(EngineError) -> JournalTicket {
        let result: Result<JournalTicket, EngineError> = state.withLock { s in
            do throws(EngineError) {
                let ticket = try journal.append(record)
                if case .mailSettled(let m) = record { s.settle(m) }
                return .success(ticket)
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
