import DLSMSCore
import Foundation

/// Status changes (check-in, checkout, cancel, the sweep's no-shows and completions) and what
/// they set off: freed seat time offered to the waitlist, notifications.
extension SeatShard {
    // MARK: - Status changes

    enum Action: Sendable {
        case checkIn
        /// Check-in with the seat's code: proves presence.
        case checkInAtSeat
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
        guard r.status != .held else {
            throw .invalidState("reservation \(id) is a seat held for a waitlist offer: accept or decline the offer")
        }
        let transition: ReservationTransition
        switch (action, r.status) {
        case (.checkIn, .confirmed), (.checkInAtSeat, .confirmed):
            if case .checkIn = action, !requester.isAdmin, let p = positions[r.seatID],
                seats[p].branch.presenceCheckIn
            {
                throw .presenceRequired
            }
            let window = ctx.policies.effective(for: r.userID).rules.checkInWindow(
                start: r.start, createdAt: r.createdAt)
            guard now >= window.opens && now < window.closes else {
                throw .checkinWindow(opens: window.opens, closes: window.closes)
            }
            transition = .checkIn(at: now)
        case (.checkIn, _), (.checkInAtSeat, _):
            throw EngineError(InvalidTransition(from: r.status, transition: .checkIn(at: now)))
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
        if case .cancel = transition, !requester.isAdmin, r.status == .confirmed {
            let late = ctx.policies.effective(for: r.userID).strikes.lateCancel
            if late > 0 && now > r.start - late { strike(r, reason: .lateCancel, now: now, into: &batch) }
        } else if case .cancel = transition, requester.isAdmin, requester.userID != r.userID {
            notify(
                user: r.userID, kind: .reservationCancelled,
                message: "Reservation \(r.id) on seat \(r.seatID) was cancelled by the library staff.",
                seat: r.seatID, start: r.start, end: r.end, now: now, into: &batch)
        }
        return (next, batch)
    }

    /// The changes of one actor turn and their journal tickets, committed together.
    struct Batch: Sendable {
        /// Waitlist entries this batch moved to `NOTIFIED`.
        var claimed: [WaitlistEntry] = []
        var notifications: [NotificationID] = []
        var ticket = JournalTicket.durable
        var failure: EngineError?
        /// A refusal to report once the batch is durable (an offer declined for a limit, or run out).
        var refusal: EngineError?

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
    ///
    /// `recorded`: the caller appended the record already (a move records both seats in one);
    /// the ledger is then the caller's too.
    func change(
        slot: UInt32, from r: Reservation, to next: Reservation, by transition: ReservationTransition, now: Timestamp,
        into batch: inout Batch, recorded: Bool = false
    ) {
        guard let p = positions[r.seatID] else { return }
        slots[Int(slot)] = next
        if next.status == .held { heldSlots.insert(slot) } else { heldSlots.remove(slot) }
        if r.status.holdsSeat && !next.status.holdsSeat {
            seats[p].index.remove(start: r.start)
            if r.status.countsTowardLimits && !recorded {
                ctx.ledger.release(
                    user: r.userID, start: r.start, end: r.end, usedUntil: next.status == .completed ? next.end : nil)
            }
        }
        if !recorded { batch.append(.reservationChanged(next), journal: ctx.journal) }
        switch transition {
        case .noShow:
            notify(
                user: r.userID, kind: .reservationNoShow,
                message:
                    "Reservation \(r.id) on seat \(r.seatID) was released: nobody checked in within the grace period.",
                seat: r.seatID, start: r.start, end: r.end, now: now, into: &batch)
            strike(r, reason: .noShow, now: now, into: &batch)
        case .complete:
            notify(
                user: r.userID, kind: .reservationCompleted,
                message: "Your stay on seat \(r.seatID) (reservation \(r.id)) has ended.",
                seat: r.seatID, start: r.start, end: r.end, now: now, into: &batch)
        default: break
        }
        // A hold released (offer declined, expired, left): the window frees for the next in line.
        if r.status.holdsSeat && !next.status.holdsSeat {
            // Cancel, no-show and checkout free the rest of the slot: [max(start, now), end).
            let freedStart = max(r.start, now)
            if freedStart < r.end {
                claimWaitlist(seat: p, freedStart: freedStart, freedEnd: r.end, now: now, into: &batch)
            }
        }
    }

