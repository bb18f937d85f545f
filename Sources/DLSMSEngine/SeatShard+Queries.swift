import DLSMSCore
import Foundation

/// Reads: one reservation, listings, seat search, figures.
extension SeatShard {
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

    /// A seat as a query sees it now: occupied, and whether its holder stepped away.
    func view(_ s: SeatState, now: Timestamp, available: Bool) -> SeatView {
        guard let e = s.index.entry(at: now) else {
            return SeatView(seat: s.seat, occupiedNow: false, isAvailable: available)
        }
        let away = slots[Int(e.handle)].extras.awayUntil.map { $0 > now } ?? false
        return SeatView(seat: s.seat, occupiedNow: true, isAvailable: available, awayNow: away)
    }

    func search(_ filter: SeatFilter, start: Timestamp, end: Timestamp, now: Timestamp) -> [SeatView] {
        var views: [SeatView] = []
        views.reserveCapacity(seats.count)
        forEachMatch(filter, start: start, end: end) { s, available in
            views.append(view(s, now: now, available: available))
        }
        return views
    }

    /// This shard's part of a page: how many seats match in all, how many after the cursor, and the
    /// views of the first `limit` of those (seat id order).
    func searchPage(
        _ filter: SeatFilter, start: Timestamp, end: Timestamp, now: Timestamp, after: SeatID, limit: Int
    ) -> SeatPagePart {
        var part = SeatPagePart()
        part.views.reserveCapacity(Swift.min(limit, seats.count))
        forEachMatch(filter, start: start, end: end) { s, available in
            part.matched += 1
            guard s.seat.id > after else { return }
            part.afterCursor += 1
            if part.views.count < limit {
                part.views.append(view(s, now: now, available: available))
            }
        }
        return part
    }

    /// The ids of the first `limit` matching seats after `after` (an offset turned into a cursor).
    func matchingIDs(_ filter: SeatFilter, start: Timestamp, end: Timestamp, after: SeatID, limit: Int) -> [SeatID] {
        var ids: [SeatID] = []
        forEachMatch(filter, start: start, end: end) { s, _ in
            if s.seat.id > after && ids.count < limit { ids.append(s.seat.id) }
        }
        return ids
    }

    /// Calls `body` with each seat matching `filter` (in seat id order) and whether it is bookable
    /// for `[start, end)`.
    private func forEachMatch(
        _ filter: SeatFilter, start: Timestamp, end: Timestamp, _ body: (SeatState, Bool) -> Void
    ) {
        let candidates: [Int]
        if let wanted = filter.ids {
            candidates = wanted.compactMap { positions[$0] }.sorted { seats[$0].seat.id < seats[$1].seat.id }
        } else {
            switch (filter.branch, filter.area) {
            case (let branch?, let area?): candidates = byArea[branch]?[area] ?? []
            case (let branch?, nil): candidates = byBranch[branch] ?? []
            default: candidates = Array(seats.indices)
            }
        }
        // Whether each branch is open for the whole window: once per branch, not per seat.
        var open: [String: Bool] = [:]
        for i in candidates {
            let s = seats[i]
            guard !s.seat.retired && filter.matches(s.seat) else { continue }
            var available = !s.seat.inMaintenance && s.index.isFree(start: start, end: end)
            if available && !s.branch.openingHours.isAlwaysOpen {
                let name = s.seat.branch
                if open[name] == nil { open[name] = s.permits(start: start, end: end) }
                available = open[name]!
            }
            if available && s.closure(overlapping: start, end) != nil { available = false }
            if filter.availableOnly && !available { continue }
            body(s, available)
        }
    }

    func detail(seat id: SeatID, start: Timestamp, end: Timestamp, now: Timestamp) throws(EngineError) -> (
        SeatView, [BusyInterval]
    ) {
        guard let p = positions[id], !seats[p].seat.retired else { throw .seatNotFound(id) }
        let s = seats[p]
        let busy = s.index.busy(start: start, end: end).map { BusyInterval(start: $0.start, end: $0.end) }
        let seen = view(
            s, now: now, available: !s.seat.inMaintenance && busy.isEmpty && s.closure(overlapping: start, end) == nil)
        return (seen, busy)
    }

