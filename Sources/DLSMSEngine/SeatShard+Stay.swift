import DLSMSCore
import Foundation

/// The seat over the day, in one shard's turn each: extend, step away and back, and the steps of
/// the bookings that span shards (a move, seats together; see ``SeatEngine/move(id:to:requester:override:)``).
extension SeatShard {
    // MARK: - Extend

    /// Extends a `CONFIRMED` or `CHECKED_IN` reservation that has not ended to `end`, in this one
    /// turn: the seat must be free until then (a waitlist hold or another booking in the way is a
    /// `seat_conflict`), open and not closed, and the student's rules must allow the longer stay
    /// (maximum duration, days ahead, hours per day and week).
    func extend(
        id: ReservationID, slot: UInt32, requester: Requester, to end: Timestamp, now: Timestamp, override: Bool
    ) throws(EngineError) -> (Reservation, Batch) {
        try ctx.health.check()
        let r = try reservation(id: id, slot: slot, requester: requester)
        let effective = ctx.policies.effective(for: r.userID)
        if !override { try ctx.policies.checkNotSuspended(r.userID, now: now) }
        guard r.status == .confirmed || r.status == .checkedIn, r.end > now else {
            throw .invalidState(
                "reservation \(id) is \(r.status.name)\(r.end <= now ? " and has ended" : ""): only a confirmed or checked-in stay that has not ended can be extended"
            )
        }
        guard end > r.end else {
            throw .badRequest("end_time must be after the reservation's end (\(RFC3339.format(r.end)))")
        }
        let rules = override ? BookingRules.lenient(ctx.rules, effective.rules) : effective.rules
        if end - r.start > rules.maxDuration { throw .tooLong(maximumSeconds: rules.maxDuration) }
        guard let p = positions[r.seatID] else { throw .seatNotFound(r.seatID) }
        let state = seats[p]
        guard state.permits(start: r.start, end: end) else { throw .outsideOpeningHours }
        if let c = state.closure(overlapping: r.end, end) { throw .closed(reason: c.reason) }
        guard !state.seat.inMaintenance else { throw .seatInMaintenance(r.seatID) }
        guard state.index.isFree(start: r.end, end: end) else { throw .seatConflict }
        let limits = override ? Self.unlimited(rules) : rules
        _ = try ctx.ledger.replace(
            user: r.userID, old: .init(start: r.start, end: r.end), start: r.start, end: end, now: now, rules: limits,
            caps: limits.hourCaps(start: r.start, end: end, calendar: state.calendar))
        var next = r
        next.end = end
        state.index.remove(start: r.start)
        _ = state.index.insert(start: r.start, end: end, handle: slot)
        slots[Int(slot)] = next
        var batch = Batch()
        batch.append(.reservationChanged(next), journal: ctx.journal)
        if requester.userID != r.userID {
            notify(
                user: r.userID, kind: .bookedByStaff,
                message: "The library staff extended reservation \(id) on seat \(r.seatID) to \(RFC3339.format(end)).",
                seat: r.seatID, start: r.start, end: end, now: now, into: &batch)
        }
        return (next, batch)
    }

    // MARK: - Step away

    /// A checked-in student steps away: the seat stays theirs until now + the away limit (never
    /// beyond the stay's end), at most the policy's number of times per stay.
    func stepAway(id: ReservationID, slot: UInt32, requester: Requester, now: Timestamp) throws(EngineError) -> (
        Reservation, Batch
    ) {
        try ctx.health.check()
        let r = try reservation(id: id, slot: slot, requester: requester)
        let rules = ctx.policies.effective(for: r.userID)
        guard r.status == .checkedIn, r.end > now else {
            throw .invalidState(
                "only a checked-in stay that has not ended can step away; reservation \(id) is \(r.status.name)")
        }
        if let until = r.extras.awayUntil {
            throw .invalidState("reservation \(id) is away already, until \(RFC3339.format(until))")
        }
        guard r.extras.awayCount < rules.rules.awayTimes else { throw .awayLimit(times: rules.rules.awayTimes) }
        var next = r
        next.extras.awayUntil = min(r.end, now + rules.rules.awayLimit)
        next.extras.awayCount += 1
        slots[Int(slot)] = next
        var batch = Batch()
        batch.append(.reservationChanged(next), journal: ctx.journal)
        return (next, batch)
    }

