import DLSMSCore
import Synchronization

/// Waitlist entries, in the order they joined (ids increase with joining).
///
/// `WAITING` entries are indexed by what they wait for (a seat, or a branch), so that a freed seat
/// window looks only at the entries of that seat and of its branch.
final class Waitlist: Sendable {
    private struct State {
        var entries: [WaitlistEntryID: WaitlistEntry] = [:]
        /// The id the next entry gets (entries are pruned from memory; ids never go back).
        var nextID: WaitlistEntryID = 1
        var waitingBySeat: [SeatID: [WaitlistEntryID]] = [:]
        var waitingByBranch: [String: [WaitlistEntryID]] = [:]
        var byUser: [UserID: [WaitlistEntryID]] = [:]
        /// Entries in `OFFERED`, for the sweep (holds that ran out) and "one live offer per student".
        var offered: Set<WaitlistEntryID> = []
        /// The entry each hold was made for (any status).
        var byHold: [ReservationID: WaitlistEntryID] = [:]

        func entry(_ id: WaitlistEntryID) -> WaitlistEntry? { entries[id] }

        /// Appends `e`'s record and, once the journal took it, stores `e`.
        mutating func record(_ e: WaitlistEntry, journal: any Journal) -> Result<JournalTicket, EngineError> {
            do throws(EngineError) {
                let ticket = try journal.append(.waitlistChanged(e))
                put(e)
                return .success(ticket)
            } catch {
                return .failure(error)
            }
        }

        func hasLiveOffer(_ user: UserID) -> Bool {
            (byUser[user] ?? []).contains { offered.contains($0) }
        }

        mutating func removeWaiting(_ e: WaitlistEntry) {
            switch e.target {
            case .seat(let s): waitingBySeat[s]?.removeAll { $0 == e.id }
            case .branch(let b): waitingByBranch[b]?.removeAll { $0 == e.id }
            }
        }

        mutating func put(_ e: WaitlistEntry) {
            if let old = entries[e.id] {
                if old.status == .waiting { removeWaiting(old) }
            } else {
                Self.insertSorted(e.id, into: &byUser[e.userID, default: []])
            }
            entries[e.id] = e
            nextID = max(nextID, e.id + 1)
            if e.status == .offered { offered.insert(e.id) } else { offered.remove(e.id) }
            if let o = e.offer { byHold[o.reservationID] = e.id }
            if e.status == .waiting {
                switch e.target {
                case .seat(let s): Self.insertSorted(e.id, into: &waitingBySeat[s, default: []])
                case .branch(let b): Self.insertSorted(e.id, into: &waitingByBranch[b, default: []])
                }
            }
        }

        static func insertSorted(_ id: WaitlistEntryID, into list: inout [WaitlistEntryID]) {
            if let last = list.last, last > id {
                let i = list.firstIndex { $0 > id }!
                list.insert(id, at: i)
            } else {
                list.append(id)
            }
        }

        func position(_ e: WaitlistEntry) -> Int? {
            guard e.status == .waiting else { return nil }
            let list: [WaitlistEntryID]?
            switch e.target {
            case .seat(let s): list = waitingBySeat[s]
            case .branch(let b): list = waitingByBranch[b]
            }
            return list?.firstIndex(of: e.id).map { $0 + 1 }
        }
    }

    private let state = Mutex(State())

    /// A new `WAITING` entry; `limitReached` when the student already waits `limit` times.
    func join(
        user: UserID, target: WaitTarget, desired: Timestamp, end: Timestamp, now: Timestamp, limit: Int,
        journal: any Journal
    ) throws(EngineError) -> (entry: WaitlistEntry, position: Int?, ticket: JournalTicket) {
        let result: Result<(WaitlistEntry, Int?, JournalTicket), EngineError> = state.withLock { s in
            let waiting = s.byUser[user, default: []].reduce(0) { $0 + (s.entry($1)?.status == .waiting ? 1 : 0) }
            guard waiting < limit else { return .failure(.limitReached(limit: limit)) }
            let e = WaitlistEntry(
                id: s.nextID, userID: user, target: target, desiredTime: desired,
                endTime: end, createdAt: now)
            return s.record(e, journal: journal).map { (e, s.position(e), $0) }
        }
        return try result.get()
    }

