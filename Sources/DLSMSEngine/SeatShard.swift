import DLSMSCore
import Foundation
import Synchronization

/// What every shard shares with the engine.
struct EngineContext: Sendable {
    let rules: BookingRules
    let directory: ReservationDirectory
    let ledger: UserLedger
    let waitlist: Waitlist
    let notifications: NotificationHub
    let journal: any Journal
    let health = EngineHealth()
}

/// Fail-stop. The engine changes its memory first and acknowledges once the journal record is
/// durable; if a journal write or sync fails, the memory holds a change that is not durable, and
/// there is no undo: from then on every write is refused (503) and the memory is only read until
/// the process restarts and recovery rebuilds the durable state.
final class EngineHealth: Sendable {
    private let failure = Mutex<EngineError?>(nil)

    var failed: EngineError? { failure.withLock { $0 } }

    /// Throws once the engine has stopped accepting writes.
    func check() throws(EngineError) {
        if let f = failure.withLock({ $0 }) { throw f }
    }

    func fail(_ error: EngineError) { failure.withLock { if $0 == nil { $0 = error } } }

    /// Waits until `ticket` is durable; a failure stops every later write.
    func commit(_ ticket: JournalTicket) async throws(EngineError) {
        do {
            try await ticket.wait()
        } catch {
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
    struct SeatState {
        var seat: Seat
        var branch: Branch
        var timeZone: TimeZone?
        var index = IntervalIndex()

        func permits(start: Timestamp, end: Timestamp) -> Bool {
            guard case .daily = branch.openingHours else { return true }
            let offset = timeZone?.secondsFromGMT(for: Date(timeIntervalSince1970: Double(start))) ?? 0
            return branch.openingHours.permits(start: start, end: end, utcOffset: offset)
        }
    }

    private var positions: [SeatID: Int] = [:]
    /// Seat positions by branch, in id order: a branch filter looks at its own seats only.
    private var byBranch: [String: [Int]] = [:]
    private var seats: [SeatState] = []
    private var slots = SlotStore()
    private let ctx: EngineContext

    init(context: EngineContext) { ctx = context }

    // MARK: - Catalog

    /// Adds or updates a seat and appends its record in the same actor turn.
    func define(seat: Seat, branch: Branch, journal: any Journal) throws(EngineError) -> JournalTicket {
        let ticket = try journal.append(.seatDefined(seat))
        define(seat: seat, branch: branch)
        return ticket
    }

    /// Adds a seat, or updates its description (maintenance) keeping its reservations.
    func define(seat: Seat, branch: Branch) {
        let zone = Branch.zone(branch.timeZone)
        if let p = positions[seat.id] {
            let moved = seats[p].seat.branch != seat.branch
            seats[p].seat = seat
            seats[p].branch = branch
            seats[p].timeZone = zone
            if moved { byBranch = Dictionary(grouping: seats.indices) { seats[$0].seat.branch } }
        } else if let last = seats.last, last.seat.id > seat.id {
            // Seats stay ordered by id, so that queries come out sorted.
            let i = seats.firstIndex { $0.seat.id > seat.id }!
            seats.insert(SeatState(seat: seat, branch: branch, timeZone: zone), at: i)
            for k in i..<seats.count { positions[seats[k].seat.id] = k }
            byBranch = Dictionary(grouping: seats.indices) { seats[$0].seat.branch }
        } else {
            positions[seat.id] = seats.count
            seats.append(SeatState(seat: seat, branch: branch, timeZone: zone))
            byBranch[seat.branch, default: []].append(seats.count - 1)
        }
    }

    func seat(_ id: SeatID) -> Seat? { positions[id].map { seats[$0].seat } }

    /// Gives these seats their branch's new description, keeping everything else of each seat.
    func setBranch(_ branch: Branch, of ids: [SeatID]) {
        let zone = Branch.zone(branch.timeZone)
        for id in ids {
            guard let p = positions[id] else { continue }
            seats[p].branch = branch
            seats[p].timeZone = zone
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
                let (r, ticket) = try place(user: q.userID, seat: q.seatID, start: q.start, end: q.end, now: now)
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
    func place(user: UserID, seat seatID: SeatID, start: Timestamp, end: Timestamp, now: Timestamp)
        throws(EngineError) -> (Reservation, JournalTicket)
    {
        try ctx.health.check()
        guard let p = positions[seatID] else { throw .seatNotFound(seatID) }
        guard seats[p].permits(start: start, end: end) else { throw .outsideOpeningHours }
        guard !seats[p].seat.inMaintenance else { throw .seatInMaintenance(seatID) }
        guard let position = seats[p].index.insertionPoint(start: start, end: end) else { throw .seatConflict }
        let slot = UInt32(slots.nextSlot)
        let directory = ctx.directory
        let id = try ctx.ledger.admit(user: user, start: start, end: end, now: now, rules: ctx.rules) {
            directory.allocate(seat: seatID, slot: slot)
        }
        // Cannot conflict: the shard has not suspended since the check (the precondition checks it).
        seats[p].index.insert(start: start, end: end, handle: slot, at: position)
        let r = Reservation(id: id, seatID: seatID, userID: user, start: start, end: end, createdAt: now)
        slots.store(r)
        return (r, try ctx.health.append(.reservationCreated(r), to: ctx.journal))
    }

    // MARK: - Status changes

    enum Action: Sendable {
        case checkIn
        case checkout
        /// Cancel a `CONFIRMED` reservation; a `CHECKED_IN` one is ended as by checkout.
        case cancel
    }

    /// Validates and applies a status change; the caller commits the returned batch.
    func perform(_ action: Action, id: ReservationID, slot: UInt32, requester: Requester, now: Timestamp)
        throws(EngineError) -> (Reservation, Batch)
    {
        try ctx.health.check()
        let r = try reservation(id: id, slot: slot, requester: requester)
        let transition: ReservationTransition
        switch (action, r.status) {
        case (.checkIn, .confirmed):
            let window = ctx.rules.checkInWindow(start: r.start)
            guard now >= window.opens && now < window.closes else {
                throw .checkinWindow(opens: window.opens, closes: window.closes)
            }
            transition = .checkIn(at: now)
        case (.checkIn, _): throw EngineError(InvalidTransition(from: r.status, transition: .checkIn(at: now)))
        case (.cancel, .checkedIn), (.checkout, _): transition = .checkout(at: now)
        case (.cancel, _): transition = .cancel(at: now)
        }
        let next: Reservation
        do {
            next = try r.applying(transition)
        } catch {
            throw EngineError(error)
        }
        var batch = Batch()
        change(slot: slot, from: r, to: next, by: transition, now: now, into: &batch)
        return (next, batch)
    }

    /// The changes of one actor turn and their journal tickets, committed together.
    struct Batch: Sendable {
        /// Waitlist entries this batch moved to `NOTIFIED`.
        var claimed: [WaitlistEntry] = []
        var notifications: [NotificationID] = []
        var ticket = JournalTicket.durable
        var failure: EngineError?

        mutating func append(_ record: JournalRecord, journal: any Journal) {
            guard failure == nil else { return }
            do {
                ticket = try journal.append(record)
            } catch {
                failure = error
            }
        }

        /// Notes the outcome of an append made elsewhere (under another lock).
        mutating func note(_ outcome: Result<JournalTicket, EngineError>) {
            switch outcome {
            case .success(let t): ticket = t
            case .failure(let e): failure = failure ?? e
            }
        }

        /// Waits for durability (outside the shard); then publishes the notifications. A failure
        /// stops the engine's writes (fail-stop: nothing is undone).
        func commit(hub: NotificationHub, health: EngineHealth) async throws(EngineError) {
            if let failure {
                health.fail(failure)
                throw failure
            }
            try await health.commit(ticket)
            for n in notifications { hub.publish(n) }
        }
    }

    /// Applies a status change to the slot, the index and the ledger, appends its record, and —
    /// when seat time is freed — notifies the first waitlist entry that the freed time now serves.
    private func change(
        slot: UInt32, from r: Reservation, to next: Reservation, by transition: ReservationTransition, now: Timestamp,
        into batch: inout Batch
    ) {
        guard let p = positions[r.seatID] else { return }
        slots[Int(slot)] = next
        if r.status.holdsSeat && !next.status.holdsSeat {
            seats[p].index.remove(start: r.start)
            ctx.ledger.release(user: r.userID, start: r.start, end: r.end)
        }
        batch.append(.reservationChanged(next), journal: ctx.journal)
        switch transition {
        case .noShow:
            notify(
                user: r.userID, kind: .reservationNoShow,
                message:
                    "Reservation \(r.id) on seat \(r.seatID) was released: nobody checked in within the grace period.",
                seat: r.seatID, start: r.start, end: r.end, now: now, into: &batch)
        case .complete:
            notify(
                user: r.userID, kind: .reservationCompleted,
                message: "Your stay on seat \(r.seatID) (reservation \(r.id)) has ended.",
                seat: r.seatID, start: r.start, end: r.end, now: now, into: &batch)
        default: break
        }
        if r.status.holdsSeat && !next.status.holdsSeat {
            // Cancel, no-show and checkout free the rest of the slot: [max(start, now), end).
            let freedStart = max(r.start, now)
            if freedStart < r.end {
                claimWaitlist(seat: p, freedStart: freedStart, freedEnd: r.end, now: now, into: &batch)
            }
        }
    }

    private func claimWaitlist(
        seat p: Int, freedStart: Timestamp, freedEnd: Timestamp, now: Timestamp, into batch: inout Batch
    ) {
        let state = seats[p]
        guard !state.seat.inMaintenance else { return }
        let index = state.index
        guard batch.failure == nil,
            let claim = ctx.waitlist.claim(
                seat: state.seat.id, branch: state.seat.branch, freedStart: freedStart, freedEnd: freedEnd,
                earliest: now - ctx.rules.pastTolerance, now: now, journal: ctx.journal,
                isFree: { index.isFree(start: $0, end: $1) && state.permits(start: $0, end: $1) })
        else { return }
        batch.note(claim.map(\.1))
        guard case .success(let (entry, _)) = claim else { return }
        batch.claimed.append(entry)
        notify(
            user: entry.userID, kind: .seatAvailable,
            message:
                "Seat \(state.seat.id) (\(state.seat.branch), \(state.seat.area)) is free for the time you are waiting for. Book it now.",
            seat: state.seat.id, start: entry.desiredTime, end: entry.endTime, now: now, into: &batch)
    }

    private func notify(
        user: UserID, kind: NotificationKind, message: String, seat: SeatID, start: Timestamp, end: Timestamp,
        now: Timestamp, into batch: inout Batch
    ) {
        guard batch.failure == nil else { return }
        let created = ctx.notifications.create(
            user: user, kind: kind, message: message, seat: seat, start: start, end: end, now: now, journal: ctx.journal
        )
        batch.note(created.map(\.1))
        if case .success(let (n, _)) = created { batch.notifications.append(n.id) }
    }

    // MARK: - Sweep

    /// Applies every transition due at `now`: `CONFIRMED` past start + grace → `NO_SHOW`,
    /// `CHECKED_IN` past its end → `COMPLETED`.
    func sweep(now: Timestamp) -> (SweepReport, Batch) {
        var due: [(UInt32, Reservation, ReservationTransition)] = []
        for p in seats.indices {
            // Entries are ordered by start and by end, so the due ones are a prefix.
            for e in seats[p].index.prefix(startingAtOrBefore: now) {
                let r = slots[Int(e.handle)]
                if r.status == .confirmed && now >= ctx.rules.noShowDeadline(start: r.start) {
                    due.append((e.handle, r, .noShow(at: now)))
                } else if r.status == .checkedIn && now >= r.end {
                    due.append((e.handle, r, .complete(at: now)))
                }
            }
        }
        var batch = Batch()
        var report = SweepReport()
        for (slot, r, t) in due {
            guard let next = try? r.applying(t) else { continue }
            change(slot: slot, from: r, to: next, by: t, now: now, into: &batch)
            if next.status == .noShow { report.noShows.append(next) } else { report.completed.append(next) }
        }
        report.notified = batch.claimed
        return (report, batch)
    }

    // MARK: - Queries

    func reservation(id: ReservationID, slot: UInt32, requester: Requester) throws(EngineError) -> Reservation {
        guard Int(slot) < slots.count, slots.id(at: Int(slot)) == id else { throw .reservationNotFound(id) }
        let r = slots[Int(slot)]
        guard requester.owns(r.userID) else { throw .reservationNotFound(id) }
        return r
    }

    func reservations(_ wanted: [(ReservationID, UInt32)]) -> [Reservation] {
        wanted.compactMap { id, slot in
            Int(slot) < slots.count && slots.id(at: Int(slot)) == id ? slots[Int(slot)] : nil
        }
    }

    func reservations(matching filter: ReservationFilter) -> [Reservation] {
        slots.filter { $0.id != 0 && filter.matches($0) }
    }

    func search(_ filter: SeatFilter, start: Timestamp, end: Timestamp, now: Timestamp) -> [SeatView] {
        var views: [SeatView] = []
        views.reserveCapacity(seats.count)
        // By index, reading fields in place: copying a whole SeatState would retain its strings,
        // arrays and time zone for every seat.
        let candidates: [Int] = filter.branch.map { byBranch[$0] ?? [] } ?? Array(seats.indices)
        seats.withUnsafeBufferPointer { all in
            for i in candidates where filter.matches(all[i].seat) {
                let available = !all[i].seat.inMaintenance && all[i].index.isFree(start: start, end: end)
                if filter.availableOnly && !available { continue }
                views.append(
                    SeatView(seat: all[i].seat, occupiedNow: all[i].index.entry(at: now) != nil, isAvailable: available)
                )
            }
        }
        return views
    }

    func detail(seat id: SeatID, start: Timestamp, end: Timestamp, now: Timestamp) throws(EngineError) -> (
        SeatView, [BusyInterval]
    ) {
        guard let p = positions[id] else { throw .seatNotFound(id) }
        let s = seats[p]
        let busy = s.index.busy(start: start, end: end).map { BusyInterval(start: $0.start, end: $0.end) }
        let view = SeatView(
            seat: s.seat, occupiedNow: s.index.entry(at: now) != nil, isAvailable: !s.seat.inMaintenance && busy.isEmpty
        )
        return (view, busy)
    }

    /// Per branch: total, power, monitor and free-now seat counts.
    func branchCounts(now: Timestamp) -> [String: (total: Int, power: Int, monitor: Int, available: Int)] {
        var counts: [String: (total: Int, power: Int, monitor: Int, available: Int)] = [:]
        for i in seats.indices {
            let s = (seat: seats[i].seat, index: seats[i].index)
            var c = counts[s.seat.branch, default: (0, 0, 0, 0)]
            c.total += 1
            c.power += s.seat.hasPower ? 1 : 0
            c.monitor += s.seat.hasMonitor ? 1 : 0
            c.available += !s.seat.inMaintenance && s.index.entry(at: now) == nil ? 1 : 0
            counts[s.seat.branch] = c
        }
        return counts
    }

    /// Per-branch figures of this shard's seats.
    func statistics(now: Timestamp) -> [BranchStatistics] {
        var byBranch: [String: BranchStatistics] = [:]
        var branchOfSeat: [SeatID: String] = [:]
        for i in seats.indices {
            let name = seats[i].seat.branch
            branchOfSeat[seats[i].seat.id] = name
            byBranch[name, default: BranchStatistics(branch: name)].seats += 1
            if seats[i].index.entry(at: now) != nil { byBranch[name]!.occupiedNow += 1 }
        }
        for slot in slots.indices where slots.id(at: slot) != 0 {
            let r = slots[slot]
            guard let name = branchOfSeat[r.seatID] else { continue }
            byBranch[name]!.reservations += 1
            switch r.status {
            case .completed: byBranch[name]!.completed += 1
            case .noShow: byBranch[name]!.noShows += 1
            case .cancelled: byBranch[name]!.cancelled += 1
            default: break
            }
        }
        return Array(byBranch.values)
    }

    var stats: (seats: Int, reservations: Int, holding: Int) {
        (
            seats.count, slots.indices.reduce(0) { $0 + (slots.id(at: $1) != 0 ? 1 : 0) },
            seats.reduce(0) { $0 + $1.index.count }
        )
    }

    // MARK: - Restore (seed and replay)

    /// Stores a recorded reservation (created or changed) as it is, without rules.
    ///
    /// Idempotent, and never moves a reservation backwards: a record whose status is not further
    /// along than the stored one is already reflected and is skipped. So replaying the log from any
    /// point before the state (a snapshot taken while writes flowed) gives the same result.
    func restore(_ r: Reservation) {
        guard let p = positions[r.seatID] else {
            preconditionFailure("reservation \(r.id) names seat \(r.seatID), which is not defined")
        }
        if let (_, slot) = ctx.directory.locate(r.id), Int(slot) < slots.count, slots.id(at: Int(slot)) == r.id {
            let old = slots[Int(slot)]
            guard r.status.stage > old.status.stage else { return }
            slots[Int(slot)] = r
            if old.status.holdsSeat {
                seats[p].index.remove(start: old.start)
                ctx.ledger.release(user: old.userID, start: old.start, end: old.end)
            }
            if r.status.holdsSeat {
                let ok = seats[p].index.insert(start: r.start, end: r.end, handle: slot)
                precondition(ok, "restored reservation \(r.id) overlaps another on seat \(r.seatID)")
                ctx.ledger.restore(user: r.userID, id: r.id, holding: .init(start: r.start, end: r.end))
            }
            return
        }
        let slot = UInt32(slots.nextSlot)
        slots.store(r)
        ctx.directory.register(id: r.id, seat: r.seatID, slot: slot)
        if r.status.holdsSeat {
            let ok = seats[p].index.insert(start: r.start, end: r.end, handle: slot)
            precondition(ok, "restored reservation \(r.id) overlaps another on seat \(r.seatID)")
        }
        ctx.ledger.restore(
            user: r.userID, id: r.id, holding: r.status.holdsSeat ? .init(start: r.start, end: r.end) : nil)
    }

    /// Checks that every index is sorted and overlap-free and that index and slots agree.
    func checkInvariants() -> Bool {
        var holding = 0
        for s in seats {
            guard s.index.checkInvariants() else { return false }
            for e in s.index.all {
                let r = slots[Int(e.handle)]
                guard r.id != 0, r.status.holdsSeat, r.start == e.start, r.end == e.end, r.seatID == s.seat.id else {
                    return false
                }
            }
            holding += s.index.count
        }
        // Ids: every live slot's id is below the next id and the directory leads back to the slot.
        let highest = ctx.directory.highestID
        for slot in slots.indices where slots.id(at: slot) != 0 {
            let id = slots.id(at: slot)
            guard id <= highest, let (_, found) = ctx.directory.locate(id), Int(found) == slot else { return false }
        }
        return holding == slots.reduce(0) { $0 + ($1.id != 0 && $1.status.holdsSeat ? 1 : 0) }
    }

    func reserveCapacity(_ n: Int) { slots.reserveCapacity(n) }

    /// The shard's seats and reservations as of this actor turn (copy-on-write: no copy is made
    /// until the shard next changes them).
    func capture() -> (seats: [Seat], reservations: SlotStore) { (seats.map(\.seat), slots) }

    // MARK: - Retention

    /// Finished reservations (completed, cancelled, no-show) that ended before `cutoff`, at most
    /// `limit`.
    func finished(endedBefore cutoff: Timestamp, limit: Int) -> [Reservation] {
        var out: [Reservation] = []
        for slot in slots.indices where slots.id(at: slot) != 0 {
            let r = slots[slot]
            if !r.status.holdsSeat && r.end < cutoff {
                out.append(r)
                if out.count >= limit { break }
            }
        }
        return out
    }

    /// Drops reservations that are now in the archive from memory (their slots are reused); each
    /// only if it is still finished and unchanged.
    func forget(_ archived: [Reservation]) {
        for r in archived {
            guard let (_, slot) = ctx.directory.locate(r.id), Int(slot) < slots.count,
                slots.id(at: Int(slot)) == r.id, slots[Int(slot)] == r, !r.status.holdsSeat
            else { continue }
            slots.kill(Int(slot))
            ctx.directory.remove(id: r.id)
            ctx.ledger.forget(user: r.userID, id: r.id)
        }
    }

    /// Reservations in memory (live slots).
    var liveReservations: Int { slots.liveCount }

    /// Restores many recorded reservations in one actor turn (recovery).
    func restore(_ batch: [Reservation]) {
        for r in batch { restore(r) }
    }
}

extension Branch {
    /// The platform's time zone of a branch (`nil` for UTC).
    static func zone(_ identifier: String) -> TimeZone? {
        identifier == "UTC" ? nil : TimeZone(identifier: identifier)
    }

    /// The branch's offset from UTC at `t`, in seconds (daylight saving time included).
    func utcOffset(at t: Timestamp) -> Int {
        Self.zone(timeZone)?.secondsFromGMT(for: Date(timeIntervalSince1970: Double(t))) ?? 0
    }
}
