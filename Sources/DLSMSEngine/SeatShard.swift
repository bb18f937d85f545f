import DLSMSCore
import Foundation
import Synchronization

/// What every shard shares with the engine.
struct EngineContext: Sendable {
    let rules: BookingRules
    /// Group policies, staff-given groups, strikes: each student's effective rules.
    let policies: PolicyBook
    let directory: ReservationDirectory
    let ledger: UserLedger
    let waitlist: Waitlist
    let notifications: NotificationHub
    let journal: any Journal
    let health = EngineHealth()
    let offers = OfferStatistics()
    /// The epoch of the newest ``JournalRecord/epoch(_:)`` applied (replication).
    let epoch = EpochState()
}

/// The newest epoch record applied, under a lock.
final class EpochState: Sendable {
    private let state = Mutex<EpochChange?>(nil)
    func withLock<R: Sendable>(_ body: (inout EpochChange?) -> R) -> R { state.withLock { body(&$0) } }
}

/// Waitlist offers made, accepted, declined and expired, and the time from the seat freeing to
/// the acceptance (for metrics).
public final class OfferStatistics: Sendable {
    public struct Figures: Sendable, Hashable {
        public var made = 0
        public var accepted = 0
        public var declined = 0
        public var expired = 0
        /// Seconds from freeing to acceptance, summed over the accepted offers.
        public var secondsToAcceptance: Int64 = 0
    }

    private let state = Mutex(Figures())

    public var figures: Figures { state.withLock { $0 } }
    func made() { state.withLock { $0.made += 1 } }
    func declined() { state.withLock { $0.declined += 1 } }
    func expired() { state.withLock { $0.expired += 1 } }
    func accepted(after seconds: Int64) {
        state.withLock {
            $0.accepted += 1
            $0.secondsToAcceptance += max(0, seconds)
        }
    }
}

/// Fail-stop. The engine changes its memory first and acknowledges once the journal record is
/// durable; if a journal write or sync fails, the memory holds a change that is not durable, and
/// there is no undo: from then on every write is refused (503) and the memory is only read until
/// the process restarts and recovery rebuilds the durable state.
///
/// A standby of a replicated cluster refuses writes too, without having failed: its state only
/// changes by the primary's log (``refuseWrites(_:)``).
final class EngineHealth: Sendable {
    /// The failure, and the standby's refusal (not a failure: it is lifted on promotion).
    private let state = Mutex<(failure: EngineError?, refusal: EngineError?)>((nil, nil))
    /// Set while either is: the check on every write reads this flag, not a lock shared by all
    /// shards.
    private let stopped = Atomic<Bool>(false)

    var failed: EngineError? { stopped.load(ordering: .acquiring) ? state.withLock { $0.failure } : nil }

    /// Throws once the engine has stopped accepting writes, or while it refuses them.
    func check() throws(EngineError) {
        guard stopped.load(ordering: .acquiring) else { return }
        if let f = state.withLock({ $0.failure ?? $0.refusal }) { throw f }
    }

    func fail(_ error: EngineError) {
        state.withLock { s in
            if s.failure == nil { s.failure = error }
            stopped.store(true, ordering: .releasing)
        }
    }

    /// Refuses every write with `error` (a standby), or accepts them again (`nil`).
    func refuseWrites(_ error: EngineError?) {
        state.withLock { s in
            s.refusal = error
            stopped.store(s.failure != nil || error != nil, ordering: .releasing)
        }
    }

    /// Waits until `ticket` is durable; a failure stops every later write (a replication gate's
    /// refusal to acknowledge does not: the record is durable here).
    func commit(_ ticket: JournalTicket) async throws(EngineError) {
        do {
            try await ticket.wait()
        } catch {
            if case .notAcknowledged = error { throw error }
            fail(error)
            throw error
        }
    }

    /// Appends `record`; a refusal of the journal stops every later write.
    func append(_ record: JournalRecord, to journal: any Journal) throws(EngineError) -> JournalTicket {
        do {
            return try journal.append(record)
        } catch {
            fail(error)
            throw error
        }
    }
}