    /// The student is back (the button, or the seat's code scanned): the away time ends.
    func comeBack(id: ReservationID, slot: UInt32, requester: Requester, now: Timestamp) throws(EngineError) -> (
        Reservation, Batch
    ) {
        try ctx.health.check()
        let r = try reservation(id: id, slot: slot, requester: requester)
        guard r.status == .checkedIn, let until = r.extras.awayUntil else {
            throw .invalidState("reservation \(id) is not away (it is \(r.status.name))")
        }
        // Too late: the stay ended when the away time ran out (the sweep records it).
        guard now < until else {
            throw .invalidState(
                "the away time of reservation \(id) ran out at \(RFC3339.format(until)): the stay has ended")
        }
        var next = r
        next.extras.awayUntil = nil
        slots[Int(slot)] = next
        var batch = Batch()
        batch.append(.reservationChanged(next), journal: ctx.journal)
        return (next, batch)
    }

    /// The caller's checked-in stay on `seat` that is away now (a scan of the seat's code ends it).
    func awayStay(seat: SeatID, user: UserID, now: Timestamp) -> (ReservationID, UInt32)? {
        guard let p = positions[seat] else { return nil }
        for e in seats[p].index.busy(start: now, end: now + 1) {
            let r = slots[Int(e.handle)]
            if r.userID == user && r.status == .checkedIn && r.extras.awayUntil != nil { return (r.id, e.handle) }
        }
        return nil
    }

    /// Sweep: a stay whose away time ran out ends then (`COMPLETED`); the rest of its window is
    /// freed and offered; a strike when the student's policy says so.
    func endOverdueAways(now: Timestamp, into batch: inout Batch) -> [Reservation] {
        var due: [(UInt32, Reservation)] = []
        for p in seats.indices {
            for e in seats[p].index.prefix(startingAtOrBefore: now) {
                let r = slots[Int(e.handle)]
                if r.status == .checkedIn, let until = r.extras.awayUntil, until <= now, r.end > until {
                    due.append((e.handle, r))
                }
            }
        }
        var ended: [Reservation] = []
        for (slot, r) in due {
            var next = r
            next.status = .completed
            next.end = max(r.start, r.extras.awayUntil ?? now)
            change(slot: slot, from: r, to: next, by: .checkout(at: next.end), now: now, into: &batch)
            notify(
                user: r.userID, kind: .awayEnded,
                message:
                    "You did not come back to seat \(r.seatID) by \(RFC3339.format(next.end)): reservation \(r.id) ended then and the seat was freed.",
                seat: r.seatID, start: r.start, end: r.end, now: now, into: &batch)
            if ctx.policies.effective(for: r.userID).strikes.awayStrike {
                strike(r, reason: .noShow, now: now, into: &batch)
            }
            ended.append(next)
        }
        return ended
    }

    // MARK: - Placing across shards

    /// Takes `[start, end)` on a seat for a booking that another step decides (a move, seats
    /// together): the seat's checks and the student's group and release time as for a booking,
    /// then a placeholder in the seat's index. Nothing is recorded and no id exists yet: the
    /// placeholder's slot holds id 0, so lists and the sweep pass it by, while the index keeps
    /// everyone else off that time. ``settle(slot:as:now:)`` turns it into the reservation, or
    /// ``abandon(slot:seat:start:now:)`` gives it back. The seat's calendar comes with the slot
    /// (for the hours caps, which are counted outside this shard).
    func placeholder(
        seat seatID: SeatID, user: UserID, start: Timestamp, end: Timestamp, now: Timestamp, rules: EffectiveRules,
        override: Bool
    ) throws(EngineError) -> (slot: UInt32, calendar: Calendar) {
        try ctx.health.check()
        guard let p = positions[seatID] else { throw .seatNotFound(seatID) }
        if !override { try checkPolicy(seat: p, start: start, now: now, rules: rules) }
        let position = try seats[p].insertionPoint(start: start, end: end)
        let slot = UInt32(slots.nextSlot)
        seats[p].index.insert(start: start, end: end, handle: slot, at: position)
        slots.store(
            Reservation(id: 0, seatID: seatID, userID: user, start: start, end: end, status: .held, createdAt: now))
        return (slot, seats[p].calendar)
    }

