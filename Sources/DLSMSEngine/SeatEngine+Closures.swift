import DLSMSCore
import Foundation

/// What declaring or changing a closure did.
public struct ClosureOutcome: Sendable {
    public var branch: String
    public var closure: Closure
    /// Reservations cancelled (or stays ended) because the closure overlaps them.
    public var cancelled: [Reservation]
    /// Waitlist entries cancelled because their window overlaps the closure.
    public var waitlistCancelled: [WaitlistEntry]
}

/// Closures: times a branch, or one area of it, is closed (an exam, a holiday, maintenance).
///
/// A closure is part of its branch's record (durable, replayed, in snapshots like the hours). It
/// is in force in a shard from the turn that gives the shard's seats the new branch: that same
/// turn cancels the reservations it overlaps, and from then on ``SeatShard/place`` refuses bookings
/// inside it (`closed`). A booking placed in another shard before that shard's turn is cancelled
/// by the turn, so when the call returns no reservation is left inside the closure. After a crash
/// between the record and the cancellations, ``enforceClosures()`` at start finishes them.
extension SeatEngine {
    /// Declares a closure of the branch (`area` empty) or of one of its areas for
    /// `[start, end)`; cancels what it overlaps, each holder notified with `reason`.
    public func declareClosure(branch name: String, area: String, start: Timestamp, end: Timestamp, reason: String)
        async throws(EngineError) -> ClosureOutcome
    {
        let now = clock.now()
        try Self.validateClosure(area: area, start: start, end: end, reason: reason, now: now)
        var made: Closure?
        guard
            let (branch, seats) = try await recordCatalog({ c throws(EngineError) in
                guard var b = c.branch(named: name) else { throw .branchNotFound(name) }
                try Self.check(area: area, of: b)
                b.closures.removeAll { $0.end <= now - Closure.keptAfterEnd }
                guard b.closures.count < Closure.maxPerBranch else {
                    throw .limitReached(limit: Closure.maxPerBranch)
                }
                let serial = max(b.closureSerial, b.closures.map(\.id).max() ?? 0)
                let closure = Closure(id: serial + 1, area: area, start: start, end: end, reason: reason)
                b.closures.append(closure)
                b.closureSerial = closure.id
                made = closure
                return b
            })
        else { throw .branchNotFound(name) }
        return try await enforce(made!, of: branch, seats: seats, now: now)
    }

    /// Changes a closure's time or reason (not its area); what the new time overlaps is cancelled.
    /// Reservations a shorter closure no longer overlaps stay cancelled.
    public func changeClosure(
        branch name: String, id: Int64, start: Timestamp?, end: Timestamp?, reason: String?
    ) async throws(EngineError) -> ClosureOutcome {
        let now = clock.now()
        var changed: Closure?
        guard
            let (branch, seats) = try await recordCatalog({ c throws(EngineError) in
                guard var b = c.branch(named: name) else { throw .branchNotFound(name) }
                guard let i = b.closures.firstIndex(where: { $0.id == id }) else { throw .closureNotFound(id) }
                var closure = b.closures[i]
                closure.start = start ?? closure.start
                closure.end = end ?? closure.end
                closure.reason = reason ?? closure.reason
                try Self.validateClosure(
                    area: closure.area, start: closure.start, end: closure.end, reason: closure.reason, now: now)
                b.closures[i] = closure
                changed = closure
                return b
            })
        else { throw .branchNotFound(name) }
        return try await enforce(changed!, of: branch, seats: seats, now: now)
    }

    /// Removes a closure: its time can be booked again. What it cancelled stays cancelled.
    public func removeClosure(branch name: String, id: Int64) async throws(EngineError) -> Closure {
        var removed: Closure?
        guard
            let (branch, seats) = try await recordCatalog({ c throws(EngineError) in
                guard var b = c.branch(named: name) else { throw .branchNotFound(name) }
                guard let i = b.closures.firstIndex(where: { $0.id == id }) else { throw .closureNotFound(id) }
                removed = b.closures.remove(at: i)
                return b
            })
        else { throw .branchNotFound(name) }
        await propagate(branch, to: seats)
        // Time it held may serve someone waiting.
        try await offerFreeTime()
        return removed!
    }

    /// A branch's closures, by start; ended ones only with `includingPast`.
    public func closures(branch name: String, includingPast: Bool) throws(EngineError) -> [Closure] {
        guard let b = branch(named: name) else { throw .branchNotFound(name) }
        let now = clock.now()
        return b.closures.filter { includingPast || $0.end > now }.sorted { ($0.start, $0.id) < ($1.start, $1.id) }
    }