    /// Offers freed seat time to the first waiting entry it can serve: a `HELD` reservation of
    /// the entry's window on this seat, for ``BookingRules/offerHold`` (never beyond the window's
    /// start plus the grace period), and a `seat_offered` notification.
    func claimWaitlist(
        seat p: Int, freedStart: Timestamp, freedEnd: Timestamp, now: Timestamp, into batch: inout Batch
    ) {
        let state = seats[p]
        guard !state.seat.inMaintenance, !state.seat.retired, batch.failure == nil else { return }
        let index = state.index
        var holdRecord: (Reservation, Result<JournalTicket, EngineError>)?
        let rules = ctx.rules
        let claim = ctx.waitlist.offer(
            seat: state.seat.id, branch: state.seat.branch, freedStart: freedStart, freedEnd: freedEnd,
            earliest: now - rules.pastTolerance, journal: ctx.journal,
            isFree: { index.isFree(start: $0, end: $1) && state.bookable(start: $0, end: $1) },
            hold: { entry in
                let mine = ctx.policies.effective(for: entry.userID)
                let expires = min(now + rules.offerHold, mine.rules.noShowDeadline(start: entry.desiredTime))
                // Offered only to a student whose limits, group and standing let them take it (else
                // they keep waiting).
                guard expires > now,
                    (try? checkPolicy(seat: p, start: entry.desiredTime, now: now, rules: mine)) != nil,
                    ctx.policies.suspension(of: entry.userID, now: now) == nil,
                    ctx.ledger.admits(
                        user: entry.userID, start: entry.desiredTime, end: entry.endTime, now: now, rules: mine.rules,
                        caps: mine.rules.hourCaps(
                            start: entry.desiredTime, end: entry.endTime, calendar: state.calendar)),
                    let position = seats[p].index.insertionPoint(start: entry.desiredTime, end: entry.endTime)
                else { return nil }
                let slot = UInt32(slots.nextSlot)
                let id = ctx.directory.allocate(seat: state.seat.id, slot: slot)
                let hold = Reservation(
                    id: id, seatID: state.seat.id, userID: entry.userID, start: entry.desiredTime, end: entry.endTime,
                    status: .held, createdAt: now)
                seats[p].index.insert(start: hold.start, end: hold.end, handle: slot, at: position)
                slots.store(hold)
                heldSlots.insert(slot)
                holdRecord = (
                    hold,
                    Result(catching: { () throws(EngineError) -> JournalTicket in
                        try ctx.journal.append(.reservationCreated(hold))
                    })
                )
                return WaitlistOffer(seatID: state.seat.id, reservationID: id, expiresAt: expires, madeAt: now)
            })
        if let (_, appended) = holdRecord { batch.note(appended) }
        guard let claim else { return }
        batch.note(claim.map(\.1))
        guard case .success(let (entry, _)) = claim, let offer = entry.offer else { return }
        batch.claimed.append(entry)
        ctx.offers.made()
        notify(
            user: entry.userID, kind: .seatOffered,
            message:
                "Seat \(state.seat.id) (\(state.seat.branch), \(state.seat.area)) is held for you until \(RFC3339.format(offer.expiresAt)). Accept waitlist entry \(entry.id) to book it.",
            seat: state.seat.id, start: entry.desiredTime, end: entry.endTime, now: now, into: &batch)
    }

    // MARK: - Offers

    /// A seat back in service: its free time, up to the booking horizon, is offered to the first
    /// waiting entry it can serve.
    func offerFreedSeat(_ id: SeatID, now: Timestamp) -> Batch {
        var batch = Batch()
        guard let p = positions[id] else { return batch }
        claimWaitlist(seat: p, freedStart: now, freedEnd: now + ctx.rules.maxAdvance, now: now, into: &batch)
        return batch
    }