    /// Cancels an entry of `user` (any user's if `asAdmin`). Another student's entry is `not_found`.
    func leave(user: UserID, id: WaitlistEntryID, asAdmin: Bool, journal: any Journal) throws(EngineError) -> (
        entry: WaitlistEntry, ticket: JournalTicket
    ) {
        let result: Result<(WaitlistEntry, JournalTicket), EngineError> = state.withLock { s in
            guard let previous = s.entry(id), asAdmin || previous.userID == user else {
                return .failure(.waitlistEntryNotFound(id))
            }
            guard previous.status == .waiting || previous.status == .notified else {
                return .failure(.invalidState("cannot leave a waitlist entry that is \(previous.status.name)"))
            }
            // (An OFFERED entry is left through its seat's shard, which releases the hold.)
            var e = previous
            e.status = .cancelled
            return s.record(e, journal: journal).map { (e, $0) }
        }
        return try result.get()
    }

    /// Stores a recorded entry (replay), unless the stored one is already as far along. Idempotent.
    func replay(_ e: WaitlistEntry) {
        state.withLock { s in
            if let old = s.entry(e.id), old.status.stage >= e.status.stage { return }
            s.put(e)
        }
    }

    /// The first `WAITING` entry (in joining order) for `seat` or `branch` whose window overlaps the
    /// freed `[freedStart, freedEnd)`, can still be booked (`desiredTime ≥ earliest`), is now
    /// entirely free on the seat (`isFree`), and whose student has no live offer already. `hold`
    /// places the hold on the seat (in the caller's shard turn) and returns the offer, or `nil` if
    /// the entry cannot be held now; the entry becomes `OFFERED`. One freed window, one offer.
    func offer(
        seat: SeatID, branch: String, freedStart: Timestamp, freedEnd: Timestamp, earliest: Timestamp,
        journal: any Journal, isFree: (Timestamp, Timestamp) -> Bool, hold: (WaitlistEntry) -> WaitlistOffer?
    ) -> Result<(WaitlistEntry, JournalTicket), EngineError>? {
        state.withLock { s in
            let a = s.waitingBySeat[seat] ?? []
            let b = s.waitingByBranch[branch] ?? []
            var i = 0
            var j = 0
            while i < a.count || j < b.count {
                let id: WaitlistEntryID
                if j >= b.count || (i < a.count && a[i] < b[j]) {
                    id = a[i]
                    i += 1
                } else {
                    id = b[j]
                    j += 1
                }
                guard let e = s.entry(id), var next = e.move(to: .offered) else { continue }
                guard e.desiredTime < freedEnd && freedStart < e.endTime, e.desiredTime >= earliest,
                    !s.hasLiveOffer(e.userID), isFree(e.desiredTime, e.endTime), let offer = hold(e)
                else { continue }
                next.offer = offer
                return s.record(next, journal: journal).map { (next, $0) }
            }
            return nil
        }
    }

    /// Moves an `OFFERED` entry on (accepted, declined, expired, cancelled) and appends its record.
    func resolveOffer(_ id: WaitlistEntryID, to status: WaitlistStatus, journal: any Journal)
        -> Result<(WaitlistEntry, JournalTicket), EngineError>
    {
        state.withLock { s in
            guard let e = s.entry(id), e.status == .offered, let next = e.move(to: status) else {
                return .failure(.invalidState("that waitlist entry has no open offer"))
            }
            return s.record(next, journal: journal).map { (next, $0) }
        }
    }

    /// The entry a hold was made for.
    func entry(forHold id: ReservationID) -> WaitlistEntry? {
        state.withLock { s in s.byHold[id].flatMap { s.entries[$0] } }
    }

    /// What `WAITING` entries wait for, and the seats that have a live offer now.
    func waitingTargets() -> (seats: Set<SeatID>, branches: Set<String>, offeredSeats: Set<SeatID>) {
        state.withLock { s in
            (
                Set(s.waitingBySeat.filter { !$0.value.isEmpty }.keys),
                Set(s.waitingByBranch.filter { !$0.value.isEmpty }.keys),
                Set(s.offered.compactMap { s.entries[$0]?.offer?.seatID })
            )
        }
    }

    /// `OFFERED` entries whose hold ran out by `now`: (entry, seat of the hold).
    func offersExpired(at now: Timestamp) -> [(WaitlistEntryID, SeatID)] {
        state.withLock { s in
            s.offered.compactMap { id in
                guard let e = s.entries[id], let o = e.offer, o.expiresAt <= now else { return nil }
                return (id, o.seatID)
            }.sorted { $0.0 < $1.0 }
        }
    }