    /// Per branch: total, power, monitor and free-now seat counts (a closed branch has none free).
    func branchCounts(now: Timestamp) -> [String: (total: Int, power: Int, monitor: Int, available: Int)] {
        var counts: [String: (total: Int, power: Int, monitor: Int, available: Int)] = [:]
        forEachLiveSeat(now: now) { seat, free in
            var c = counts[seat.branch, default: (0, 0, 0, 0)]
            c.total += 1
            c.power += seat.hasPower ? 1 : 0
            c.monitor += seat.hasMonitor ? 1 : 0
            c.available += free ? 1 : 0
            counts[seat.branch] = c
        }
        return counts
    }

    /// The seats of `branch` (and `area`, if given) still in the library, each free now and free
    /// for the whole next hour: what a display at the entrance shows.
    func displaySeats(branch: String, area: String?, now: Timestamp) -> [DisplaySeat] {
        var out: [DisplaySeat] = []
        for i in seats.indices where !seats[i].seat.retired && seats[i].seat.branch == branch {
            let seat = seats[i].seat
            if let area, seat.area != area { continue }
            func free(_ end: Timestamp) -> Bool {
                !seat.inMaintenance && seats[i].index.isFree(start: now, end: end)
                    && seats[i].permits(start: now, end: end) && seats[i].closure(overlapping: now, end) == nil
            }
            out.append(DisplaySeat(seat: seat, freeNow: free(now + 1), freeNextHour: free(now + Seconds.hour)))
        }
        return out
    }

    /// Seats in the library and free now, per branch and area.
    func areaCounts(now: Timestamp) -> [String: [String: (total: Int, free: Int)]] {
        var counts: [String: [String: (total: Int, free: Int)]] = [:]
        forEachLiveSeat(now: now) { seat, free in
            var c = counts[seat.branch, default: [:]][seat.area, default: (0, 0)]
            c.total += 1
            c.free += free ? 1 : 0
            counts[seat.branch, default: [:]][seat.area] = c
        }
        return counts
    }

    /// Each seat still in the library, and whether it is free now: not in maintenance, held by no
    /// reservation, its branch open and not closed.
    private func forEachLiveSeat(now: Timestamp, _ body: (Seat, Bool) -> Void) {
        var open: [String: Bool] = [:]
        for i in seats.indices where !seats[i].seat.retired {
            let seat = seats[i].seat
            if open[seat.branch] == nil { open[seat.branch] = seats[i].permits(start: now, end: now + 1) }
            let closed = seats[i].closure(overlapping: now, now + 1) != nil
            body(seat, !seat.inMaintenance && seats[i].index.entry(at: now) == nil && open[seat.branch]! && !closed)
        }
    }

    /// Per-branch figures of this shard's seats.
    func statistics(now: Timestamp) -> [BranchStatistics] {
        var byBranch: [String: BranchStatistics] = [:]
        var branchOfSeat: [SeatID: String] = [:]
        for i in seats.indices {
            let name = seats[i].seat.branch
            branchOfSeat[seats[i].seat.id] = name
            // A retired seat's reservations still count for its branch; the seat itself does not.
            if seats[i].seat.retired {
                _ = byBranch[name, default: BranchStatistics(branch: name)]
                continue
            }
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
}

extension SeatShard {
    /// Confirmed reservations overlapping `[from, to)`, each with its student's check-in window
    /// (the email reminders).
    func confirmed(overlapping from: Timestamp, _ to: Timestamp) -> [(Reservation, opens: Timestamp, closes: Timestamp)]
    {
        var out: [(Reservation, opens: Timestamp, closes: Timestamp)] = []
        for state in seats {
            for e in state.index.busy(start: from, end: to) {
                let r = slots[Int(e.handle)]
                guard r.status == .confirmed else { continue }
                let window = ctx.policies.effective(for: r.userID).rules.checkInWindow(
                    start: r.start, createdAt: r.createdAt)
                out.append((r, window.opens, window.closes))
            }
        }
        return out
    }
}
