import DLSMSCore
import Foundation
import Synchronization

/// The waitlist, and the sweep that acts on time (no-shows, completions, expiry).
extension SeatEngine {
    // MARK: - Waitlist

    /// Waits for a seat (or any seat of a branch) for `[desired, end)`; `end` defaults to one hour later.
    public func joinWaitlist(user: UserID, target: WaitTarget, desired: Timestamp, end: Timestamp? = nil)
        async throws(EngineError) -> (entry: WaitlistEntry, position: Int?)
    {
        let now = clock.now()
        let end = end ?? desired + Seconds.hour
        let hours: OpeningHours?
        let mine = context.policies.effective(for: user)
        let rules = mine.rules
        switch target {
        case .seat(let id):
            let branch = catalog.withLock { c in c.liveBranch(ofSeat: id).flatMap { c.branch(named: $0) } }
            try rules.validateWindow(
                start: desired, end: end, now: now, openingHours: branch?.openingHours, zone: branch?.zone ?? .utc)
            guard let branch, let seat = await shard(for: id).seat(id) else { throw .seatNotFound(id) }
            if let c = branch.closure(area: seat.area, overlapping: desired, end) { throw .closed(reason: c.reason) }
            let restrictions = context.policies.restrictions
            if !restrictions.isEmpty && !mine.mayBook(seat, restrictions: restrictions) {
                throw .notAllowedForGroup(groups: restrictions.groups(for: seat) ?? [])
            }
        case .branch(let name):
            let branch = catalog.withLock { $0.branch(named: name) }
            hours = branch?.openingHours
            try rules.validateWindow(
                start: desired, end: end, now: now, openingHours: hours, zone: branch?.zone ?? .utc)
            guard let branch else { throw .branchNotFound(name) }
            // Closed areas leave the others; only a closure of the whole branch refuses.
            if let c = branch.closure(area: "", overlapping: desired, end) {
                throw .closed(reason: c.reason)
            }
        }
        // Whatever the student holds, they may wait (a wish to move to another seat); an offer is
        // made only where the seat is free for the window, and accepting it applies the limits.
        try context.health.check()
        try context.policies.checkNotSuspended(user, now: now)
        let joined = try context.waitlist.join(
            user: user, target: target, desired: desired, end: end, now: now, limit: rules.maxWaitingPerUser,
            journal: context.journal)
        try await context.health.commit(joined.ticket)
        return (joined.entry, joined.position)
    }

    public func leaveWaitlist(id: WaitlistEntryID, requester: Requester) async throws(EngineError) -> WaitlistEntry {
        try context.health.check()
        if let (entry, _) = context.waitlist.entry(id), entry.status == .offered,
            requester.isAdmin || entry.userID == requester.userID
        {
            return try await resolveOffer(id, .leave, requester: requester).0  // releases the hold
        }
        let left = try context.waitlist.leave(
            user: requester.userID, id: id, asAdmin: requester.isAdmin, journal: context.journal)
        try await context.health.commit(left.ticket)
        return left.entry
    }

    /// Takes the seat held for waitlist entry `id`: the hold becomes a `CONFIRMED` reservation,
    /// with the per-student limits applied now. Past the hold: `offer_expired` (and the seat goes
    /// on); a limit: the limit's error (and the offer is declined).
    public func acceptOffer(id: WaitlistEntryID, requester: Requester) async throws(EngineError) -> (
        entry: WaitlistEntry, reservation: Reservation, secondsSinceFreed: Int64
    ) {
        let (entry, reservation) = try await resolveOffer(id, .accept, requester: requester)
        guard let reservation else { throw .invalidState("the offer was not accepted") }
        return (entry, reservation, clock.now() - (entry.offer?.madeAt ?? clock.now()))
    }

    /// Passes the seat held for waitlist entry `id` on to the next in line.
    public func declineOffer(id: WaitlistEntryID, requester: Requester) async throws(EngineError) -> WaitlistEntry {
        try await resolveOffer(id, .decline, requester: requester).0
    }

    func resolveOffer(_ id: WaitlistEntryID, _ outcome: SeatShard.OfferOutcome, requester: Requester?)
        async throws(EngineError) -> (WaitlistEntry, Reservation?)
    {
        guard let (entry, _) = context.waitlist.entry(id) else { throw .waitlistEntryNotFound(id) }
        guard let seat = entry.offer?.seatID else {
            if let requester, !(requester.isAdmin || requester.userID == entry.userID) {
                throw .waitlistEntryNotFound(id)
            }
            throw .invalidState("waitlist entry \(id) has no offer (it is \(entry.status.name))")
        }
        let shard = shard(for: seat)
        let resolved: (WaitlistEntry, Reservation?, SeatShard.Batch)
        do {
            resolved = try await shard.resolveOffer(id, outcome, requester: requester, now: clock.now())
        } catch {
            try await refusing(error)
        }
        try await resolved.2.commit(hub: notifications, health: context.health)
        if let refusal = resolved.2.refusal { throw refusal }
        return (resolved.0, resolved.1)
    }