    /// Every `WAITING` entry whose desired time is at or before `deadline` becomes `EXPIRED`.
    /// Also returns the ticket of the last record appended.
    func expire(desiredAtOrBefore deadline: Timestamp, journal: any Journal) -> ([WaitlistEntry], JournalTicket) {
        state.withLock { s in
            var expired: [WaitlistEntry] = []
            var last = JournalTicket.durable
            let ids = (Array(s.waitingBySeat.values.joined()) + Array(s.waitingByBranch.values.joined())).sorted()
            for id in ids {
                guard var e = s.entry(id), e.desiredTime <= deadline else { continue }
                e.status = .expired
                guard let ticket = try? journal.append(.waitlistChanged(e)) else { break }
                last = ticket
                s.put(e)
                expired.append(e)
            }
            return (expired, last)
        }
    }

    func entry(_ id: WaitlistEntryID) -> (entry: WaitlistEntry, position: Int?)? {
        state.withLock { s in s.entry(id).map { ($0, s.position($0)) } }
    }

    func entries(of user: UserID) -> [(entry: WaitlistEntry, position: Int?)] {
        state.withLock { s in
            (s.byUser[user] ?? []).compactMap { s.entry($0) }.map { ($0, s.position($0)) }
        }
    }

    /// The entries waiting for this very seat (not for its branch), in the order they joined.
    func waiting(seat: SeatID) -> [WaitlistEntry] {
        state.withLock { s in (s.waitingBySeat[seat] ?? []).compactMap { s.entry($0) } }
    }

    /// The `WAITING` and `OFFERED` entries that `matches` picks, in the order they joined.
    func live(where matches: (WaitlistEntry) -> Bool) -> [WaitlistEntry] {
        state.withLock { s in
            var ids = Array(s.offered)
            for list in s.waitingBySeat.values { ids += list }
            for list in s.waitingByBranch.values { ids += list }
            return ids.sorted().compactMap { s.entry($0) }.filter(matches)
        }
    }

    /// The first entry waiting for this very seat (not for its branch), in the order they joined.
    func firstWaiting(seat: SeatID) -> WaitlistEntry? {
        state.withLock { s in s.waitingBySeat[seat]?.first.flatMap { s.entry($0) } }
    }

    var all: [WaitlistEntry] { state.withLock { $0.entries.values.sorted { $0.id < $1.id } } }

    /// An erased account: every entry of it goes (its live ones were left before).
    func erase(user: UserID) {
        state.withLock { s in
            for id in s.byUser[user] ?? [] {
                guard let e = s.entries[id] else { continue }
                if e.status == .waiting { s.removeWaiting(e) }
                s.offered.remove(id)
                if let o = e.offer { s.byHold[o.reservationID] = nil }
                s.entries[id] = nil
            }
            s.byUser[user] = nil
        }
    }

    /// The id the next entry gets.
    var nextID: WaitlistEntryID { state.withLock { $0.nextID } }

    /// Makes the next id at least `next` (a snapshot's id floor).
    func raiseNext(to next: WaitlistEntryID) { state.withLock { $0.nextID = max($0.nextID, next) } }

    /// Keeps each student's newest `keep` finished entries (cancelled, expired, or notified for a
    /// window that has passed) in memory and drops older ones, and any finished entry whose window
    /// ended before `retainedAfter`; returns how many were dropped. Finished entries are history:
    /// they stay in the WAL and older snapshots, not in memory.
    func prune(keepFinishedPerUser keep: Int, now: Timestamp, retainedAfter: Timestamp) -> Int {
        state.withLock { s in
            var dropped = 0
            for (user, ids) in s.byUser {
                var finishedSeen = 0
                var kept: [WaitlistEntryID] = []
                for id in ids.reversed() {  // newest first
                    guard let e = s.entries[id] else { continue }
                    let finished = e.status != .waiting && (e.status != .notified || e.endTime < now)
                    if finished {
                        finishedSeen += 1
                        if finishedSeen > keep || e.endTime < retainedAfter {
                            s.entries[id] = nil
                            dropped += 1
                            continue
                        }
                    }
                    kept.append(id)
                }
                s.byUser[user] = kept.isEmpty ? nil : kept.reversed()
            }
            return dropped
        }
    }
}