    enum OfferOutcome: Sendable {
        case accept
        case decline
        case expire
        /// The student left the waitlist while offered.
        case leave
    }

    /// Resolves the offer of waitlist entry `id`, whose hold is on one of this shard's seats. All
    /// of an offer's moves happen here, in the hold's shard, so they are serialised. Accepting
    /// applies the per-student limits now; a student who cannot take the seat because of a limit
    /// declines it, with the limit as the reason. Declining, expiry and leaving release the hold,
    /// and the window goes to the next in line.
    func resolveOffer(
        _ id: WaitlistEntryID, _ outcome: OfferOutcome, requester: Requester?, now: Timestamp
    ) throws(EngineError) -> (WaitlistEntry, Reservation?, Batch) {
        try ctx.health.check()
        guard let (entry, _) = ctx.waitlist.entry(id),
            requester.map({ $0.isAdmin || $0.userID == entry.userID }) ?? true
        else { throw .waitlistEntryNotFound(id) }
        guard entry.status == .offered, let offer = entry.offer,
            let (_, slot) = ctx.directory.locate(offer.reservationID), Int(slot) < slots.count,
            slots.id(at: Int(slot)) == offer.reservationID
        else {
            if entry.status == .expired && outcome == .accept { throw .offerExpired }
            throw .invalidState("waitlist entry \(id) has no open offer (it is \(entry.status.name))")
        }
        let hold = slots[Int(slot)]
        var batch = Batch()
        var outcome = outcome
        var refusal: EngineError?
        if outcome == .accept, let (instead, reason) = acceptanceRefusal(hold, offer: offer, now: now) {
            outcome = instead
            refusal = reason
        }
        let status: WaitlistStatus =
            switch outcome {
            case .accept: .accepted
            case .decline: .declined
            case .expire: .expired
            case .leave: .cancelled
            }
        let resolved = ctx.waitlist.resolveOffer(id, to: status, journal: ctx.journal)
        batch.note(resolved.map(\.1))
        guard case .success(let (next, _)) = resolved else { throw batch.failure ?? .invalidState("offer not open") }
        let transition: ReservationTransition = outcome == .accept ? .accept(at: now) : .cancel(at: now)
        guard let moved = try? hold.applying(transition) else {
            throw .invalidState("the hold cannot \(transition.name)")
        }
        change(slot: slot, from: hold, to: moved, by: transition, now: now, into: &batch)
        if outcome != .accept {
            // The released hold is the student's history from now on (as replay will list it).
            ctx.ledger.restore(user: hold.userID, id: hold.id, holding: nil)
        }
        switch outcome {
        case .accept: ctx.offers.accepted(after: now - offer.madeAt)
        case .expire:
            ctx.offers.expired()
            notify(
                user: hold.userID, kind: .offerExpired,
                message:
                    "The hold on seat \(hold.seatID) for your waitlist entry \(id) ran out; it went to the next in line.",
                seat: hold.seatID, start: hold.start, end: hold.end, now: now, into: &batch)
        case .decline, .leave: ctx.offers.declined()
        }
        if let refusal {
            // The move is recorded; the caller still hears why the acceptance did not happen.
            batch.refusal = refusal
        }
        return (next, outcome == .accept ? moved : nil, batch)
    }