    /// Cancels whatever the closures of every branch overlap and was left (a crash between a
    /// closure's record and its cancellations); run once recovery is done. The holders are notified.
    @discardableResult
    public func enforceClosures() async throws(EngineError) -> Int {
        let now = clock.now()
        var count = 0
        for shard in shards {
            let (cancelled, batch) = await shard.enforceClosures(
                branch: nil, of: nil, only: nil, announce: false, now: now)
            try await batch.commit(hub: notifications, health: context.health)
            count += cancelled.count
        }
        for b in branchList {
            for c in b.closures where c.end > now {
                count += try await cancelWaiting(in: c, of: b, now: now).count
            }
        }
        return count
    }

    /// Gives the branch's seats its new copy and, in the same turn of each shard, cancels what
    /// the closure overlaps; then the waitlist entries it overlaps.
    private func enforce(_ closure: Closure, of copy: BranchCopy, seats: [SeatID], now: Timestamp)
        async throws(EngineError) -> ClosureOutcome
    {
        let branch = copy.branch
        var cancelled: [Reservation] = []
        for (s, ids) in perShard(seats, seat: { $0 }).enumerated() where !ids.isEmpty {
            let (done, batch) = await shards[s].enforceClosures(
                branch: copy, of: ids, only: closure.id, announce: true, now: now)
            try await batch.commit(hub: notifications, health: context.health)
            cancelled += done
        }
        let entries = try await cancelWaiting(in: closure, of: branch, now: now)
        cancelled.sort { $0.id < $1.id }
        return ClosureOutcome(branch: branch.name, closure: closure, cancelled: cancelled, waitlistCancelled: entries)
    }

    /// Cancels the live waitlist entries whose window overlaps `closure`: entries for a seat it
    /// closes, for the whole branch when it closes the whole branch, and offers holding a seat it
    /// closes (the hold is released). Each holder is notified with the reason.
    private func cancelWaiting(in closure: Closure, of branch: Branch, now: Timestamp) async throws(EngineError)
        -> [WaitlistEntry]
    {
        // Entries in the closure's time first: with none (the usual case, and at every start),
        // the branch's seats are not searched.
        let inTime = context.waitlist.live { closure.overlaps($0.desiredTime, $0.endTime) }
        guard !inTime.isEmpty else { return [] }
        let closedSeats = Set(
            await searchSeats(SeatFilter(branch: branch.name, area: closure.area.isEmpty ? nil : closure.area)).map(
                \.seat.id))
        let affected = inTime.filter { e in
            if let seat = e.offer?.seatID, e.status == .offered { return closedSeats.contains(seat) }
            switch e.target {
            case .seat(let id): return closedSeats.contains(id)
            case .branch(let name): return name == branch.name && closure.area.isEmpty
            }
        }
        var cancelled: [WaitlistEntry] = []
        for entry in affected {
            let left: WaitlistEntry
            if entry.status == .offered {
                guard let (e, _) = try? await resolveOffer(entry.id, .leave, requester: nil) else { continue }
                left = e
            } else {
                guard
                    let done = try? context.waitlist.leave(
                        user: entry.userID, id: entry.id, asAdmin: true, journal: context.journal)
                else { continue }  // it moved on meanwhile
                try await context.health.commit(done.ticket)
                left = done.entry
            }
            let seat: SeatID =
                switch entry.target {
                case .seat(let id): id
                case .branch: entry.offer?.seatID ?? 0
                }
            try await notify(
                user: entry.userID, kind: .reservationCancelled,
                message:
                    "Your waitlist entry \(entry.id) was cancelled: \(branch.name)\(closure.area.isEmpty ? "" : " (\(closure.area))") is closed \(RFC3339.format(closure.start)) to \(RFC3339.format(closure.end)): \(closure.reason)",
                seat: seat, start: entry.desiredTime, end: entry.endTime)
            cancelled.append(left)
        }
        return cancelled
    }

    /// Offers free time to waiting entries now (as the sweep does), e.g. after a closure is removed.
    private func offerFreeTime() async throws(EngineError) {
        let now = clock.now()
        for shard in shards {
            let batch = await shard.offerFreeTimeNow(now: now)
            try await batch.commit(hub: notifications, health: context.health)
        }
    }

    static func validateClosure(area: String, start: Timestamp, end: Timestamp, reason: String, now: Timestamp)
        throws(EngineError)
    {
        try BookingRules.validateText(reason, field: "reason", maxBytes: 200, required: true)
        guard end > start else { throw .invalidTimeRange }
        guard end > now else { throw .badRequest("the closure has ended already: end_time lies in the past") }
        guard end - start <= Closure.maxDuration else {
            throw .badRequest("a closure lasts at most \(Closure.maxDuration / 86_400) days")
        }
        guard start <= now + Closure.maxAdvance else {
            throw .badRequest("a closure starts at most \(Closure.maxAdvance / 86_400) days ahead")
        }
    }

    static func check(area: String, of branch: Branch) throws(EngineError) {
        guard area.isEmpty || branch.areas.contains(area) else {
            throw .badRequest("\(branch.name) has no area '\(area.prefix(100))'")
        }
    }
}
