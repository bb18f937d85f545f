import DLSMSCore
import Foundation

/// Status changes (check-in, checkout, cancel, the sweep's no-shows and completions) and what
/// they set off: freed seat time offered to the waitlist, notifications.
extension SeatShard {
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
    func change(
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

    func claimWaitlist(
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

    func notify(
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
}