    /// Why the student cannot accept `hold` now, with what the acceptance becomes instead; nil
    /// when they can, and then the ledger holds it for them under their limits.
    private func acceptanceRefusal(
        _ hold: Reservation, offer: WaitlistOffer, now: Timestamp
    ) -> (OfferOutcome, EngineError)? {
        if now >= offer.expiresAt { return (.expire, .offerExpired) }
        if let p = positions[hold.seatID], seats[p].seat.inMaintenance {
            return (.decline, .seatInMaintenance(hold.seatID))  // the seat went out of service while held
        }
        if let p = positions[hold.seatID], let c = seats[p].closure(overlapping: hold.start, hold.end) {
            return (.decline, .closed(reason: c.reason))  // a closure came while held
        }
        do {
            let mine = ctx.policies.effective(for: hold.userID)
            try ctx.policies.checkNotSuspended(hold.userID, now: now)
            let calendar = positions[hold.seatID].map { seats[$0].calendar } ?? OpeningHours.calendar(.utc)
            _ = try ctx.ledger.admit(
                user: hold.userID, start: hold.start, end: hold.end, now: now, rules: mine.rules,
                caps: mine.rules.hourCaps(start: hold.start, end: hold.end, calendar: calendar),
                allocate: { hold.id })
        } catch {
            return (.decline, error)  // a limit: the student cannot take it, and the next in line can
        }
        return nil
    }

    /// Records a strike against the holder of `r`, with its notifications (and the suspension's,
    /// when this strike begins one).
    func strike(_ r: Reservation, reason: Strike.Reason, now: Timestamp, into batch: inout Batch) {
        guard batch.failure == nil else { return }
        let recorded = ctx.policies.recordStrike(
            user: r.userID, reason: reason, reservation: r, now: now, journal: ctx.journal)
        batch.note(recorded.map(\.1))
        guard case .success(let (strike, _, suspension)) = recorded else { return }
        let rules = ctx.policies.effective(for: r.userID).strikes
        notify(
            user: r.userID, kind: .strikeRecorded,
            message:
                "A strike was recorded (\(strike.description)). It counts until \(RFC3339.format(strike.at + rules.window)); \(rules.threshold) within \(rules.window / Seconds.day) days suspend booking for \(rules.suspension / Seconds.day) days.",
            seat: r.seatID, start: r.start, end: r.end, now: now, into: &batch)
        if let suspension {
            notify(
                user: r.userID, kind: .suspended,
                message:
                    "Booking is suspended until \(RFC3339.format(suspension.until)): \(suspension.strikes.map(\.description).joined(separator: "; ")).",
                seat: r.seatID, start: r.start, end: r.end, now: now, into: &batch)
        }
    }

    /// The library ends a reservation (its seat retired, a closure): a confirmed one is cancelled,
    /// a checked-in stay ends now; the holder is told "… was cancelled by the library: `why`".
    func cancelByLibrary(
        slot: UInt32, _ r: Reservation, label: String, why: String, now: Timestamp, into batch: inout Batch
    ) -> Reservation? {
        let transition: ReservationTransition = r.status == .checkedIn ? .checkout(at: now) : .cancel(at: now)
        guard let next = try? r.applying(transition) else { return nil }
        change(slot: slot, from: r, to: next, by: transition, now: now, into: &batch)
        notify(
            user: r.userID, kind: .reservationCancelled,
            message: "Reservation \(r.id) on seat \(label) was cancelled by the library: \(why)", seat: r.seatID,
            start: r.start, end: r.end, now: now, into: &batch)
        return next
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
        var batch = Batch()
        var report = SweepReport()
        // Stays whose student stepped away and did not come back end first (at the away limit).
        report.completed = endOverdueAways(now: now, into: &batch)
        var due: [(UInt32, Reservation, ReservationTransition)] = []
        var closedBy: [UInt32: (Closure, String)] = [:]
        for p in seats.indices {
            // Entries are ordered by start and by end, so the due ones are a prefix.
            for e in seats[p].index.prefix(startingAtOrBefore: now) {
                let r = slots[Int(e.handle)]
                if r.status == .confirmed
                    && now
                        >= ctx.policies.effective(for: r.userID).rules.noShowDeadline(
                            start: r.start, createdAt: r.createdAt)
                {
                    due.append((e.handle, r, .noShow(at: now)))
                } else if r.status == .checkedIn && now >= r.end {
                    due.append((e.handle, r, .complete(at: now)))
                } else if r.status == .checkedIn, let c = seats[p].closure(overlapping: now, now + 1) {
                    due.append((e.handle, r, .checkout(at: now)))  // a closure began: the stay ends
                    closedBy[e.handle] = (c, seats[p].seat.displayLabel)
                }
            }
        }
        for (slot, r, t) in due {
            guard let next = try? r.applying(t) else { continue }
            change(slot: slot, from: r, to: next, by: t, now: now, into: &batch)
            if let (c, label) = closedBy[slot] {
                notify(
                    user: r.userID, kind: .reservationCancelled,
                    message:
                        "Your stay on seat \(label) (reservation \(r.id)) ended: the library is closed now: \(c.reason)",
                    seat: r.seatID, start: r.start, end: r.end, now: now, into: &batch)
            }
            if next.status == .noShow { report.noShows.append(next) } else { report.completed.append(next) }
        }
        reconcileHolds(now: now, into: &batch)
        offerFreeTime(now: now, into: &batch)
        report.notified = batch.claimed
        return (report, batch)
    }