/// One partition of the seats. It owns, for each of its seats, the seat's description and the
/// ``IntervalIndex`` of its seat-holding reservations, and it stores every reservation of its
/// seats (finished ones too) in `slots`.
///
/// Reentrancy: a method that waits for the journal suspends, and other calls run meanwhile. So a
/// booking takes its place in the index *before* it waits, and every method validates and mutates
/// in one synchronous stretch, then waits only at the end. If the journal fails, nothing is
/// undone: the engine stops accepting writes (``EngineHealth``), and recovery at the next start
/// rebuilds the durable state.
actor SeatShard {
    /// A class, not a struct: a booking reads several of its fields and calls its checks, and
    /// each such use of a struct held in an array copied it (a retain and release of each of its
    /// strings, branch, calendar, closures and index); a class is one reference.
    final class SeatState {
        var seat: Seat
        var branch: Branch
        /// The branch's calendar, made once (not on every booking).
        var calendar: Calendar
        /// The branch's closures that close this seat (its area's and the whole branch's).
        var closures: [Closure] = []
        var index = IntervalIndex()
        /// The branch's release instant for the local day last asked about: `[dayStart, dayEnd)` opens at `opens`.
        var release: (dayStart: Timestamp, dayEnd: Timestamp, opens: Timestamp)?

        init(seat: Seat, branch: Branch, calendar: Calendar) {
            self.seat = seat
            self.branch = branch
            self.calendar = calendar
            closures = branch.closures.filter { $0.applies(to: seat.area) }
        }

        /// Sets the branch (and with it the calendar and the seat's closures).
        func set(branch: Branch, calendar: Calendar) {
            self.branch = branch
            self.calendar = calendar
            release = nil
            closures = branch.closures.filter { $0.applies(to: seat.area) }
        }

        func permits(start: Timestamp, end: Timestamp) -> Bool {
            branch.openingHours.permits(start: start, end: end, calendar: calendar)
        }

        func closure(overlapping start: Timestamp, _ end: Timestamp) -> Closure? {
            closures.isEmpty ? nil : closures.first { $0.overlaps(start, end) }
        }

        /// Where a booking of `[start, end)` goes in the index, or why the seat cannot take it.
        func insertionPoint(start: Timestamp, end: Timestamp) throws(EngineError) -> Int {
            guard !seat.retired else { throw .seatNotFound(seat.id) }
            guard permits(start: start, end: end) else { throw .outsideOpeningHours }
            if let c = closure(overlapping: start, end) { throw .closed(reason: c.reason) }
            guard !seat.inMaintenance else { throw .seatInMaintenance(seat.id) }
            guard let position = index.insertionPoint(start: start, end: end) else { throw .seatConflict }
            return position
        }

        /// The instant bookings starting at `start` open (the branch's release rule), or nil.
        func opening(forStart start: Timestamp) -> Timestamp? {
            guard let rule = branch.release else { return nil }
            if let r = release, start >= r.dayStart && start < r.dayEnd { return r.opens }
            let day = calendar.dateInterval(of: .day, for: Date(timeIntervalSince1970: TimeInterval(start)))
            let opens = rule.opening(forStart: start, calendar: calendar)
            if let day {
                release = (Timestamp(day.start.timeIntervalSince1970), Timestamp(day.end.timeIntervalSince1970), opens)
            }
            return opens
        }

        /// Open (hours) and not closed (closures) for the whole of `[start, end)`.
        func bookable(start: Timestamp, end: Timestamp) -> Bool {
            permits(start: start, end: end) && closure(overlapping: start, end) == nil
        }
    }

    var positions: [SeatID: Int] = [:]
    /// Seat positions by branch, and by branch and area, in id order: a search of a branch (or of
    /// one of its areas) looks at those seats only, not at the whole shard.
    var byBranch: [String: [Int]] = [:]
    var byArea: [String: [String: [Int]]] = [:]
    var seats: [SeatState] = []
    var slots = SlotStore()
    /// Slots of `HELD` reservations (seats held for waitlist offers), for the sweep's reconciling.
    var heldSlots: Set<UInt32> = []
    /// The newest copy of each branch this shard has seen (``newestCopy(_:)``).
    var branchCopies: [String: (version: UInt64, branch: Branch, calendar: Calendar)] = [:]
    let ctx: EngineContext

    init(context: EngineContext) { ctx = context }

    // MARK: - Catalog

    /// Adds or updates a seat and appends its record in the same actor turn.
    func define(seat: Seat, branch: BranchCopy, journal: any Journal) throws(EngineError) -> JournalTicket {
        let ticket = try journal.append(.seatDefined(seat))
        define(seat: seat, branch: branch)
        return ticket
    }

    /// Records and adds seats in one turn; the ticket of the last record (`nil`: none).
    func define(seats: [Seat], branches: [String: BranchCopy], journal: any Journal) -> Result<
        JournalTicket?, EngineError
    > {
        var last: JournalTicket?
        for seat in seats {
            guard let branch = branches[seat.branch] else { return .failure(.branchNotFound(seat.branch)) }
            do {
                last = try journal.append(.seatDefined(seat))
            } catch {
                return .failure(error)
            }
            define(seat: seat, branch: branch)
        }
        return .success(last)
    }

    /// Adds a seat, or updates its description (maintenance) keeping its reservations.
    func define(seat: Seat, branch copy: BranchCopy) {
        let (branch, calendar) = newestCopy(copy)
        if let p = positions[seat.id] {
            let moved = seats[p].seat.branch != seat.branch || seats[p].seat.area != seat.area
            seats[p].seat = seat
            seats[p].set(branch: branch, calendar: calendar)
            if moved { reindex() }
        } else if let last = seats.last, last.seat.id > seat.id {
            // Seats stay ordered by id, so that queries come out sorted.
            let i = seats.firstIndex { $0.seat.id > seat.id }!
            seats.insert(SeatState(seat: seat, branch: branch, calendar: calendar), at: i)
            for k in i..<seats.count { positions[seats[k].seat.id] = k }
            reindex()
        } else {
            positions[seat.id] = seats.count
            seats.append(SeatState(seat: seat, branch: branch, calendar: calendar))
            byBranch[seat.branch, default: []].append(seats.count - 1)
            byArea[seat.branch, default: [:]][seat.area, default: []].append(seats.count - 1)
        }
    }

    /// ``byBranch`` and ``byArea`` anew, after a seat moved or was inserted before others.
    private func reindex() {
        byBranch = [:]
        byArea = [:]
        for i in seats.indices {
            byBranch[seats[i].seat.branch, default: []].append(i)
            byArea[seats[i].seat.branch, default: [:]][seats[i].seat.area, default: []].append(i)
        }
    }

    func seat(_ id: SeatID) -> Seat? { positions[id].map { seats[$0].seat } }

    func seats(_ ids: [SeatID]) -> [Seat] { ids.compactMap(seat) }

    /// Retires a seat in this one turn: refused with `has_reservations` when confirmed or
    /// checked-in reservations that have not ended hold it, unless `cancelling` — then each is
    /// cancelled (a checked-in one ended) and its holder notified with `reason`. The seat goes out
    /// of service first, so the freed time is offered to nobody, and a waitlist offer holding it
    /// can no longer be accepted.
    func retire(_ id: SeatID, branch: BranchCopy, cancelling: Bool, reason: String, now: Timestamp)
        throws(EngineError) -> (cancelled: [Reservation], batch: Batch)
    {
        try ctx.health.check()
        guard let p = positions[id], !seats[p].seat.retired else { throw .seatNotFound(id) }
        let upcoming = seats[p].index.busy(start: now, end: .max).map { ($0.handle, slots[Int($0.handle)]) }
            .filter { $0.1.status == .confirmed || $0.1.status == .checkedIn }
        if !upcoming.isEmpty && !cancelling { throw .hasReservations(count: upcoming.count) }
        var seat = seats[p].seat
        seat.inMaintenance = true
        seat.retired = true
        var batch = Batch()
        batch.append(.seatDefined(seat), journal: ctx.journal)
        define(seat: seat, branch: branch)
        var cancelled: [Reservation] = []
        for (slot, r) in upcoming {
            if let next = cancelByLibrary(slot: slot, r, label: seat.displayLabel, why: reason, now: now, into: &batch)
            {
                cancelled.append(next)
            }
        }
        return (cancelled, batch)
    }

    /// Reads, changes and records a seat in this one turn (its id and branch stay). A seat moved
    /// into a closed area loses the reservations the closure overlaps, as if it had been there.
    func update(
        _ id: SeatID, branch: BranchCopy, journal: any Journal, now: Timestamp,
        _ change: @Sendable (inout Seat) -> Void
    ) throws(EngineError) -> (Seat, Batch) {
        guard let p = positions[id], !seats[p].seat.retired else { throw .seatNotFound(id) }
        var seat = seats[p].seat
        change(&seat)
        seat.id = id
        seat.branch = seats[p].seat.branch
        var batch = Batch()
        batch.append(.seatDefined(seat), journal: journal)
        if let failure = batch.failure { throw failure }
        define(seat: seat, branch: branch)
        var cancelled: [Reservation] = []
        enforceClosures(at: p, only: nil, announce: true, now: now, into: &batch, cancelled: &cancelled)
        return (seat, batch)
    }

    /// Gives these seats their branch's new description, keeping everything else of each seat.
    func setBranch(_ copy: BranchCopy, of ids: [SeatID]) {
        let (branch, calendar) = newestCopy(copy)
        for id in ids {
            guard let p = positions[id] else { continue }
            seats[p].set(branch: branch, calendar: calendar)
        }
    }

    // MARK: - Booking

    /// The batched path: places every request in one actor turn, then waits once for the journal.
    func book(_ requests: [BookingRequest], now: Timestamp) async -> [Result<Reservation, EngineError>] {
        var results: [Result<Reservation, EngineError>] = []
        results.reserveCapacity(requests.count)
        var last = JournalTicket.durable
        var refused = false
        for q in requests {
            do {
                let (r, ticket) = try place(
                    user: q.userID, seat: q.seatID, start: q.start, end: q.end, now: now,
                    rules: ctx.policies.effective(for: q.userID))
                results.append(.success(r))
                last = ticket
            } catch {
                results.append(.failure(error))
                refused = true
            }
        }
        // The log is ordered: the last record durable ⇒ all of them. A refusal may cite another
        // shard's booking: then everything appended so far must be durable first.
        if refused { last = ctx.journal.barrier() }
        do {
            try await ctx.health.commit(last)
        } catch {
            return results.map { $0.flatMap { _ in .failure(error) } }
        }
        return results
    }

    /// Validates and places a booking in the index and the ledger, and appends its record. The
    /// caller waits for the ticket outside the actor (so the shard is not re-entered just to
    /// return).
    ///
    /// `override`: staff booking on a student's behalf past the student's policy (places, release
    /// time, limits); the booking still counts towards the student's limits afterwards.
    func place(
        user: UserID, seat seatID: SeatID, start: Timestamp, end: Timestamp, now: Timestamp, rules: EffectiveRules,
        override: Bool = false, series: SeriesMark? = nil
    ) throws(EngineError) -> (Reservation, JournalTicket) {
        try ctx.health.check()
        guard let p = positions[seatID] else { throw .seatNotFound(seatID) }
        if !override {
            try checkPolicy(seat: p, start: start, now: now, rules: rules)
        }
        let position = try seats[p].insertionPoint(start: start, end: end)
        let slot = UInt32(slots.nextSlot)
        let directory = ctx.directory
        let limits = override ? Self.unlimited(rules.rules) : rules.rules
        let caps =
            limits.maxPerDay == nil && limits.maxPerWeek == nil
            ? [] : limits.hourCaps(start: start, end: end, calendar: seats[p].calendar)
        let id = try ctx.ledger.admit(user: user, start: start, end: end, now: now, rules: limits, caps: caps) {
            directory.allocate(seat: seatID, slot: slot)
        }
        // Cannot conflict: the shard has not suspended since the check (the precondition checks it).
        seats[p].index.insert(start: start, end: end, handle: slot, at: position)
        var r = Reservation(id: id, seatID: seatID, userID: user, start: start, end: end, createdAt: now)
        switch series {
        case .first?: r.extras.seriesID = id
        case .of(let first)?: r.extras.seriesID = first
        case nil: break
        }
        slots.store(r)
        return (r, try ctx.health.append(.reservationCreated(r), to: ctx.journal))
    }

    /// The student's group may book the seat, and the branch's release time for that day has come.
    func checkPolicy(seat p: Int, start: Timestamp, now: Timestamp, rules: EffectiveRules) throws(EngineError) {
        if !rules.exempt {
            let restrictions = ctx.policies.restrictions
            if !restrictions.isEmpty && !rules.mayBook(seats[p].seat, restrictions: restrictions) {
                throw .notAllowedForGroup(groups: restrictions.groups(for: seats[p].seat) ?? [])
            }
        }
        if let opens = seats[p].opening(forStart: start), now < opens { throw .notOpenYet(opensAt: opens) }
    }

    /// `rules` without the per-student limits (staff override), still tracking holdings.
    static func unlimited(_ rules: BookingRules) -> BookingRules {
        var r = rules
        r.maxUpcomingPerUser = .max - 1
        r.maxConcurrentPerUser = nil
        r.maxPerDay = nil
        r.maxPerWeek = nil
        return r
    }

}