    /// Offer figures (made, accepted, declined, expired, time to acceptance).
    /// Sends `message` to the first student waiting for `seat` (a `staff_message` notification,
    /// durable like every other), as the original's gRPC `NotifyUsers` did; the entry keeps its
    /// place. `nil` when nobody waits for the seat.
    public func messageFirstWaiting(seat: SeatID, message: String) async throws(EngineError) -> (
        entry: WaitlistEntry, user: User
    )? {
        guard catalog.withLock({ $0.liveBranch(ofSeat: seat) }) != nil else { throw .seatNotFound(seat) }
        try context.health.check()
        guard let entry = context.waitlist.firstWaiting(seat: seat), let user = users.user(id: entry.userID) else {
            return nil
        }
        try await notify(
            user: user.id, kind: .staffMessage, message: message, seat: seat, start: entry.desiredTime,
            end: entry.endTime)
        return (entry, user)
    }

    /// A notification outside any shard's turn: recorded, durable, then published.
    func notify(
        user: UserID, kind: NotificationKind, message: String, seat: SeatID, start: Timestamp, end: Timestamp
    ) async throws(EngineError) {
        let created = notifications.create(
            user: user, kind: kind, message: message, seat: seat, start: start, end: end, now: clock.now(),
            journal: context.journal)
        switch created {
        case .failure(let error):
            context.health.fail(error)
            throw error
        case .success(let (n, ticket)):
            try await context.health.commit(ticket)
            notifications.publish(n.id)
        }
    }

    /// Cancels the entries still waiting for this very seat (it was retired), each holder told why.
    func cancelWaiting(seat: SeatID, label: String, reason: String) async throws(EngineError) {
        for entry in context.waitlist.waiting(seat: seat) {
            guard
                let left = try? context.waitlist.leave(
                    user: entry.userID, id: entry.id, asAdmin: true, journal: context.journal)
            else { continue }  // it moved on meanwhile
            try await context.health.commit(left.ticket)
            try await notify(
                user: entry.userID, kind: .reservationCancelled,
                message: "Your waitlist entry \(entry.id) for seat \(label) was cancelled by the library: \(reason)",
                seat: seat, start: entry.desiredTime, end: entry.endTime)
        }
    }

    public var offerFigures: OfferStatistics.Figures { context.offers.figures }

    public func waitlist(of user: UserID) -> [(entry: WaitlistEntry, position: Int?)] {
        context.waitlist.entries(of: user)
    }

    public func waitlistEntry(_ id: WaitlistEntryID) -> (entry: WaitlistEntry, position: Int?)? {
        context.waitlist.entry(id)
    }

    // MARK: - Sweep

    /// Applies and returns every transition due at `now`: no-shows (freeing the seat and notifying
    /// the waitlist), completions, and expiry of waitlist entries whose desired time is past the grace.
    public func sweep(now: Timestamp) async -> SweepReport {
        guard context.health.failed == nil else { return SweepReport() }
        // Holds that ran out pass on to the next in line (each in its seat's shard).
        var offersExpired: [WaitlistEntry] = []
        for (id, _) in context.waitlist.offersExpired(at: now) {
            if let (e, _) = try? await resolveOffer(id, .expire, requester: nil) { offersExpired.append(e) }
        }
        let hub = notifications
        let health = context.health
        var report = await withTaskGroup(of: SweepReport.self) { group in
            for shard in shards {
                group.addTask {
                    let (report, batch) = await shard.sweep(now: now)
                    do {
                        try await batch.commit(hub: hub, health: health)
                        return report
                    } catch {
                        return SweepReport()
                    }
                }
            }
            var merged = SweepReport()
            for await part in group { merged.merge(part) }
            return merged
        }
        let (expired, ticket) = context.waitlist.expire(desiredAtOrBefore: now - rules.grace, journal: context.journal)
        if (try? await context.health.commit(ticket)) != nil { report.expired = expired }
        report.expired += offersExpired
        report.noShows.sort { $0.id < $1.id }
        report.completed.sort { $0.id < $1.id }
        report.notified.sort { $0.id < $1.id }
        return report
    }
}