    /// A hold and its offer are two records; after a cut between them (a crash, a point-in-time
    /// restore) they may disagree. A hold whose entry was accepted becomes the booking; a hold
    /// whose entry is no longer offered (or has none) is released, and its time offered on.
    func reconcileHolds(now: Timestamp, into batch: inout Batch) {
        for slot in heldSlots.sorted() {
            let hold = slots[Int(slot)]
            guard hold.status == .held else {
                heldSlots.remove(slot)
                continue
            }
            let entry = ctx.waitlist.entry(forHold: hold.id)
            switch entry?.status {
            case .offered? where entry?.offer?.reservationID == hold.id: continue
            case .accepted?:
                guard let next = try? hold.applying(.accept(at: now)) else { continue }
                ctx.ledger.restore(user: hold.userID, id: hold.id, holding: .init(start: hold.start, end: hold.end))
                change(slot: slot, from: hold, to: next, by: .accept(at: now), now: now, into: &batch)
            default:
                guard let next = try? hold.applying(.cancel(at: now)) else { continue }
                ctx.ledger.restore(user: hold.userID, id: hold.id, holding: nil)
                change(slot: slot, from: hold, to: next, by: .cancel(at: now), now: now, into: &batch)
            }
        }
    }

    /// ``offerFreeTime(now:into:)`` in a turn of its own; the caller commits the batch.
    func offerFreeTimeNow(now: Timestamp) -> Batch {
        var batch = Batch()
        offerFreeTime(now: now, into: &batch)
        return batch
    }

    /// Free time on seats that someone waits for (the seat, or its branch) and that have no live
    /// offer is offered, one seat window at a time: time freed while an entry was skipped (its
    /// student had another offer), the rest of a window after an acceptance, a seat back in service.
    func offerFreeTime(now: Timestamp, into batch: inout Batch) {
        let (waitingSeats, waitingBranches, offeredSeats) = ctx.waitlist.waitingTargets()
        guard !waitingSeats.isEmpty || !waitingBranches.isEmpty else { return }
        for p in seats.indices {
            let seat = seats[p].seat
            guard !seat.inMaintenance, !seat.retired, !offeredSeats.contains(seat.id),
                waitingSeats.contains(seat.id) || waitingBranches.contains(seat.branch)
            else { continue }
            claimWaitlist(seat: p, freedStart: now, freedEnd: now + ctx.rules.maxAdvance, now: now, into: &batch)
        }
    }
}

// MARK: - Closures

extension SeatShard {
    /// Enforces closures in this one turn: gives `ids` (every seat of the shard when `nil`) the
    /// branch `branch` (when given), then cancels each `CONFIRMED` reservation that overlaps one
    /// of the seat's closures and has not ended, and ends each `CHECKED_IN` stay whose closure has
    /// begun; the holders are notified with the closure's reason. A `CHECKED_IN` stay that a
    /// closure will interrupt later is ended by the sweep when the closure begins; with `announce`
    /// its holder is told now. Held seats belong to waitlist offers, which the engine cancels.
    func enforceClosures(branch: BranchCopy?, of ids: [SeatID]?, only: Int64?, announce: Bool, now: Timestamp) -> (
        cancelled: [Reservation], batch: Batch
    ) {
        var batch = Batch()
        var cancelled: [Reservation] = []
        guard (try? ctx.health.check()) != nil else { return (cancelled, batch) }
        let positions = ids.map { $0.compactMap { self.positions[$0] } } ?? Array(seats.indices)
        let newest = branch.map { newestCopy($0) }
        for p in positions {
            if let (branch, calendar) = newest { seats[p].set(branch: branch, calendar: calendar) }
            enforceClosures(at: p, only: only, announce: announce, now: now, into: &batch, cancelled: &cancelled)
        }
        return (cancelled, batch)
    }

