import DLSMSCore
import Foundation
import Synchronization

/// Branches and seats: defining them, and reading them (search, detail, branch figures).
extension SeatEngine {
    // MARK: - Catalog

    /// Adds or replaces a branch (by name).
    public func define(branch: Branch) async throws(EngineError) {
        try context.health.check()
        let journal = context.journal
        let result: Result<(JournalTicket, [SeatID]), EngineError> = catalog.withLock { c in
            do throws(EngineError) {
                let ticket = try journal.append(.branchDefined(branch))
                return .success((ticket, c.put(branch)))
            } catch {
                return .failure(error)
            }
        }
        let (ticket, seats) = try result.get()
        await propagate(branch, to: seats)
        try await context.health.commit(ticket)
    }

    public func define(seat: Seat) async throws(EngineError) {
        try context.health.check()
        guard let branch = catalog.withLock({ $0.branch(named: seat.branch) }) else {
            throw .branchNotFound(seat.branch)
        }
        let ticket = try await shard(for: seat.id).define(seat: seat, branch: branch, journal: context.journal)
        catalog.withLock { $0.seatBranch[seat.id] = seat.branch }
        try await context.health.commit(ticket)
    }

    /// Takes a seat out of service (it can no longer be booked) or puts it back.
    public func setMaintenance(seat id: SeatID, _ inMaintenance: Bool) async throws(EngineError) -> Seat {
        guard var seat = await shard(for: id).seat(id) else { throw .seatNotFound(id) }
        let wasOut = seat.inMaintenance
        seat.inMaintenance = inMaintenance
        try await define(seat: seat)
        if wasOut && !inMaintenance {
            // Back in service: its free time can serve the first in line.
            let batch = await shard(for: id).offerFreedSeat(id, now: clock.now())
            try await batch.commit(hub: notifications, health: context.health)
        }
        return seat
    }

    func apply(branch: Branch) async {
        await propagate(branch, to: catalog.withLock { $0.put(branch) })
    }

    /// Seats keep a copy of their branch (opening hours, time zone). Each shard updates its seats
    /// in one actor turn, changing only the branch: a seat is never read in one turn and written
    /// back in another, which could undo a maintenance change made in between.
    func propagate(_ branch: Branch, to seats: [SeatID]) async {
        var perShard = [[SeatID]](repeating: [], count: shards.count)
        for id in seats { perShard[Int(UInt32(bitPattern: id) % UInt32(shards.count))].append(id) }
        for (s, ids) in perShard.enumerated() where !ids.isEmpty { await shards[s].setBranch(branch, of: ids) }
    }

    func apply(seat: Seat, branch: Branch) async {
        catalog.withLock { $0.seatBranch[seat.id] = seat.branch }
        await shard(for: seat.id).define(seat: seat, branch: branch)
    }

    public var branchList: [Branch] { catalog.withLock { $0.branches } }

    public func branch(named name: String) -> Branch? { catalog.withLock { $0.branch(named: name) } }

    // MARK: - Seats

    /// Seats matching `filter`, with availability for `[start, end)` (default: this instant), by id.
    public func searchSeats(_ filter: SeatFilter, start: Timestamp? = nil, end: Timestamp? = nil) async -> [SeatView] {
        let now = clock.now()
        let a = start ?? now
        let b = end ?? (now + 1)
        // Each shard answers in seat id order; merging keeps it (no sort of the whole result).
        let parts = await withTaskGroup(of: [SeatView].self) { group in
            for shard in shards { group.addTask { await shard.search(filter, start: a, end: b, now: now) } }
            return await group.reduce(into: [[SeatView]]()) { $0.append($1) }
        }
        return Self.merge(parts)
    }

    /// Merges lists each sorted by seat id into one sorted list.
    static func merge(_ parts: [[SeatView]]) -> [SeatView] {
        let nonEmpty = parts.filter { !$0.isEmpty }
        if nonEmpty.count <= 1 { return nonEmpty.first ?? [] }
        var heads = [Int](repeating: 0, count: nonEmpty.count)
        var out: [SeatView] = []
        out.reserveCapacity(nonEmpty.reduce(0) { $0 + $1.count })
        while true {
            var best = -1
            for (k, part) in nonEmpty.enumerated() where heads[k] < part.count {
                if best < 0 || part[heads[k]].seat.id < nonEmpty[best][heads[best]].seat.id { best = k }
            }
            guard best >= 0 else { return out }
            out.append(nonEmpty[best][heads[best]])
            heads[best] += 1
        }
    }

    /// One seat, with the busy intervals overlapping `[start, end)`.
    public func seat(_ id: SeatID, start: Timestamp, end: Timestamp) async throws(EngineError) -> (
        SeatView, [BusyInterval]
    ) {
        try await shard(for: id).detail(seat: id, start: start, end: end, now: clock.now())
    }

    /// Branch statistics, in the order branches were defined.
    public func branches() async -> [BranchSummary] {
        let now = clock.now()
        let parts = await fanOut(shards.map { _ in now }) { shard, now in [await shard.branchCounts(now: now)] }
        return branchList.map { b in
            var s = BranchSummary(branch: b, totalSeats: 0, powerSeats: 0, monitorSeats: 0, availableSeats: 0)
            for part in parts {
                guard let c = part[b.name] else { continue }
                s.totalSeats += c.total
                s.powerSeats += c.power
                s.monitorSeats += c.monitor
                s.availableSeats += c.available
            }
            return s
        }
    }
}