    /// The placeholder at `slot` becomes `r` (recorded already, by the step that decided it).
    /// A catalog change that came in between (the seat retired or out of service, a closure)
    /// applies to it at once, as it would have to a booking made a moment earlier.
    func settle(slot: UInt32, as r: Reservation, now: Timestamp, notice: (NotificationKind, String)?) -> Batch {
        var batch = Batch()
        guard let p = positions[r.seatID] else { return batch }
        slots[Int(slot)] = r
        if let (kind, message) = notice {
            notify(
                user: r.userID, kind: kind, message: message, seat: r.seatID, start: r.start, end: r.end, now: now,
                into: &batch)
        }
        let state = seats[p]
        if state.seat.retired || state.seat.inMaintenance || state.closure(overlapping: max(now, r.start), r.end) != nil
        {
            _ = cancelByLibrary(
                slot: slot, r, label: state.seat.displayLabel, why: "the seat is no longer available then.", now: now,
                into: &batch)
        }
        return batch
    }

    /// Gives back a placeholder's time (the booking it was for did not happen), and offers it on.
    func abandon(slot: UInt32, seat: SeatID, start: Timestamp, end: Timestamp, now: Timestamp) -> Batch {
        var batch = Batch()
        guard let p = positions[seat], Int(slot) < slots.count, slots.id(at: Int(slot)) == 0 else { return batch }
        seats[p].index.remove(start: start)
        slots.kill(Int(slot))
        if max(start, now) < end {
            claimWaitlist(seat: p, freedStart: max(start, now), freedEnd: end, now: now, into: &batch)
        }
        return batch
    }

    /// The old side of a move, in this one turn, with the decision: the reservation at `slot`
    /// leaves its seat (not begun: cancelled; under way: it ends now) and the new one, whose
    /// place `target` holds already in its own seat's index, is recorded with it in one
    /// ``JournalRecord/together(_:)`` record. The student's limits see the swap as one step.
    func moveOut(
        id: ReservationID, slot: UInt32, requester: Requester, to target: MoveTarget, now: Timestamp,
        limits: BookingRules
    ) throws(EngineError) -> (old: Reservation, new: Reservation, batch: Batch) {
        try ctx.health.check()
        let r = try reservation(id: id, slot: slot, requester: requester)
        guard r.status == .confirmed || r.status == .checkedIn, r.end == target.end, max(r.start, now) == target.start
        else {
            throw .invalidState("reservation \(id) changed while it was being moved; try again")
        }
        let directory = ctx.directory
        let newID = try ctx.ledger.replace(
            user: r.userID, old: .init(start: r.start, end: r.end), start: target.start, end: target.end, now: now,
            rules: limits, caps: target.caps,
            used: r.status == .checkedIn ? .init(start: r.start, end: max(r.start, min(now, r.end))) : nil,
            allocate: { directory.allocate(seat: target.seat, slot: target.slot) })!
        let transition: ReservationTransition = r.status == .checkedIn ? .checkout(at: now) : .cancel(at: now)
        let old: Reservation
        do {
            old = try r.applying(transition)
        } catch {
            throw EngineError(error)
        }
        // A checked-in stay moves with its step away (the timer goes on: moving is no way out of it).
        let away = r.status == .checkedIn ? r.extras.awayUntil : nil
        let extras = ReservationExtras(
            awayUntil: away, awayCount: r.extras.awayCount, seriesID: r.extras.seriesID, groupID: r.extras.groupID,
            movedFrom: r.id)
        let new = Reservation(
            id: newID, seatID: target.seat, userID: r.userID, start: target.start, end: target.end,
            status: r.status == .checkedIn ? .checkedIn : .confirmed, createdAt: now,
            checkedInAt: r.status == .checkedIn ? now : nil, extras: extras)
        var batch = Batch()
        batch.append(.together([.reservationChanged(old), .reservationCreated(new)]), journal: ctx.journal)
        change(slot: slot, from: r, to: old, by: transition, now: now, into: &batch, recorded: true)
        return (old, new, batch)
    }
}

/// Where a move goes: the seat, the window (the rest of the old one) and the placeholder's slot.
struct MoveTarget: Sendable {
    var seat: SeatID
    var start: Timestamp
    var end: Timestamp
    var slot: UInt32
    var caps: [HoursCap]
}