    /// The newest copy of a branch this shard has seen (`copy`, unless a newer one came first),
    /// with its calendar (made once per copy).
    func newestCopy(_ copy: BranchCopy) -> (Branch, Calendar) {
        if let known = branchCopies[copy.branch.name], known.version >= copy.version {
            return (known.branch, known.calendar)
        }
        let calendar = OpeningHours.calendar(copy.branch.zone)
        branchCopies[copy.branch.name] = (copy.version, copy.branch, calendar)
        return (copy.branch, calendar)
    }

    /// Enforces the closures of the seat at `p` (only the one with id `only`, when given, if the
    /// seat's copy of its branch still has it) in the caller's turn.
    func enforceClosures(
        at p: Int, only: Int64?, announce: Bool, now: Timestamp, into batch: inout Batch,
        cancelled: inout [Reservation]
    ) {
        guard !seats[p].closures.isEmpty else { return }
        var seen: Set<UInt32> = []
        var due: [(UInt32, Reservation, Closure)] = []
        for c in seats[p].closures where c.end > now && (only == nil || c.id == only) {
            for e in seats[p].index.busy(start: c.start, end: c.end) where seen.insert(e.handle).inserted {
                let r = slots[Int(e.handle)]
                if r.end > now && (r.status == .confirmed || r.status == .checkedIn) {
                    due.append((e.handle, r, c))
                }
            }
        }
        for (slot, r, c) in due {
            let label = seats[p].seat.displayLabel
            if r.status == .checkedIn && c.start > now {
                if announce {
                    notify(
                        user: r.userID, kind: .reservationCancelled,
                        message:
                            "Your stay on seat \(label) (reservation \(r.id)) ends at \(RFC3339.format(c.start)): the library closes it then: \(c.reason)",
                        seat: r.seatID, start: r.start, end: r.end, now: now, into: &batch)
                }
                continue
            }
            let why = "closed \(RFC3339.format(c.start)) to \(RFC3339.format(c.end)): \(c.reason)"
            guard let next = cancelByLibrary(slot: slot, r, label: label, why: why, now: now, into: &batch) else {
                continue
            }
            cancelled.append(next)
        }
    }
}

// MARK: - Check-in at the seat

extension SeatShard {
    /// The reservation of `user` on `seat` to check in to now: a `CONFIRMED` one whose check-in
    /// window is open (else the next one, whose window error the check-in will report; else one
    /// checked in already, for its error); `nil` when the student holds none on this seat.
    func reservationToCheckIn(seat: SeatID, user: UserID, now: Timestamp) -> (ReservationID, UInt32)? {
        guard let p = positions[seat] else { return nil }
        let rules = ctx.policies.effective(for: user).rules
        let held = seats[p].index.busy(start: now - rules.grace, end: now + rules.checkInOpensBefore + 1)
            .map { ($0.handle, slots[Int($0.handle)]) }.filter { $0.1.userID == user }
        let open = held.first { _, r in
            let w = rules.checkInWindow(start: r.start, createdAt: r.createdAt)
            return r.status == .confirmed && now >= w.opens && now < w.closes
        }
        let later = seats[p].index.busy(start: now, end: .max).lazy.map { ($0.handle, self.slots[Int($0.handle)]) }
            .first { $0.1.userID == user && $0.1.status == .confirmed }
        guard let (slot, r) = open ?? later ?? held.first else { return nil }
        return (r.id, slot)
    }
}
