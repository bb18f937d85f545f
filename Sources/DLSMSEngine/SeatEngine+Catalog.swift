import DLSMSCore
import Foundation
import Synchronization

/// Branches and seats: defining them, and reading them (search, detail, branch figures).
extension SeatEngine {
    // MARK: - Catalog

    /// Adds or replaces a branch (by name).
    public func define(branch: Branch) async throws(EngineError) {
        _ = try await changeCatalog { _ in branch }
    }

    /// Adds a new branch; `duplicate_branch` when the name is taken.
    public func create(branch: Branch) async throws(EngineError) {
        _ = try await changeCatalog { c throws(EngineError) in
            guard c.branch(named: branch.name) == nil else { throw .duplicateBranch(branch.name) }
            return branch
        }
    }

    /// A branch's time zone and opening hours, changed under the catalog lock (so that an area
    /// added meanwhile is kept).
    public func setHours(branch name: String, timeZone: String, hours: OpeningHours) async throws(EngineError) -> Branch
    {
        let changed = try await changeCatalog { c throws(EngineError) in
            guard var b = c.branch(named: name) else { throw .branchNotFound(name) }
            b.timeZone = timeZone
            b.openingHours = hours
            return b
        }
        guard let changed else { throw .branchNotFound(name) }
        return changed
    }

    /// Whether students of the branch check in only at the seat (its QR code).
    public func setPresenceCheckIn(branch name: String, required: Bool) async throws(EngineError) -> Branch {
        let changed = try await changeCatalog { c throws(EngineError) in
            guard var b = c.branch(named: name) else { throw .branchNotFound(name) }
            b.presenceCheckIn = required
            return b
        }
        guard let changed else { throw .branchNotFound(name) }
        return changed
    }

    /// Turns the branch's public display on or off.
    public func setDisplay(branch name: String, enabled: Bool) async throws(EngineError) -> Branch {
        let changed = try await changeCatalog { c throws(EngineError) in
            guard var b = c.branch(named: name) else { throw .branchNotFound(name) }
            b.displayOff = !enabled
            return b
        }
        guard let changed else { throw .branchNotFound(name) }
        return changed
    }

    /// Makes new seat codes for the branch: every printed one stops working.
    public func rotateSeatCodes(branch name: String) async throws(EngineError) -> Branch {
        let changed = try await changeCatalog { c throws(EngineError) in
            guard var b = c.branch(named: name) else { throw .branchNotFound(name) }
            b.seatCodeGeneration &+= 1
            return b
        }
        guard let changed else { throw .branchNotFound(name) }
        return changed
    }

    /// A seat still in the library with its branch's seat code generation, for making or
    /// checking its code.
    public func seatCodeSubject(_ id: SeatID) async -> (seat: Seat, generation: UInt32)? {
        guard let name = catalog.withLock({ $0.liveBranch(ofSeat: id) }), let branch = branch(named: name),
            let seat = await shard(for: id).seat(id), !seat.retired
        else { return nil }
        return (seat, branch.seatCodeGeneration)
    }

    /// Adds `area` to the branch if it is new.
    func addArea(_ area: String, to name: String) async throws(EngineError) {
        try await addAreas([area], to: name)
    }

    /// Adds the areas a branch does not have yet, in one change of the branch (a change copies the
    /// branch to each of its seats: one per area made a large import quadratic).
    func addAreas(_ areas: [String], to name: String) async throws(EngineError) {
        _ = try await changeCatalog { c throws(EngineError) in
            guard var b = c.branch(named: name) else { throw .branchNotFound(name) }
            let missing = areas.filter { !b.areas.contains($0) }
            guard !missing.isEmpty else { return nil }
            guard b.areas.count + missing.count <= Branch.maxAreas else {
                throw .badRequest("\(name) has \(Branch.maxAreas) areas already: put the seat in one of them")
            }
            b.areas += missing
            return b
        }
    }

    /// One change of a branch, decided and recorded under the catalog lock (so that concurrent
    /// changes never undo each other); `body` returns the branch's new state, or `nil` for no
    /// change. Its seats then get the new copy.
    func changeCatalog(_ body: (Catalog) throws(EngineError) -> Branch?) async throws(EngineError) -> Branch? {
        guard let (copy, seats) = try await recordCatalog(body) else { return nil }
        await propagate(copy, to: seats)
        return copy.branch
    }

    /// Decides and records one change of a branch under the catalog lock (as ``changeCatalog``),
    /// and waits until it is durable; the caller gives its seats the new copy. The branch and its seats.
    func recordCatalog(_ body: (Catalog) throws(EngineError) -> Branch?) async throws(EngineError) -> (
        BranchCopy, [SeatID]
    )? {
        try context.health.check()
        let journal = context.journal
        let result: Result<(BranchCopy, JournalTicket, [SeatID])?, EngineError> = catalog.withLock { c in
            do throws(EngineError) {
                guard let branch = try body(c) else { return .success(nil) }
                let ticket = try journal.append(.branchDefined(branch))
                let seats = c.put(branch)
                return .success((c.copy(named: branch.name)!, ticket, seats))
            } catch {
                return .failure(error)
            }
        }
        guard let (copy, ticket, seats) = try result.get() else { return nil }
        try await context.health.commit(ticket)
        return (copy, seats)
    }

    public func define(seat: Seat) async throws(EngineError) {
        try context.health.check()
        guard let branch = catalog.withLock({ $0.copy(named: seat.branch) }) else {
            throw .branchNotFound(seat.branch)
        }
        let ticket = try await shard(for: seat.id).define(seat: seat, branch: branch, journal: context.journal)
        catalog.withLock { c in
            c.seatBranch[seat.id] = seat.branch
            if seat.retired { c.retired.insert(seat.id) } else { c.retired.remove(seat.id) }
        }
        try await context.health.commit(ticket)
    }

    /// A new seat (`id` 0: one above the highest); its area is added to its branch if new.
    /// `duplicate_seat` when the id is taken.
    public func create(seat: Seat) async throws(EngineError) -> Seat {
        try await create(seats: [seat])[0]
    }

    /// New seats (`id` 0: the next above the highest), their areas added to their branches if new:
    /// the ids are taken in one pass under the catalog lock, each shard records its seats in one
    /// turn, and durability is waited for once per shard — so a catalog import's time grows with
    /// its number of seats, not faster. All the ids or none: `duplicate_seat` when one is taken.
    public func create(seats wanted: [Seat]) async throws(EngineError) -> [Seat] {
        try context.health.check()
        var areas: [String: [String]] = [:]
        for seat in wanted where !(areas[seat.branch]?.contains(seat.area) ?? false) {
            guard catalog.withLock({ $0.branch(named: seat.branch) }) != nil else {
                throw .branchNotFound(seat.branch)
            }
            areas[seat.branch, default: []].append(seat.area)
        }
        let reserved: Result<[Seat], EngineError> = catalog.withLock { c in
            var seats = wanted
            var highest = c.seatBranch.keys.max() ?? 0
            var gap: SeatID = 1  // the top id was given by hand: gaps from the bottom, in one pass
            for k in seats.indices {
                var id = seats[k].id
                if id == 0 {
                    if highest < SeatID.max {
                        id = max(1, highest + 1)
                    } else {
                        while gap < SeatID.max && c.seatBranch[gap] != nil { gap += 1 }
                        id = gap
                    }
                }
                guard c.seatBranch[id] == nil else {
                    for taken in seats[..<k] { c.seatBranch.removeValue(forKey: taken.id) }
                    return .failure(.duplicateSeat(id))
                }
                c.seatBranch[id] = seats[k].branch  // taken from now on
                highest = max(highest, id)
                seats[k].id = id
            }
            return .success(seats)
        }
        let seats = try reserved.get()
        do {
            for (branch, names) in areas { try await addAreas(names, to: branch) }
            try await define(seats: seats)
        } catch {
            catalog.withLock { c in for seat in seats { c.seatBranch.removeValue(forKey: seat.id) } }
            throw error
        }
        return seats
    }

    /// Records and adds seats whose ids are taken: one turn of each shard, then one wait for
    /// durability per shard.
    private func define(seats: [Seat]) async throws(EngineError) {
        var copies: [String: BranchCopy] = [:]
        for name in Set(seats.map(\.branch)) {
            guard let copy = catalog.withLock({ $0.copy(named: name) }) else { throw .branchNotFound(name) }
            copies[name] = copy
        }
        var parts = [[Seat]](repeating: [], count: shards.count)
        for seat in seats { parts[shardIndex(seat.id)].append(seat) }
        let journal = context.journal
        let branches = copies
        let outcomes = await fanOut(parts) { shard, part in
            part.isEmpty ? [] : [await shard.define(seats: part, branches: branches, journal: journal)]
        }
        catalog.withLock { c in
            for seat in seats {
                c.seatBranch[seat.id] = seat.branch
                if seat.retired { c.retired.insert(seat.id) } else { c.retired.remove(seat.id) }
            }
        }
        for outcome in outcomes {
            if let ticket = try outcome.get() { try await context.health.commit(ticket) }
        }
    }

    /// Changes a seat's description (not its id or branch) in one turn of its shard, so that a
    /// concurrent change (maintenance, another edit) is never undone; a new area is added to the
    /// branch.
    public func update(seat id: SeatID, _ change: @escaping @Sendable (inout Seat) -> Void) async throws(EngineError)
        -> Seat
    {
        try context.health.check()
        let shard = shard(for: id)
        guard var probe = await shard.seat(id), !probe.retired else { throw .seatNotFound(id) }
        let branchName = probe.branch
        change(&probe)
        try await addArea(probe.area, to: branchName)
        guard let branch = catalog.withLock({ $0.copy(named: branchName) }) else {
            throw .branchNotFound(branchName)
        }
        let (seat, batch) = try await shard.update(
            id, branch: branch, journal: context.journal, now: clock.now(), change)
        try await batch.commit(hub: notifications, health: context.health)
        return seat
    }

    /// Retires a seat for good (see ``SeatShard/retire(_:branch:cancelling:reason:now:)``); the
    /// reservations it cancelled.
    public func retire(seat id: SeatID, cancelling: Bool, reason: String) async throws(EngineError) -> [Reservation] {
        let shard = shard(for: id)
        guard let seat = await shard.seat(id), !seat.retired else { throw .seatNotFound(id) }
        guard let branch = catalog.withLock({ $0.copy(named: seat.branch) }) else {
            throw .branchNotFound(seat.branch)
        }
        let (cancelled, batch) = try await shard.retire(
            id, branch: branch, cancelling: cancelling, reason: reason, now: clock.now())
        catalog.withLock { _ = $0.retired.insert(id) }
        try await batch.commit(hub: notifications, health: context.health)
        try await cancelWaiting(seat: id, label: seat.displayLabel, reason: reason)
        return cancelled
    }

    /// Retires every seat of an area, then the area. Without `cancelling`, refused with
    /// `has_reservations` (the count over all its seats) while any of them is held; each seat is
    /// then retired in one turn of its shard, which checks again, so a booking that arrives
    /// meanwhile stops the retirement at that seat (the seats before it stay retired, the area
    /// stays) instead of being lost.
    public func retire(area: String, branch name: String, cancelling: Bool, reason: String) async throws(EngineError)
        -> (seats: [SeatID], cancelled: [Reservation])
    {
        guard let branch = self.branch(named: name) else { throw .branchNotFound(name) }
        guard branch.areas.contains(area) else { throw .badRequest("\(name) has no area '\(area.prefix(100))'") }
        let seats = await searchSeats(SeatFilter(branch: name, area: area)).map(\.seat.id)
        if !cancelling {
            let now = clock.now()
            var held = 0
            for id in seats {
                held += await allReservations(matching: ReservationFilter(seatID: id)).items.filter {
                    ($0.status == .confirmed || $0.status == .checkedIn) && $0.end > now
                }.count
            }
            if held > 0 { throw .hasReservations(count: held) }
        }
        var cancelled: [Reservation] = []
        for id in seats { cancelled += try await retire(seat: id, cancelling: cancelling, reason: reason) }
        _ = try await changeCatalog { c throws(EngineError) in
            guard var b = c.branch(named: name) else { throw .branchNotFound(name) }
            b.areas.removeAll { $0 == area }
            return b
        }
        return (seats, cancelled)
    }

    /// Takes a seat out of service (it can no longer be booked) or puts it back.
    public func setMaintenance(seat id: SeatID, _ inMaintenance: Bool) async throws(EngineError) -> Seat {
        guard let before = await shard(for: id).seat(id) else { throw .seatNotFound(id) }
        let seat = try await update(seat: id) { $0.inMaintenance = inMaintenance }
        if before.inMaintenance && !inMaintenance {
            // Back in service: its free time can serve the first in line.
            let batch = await shard(for: id).offerFreedSeat(id, now: clock.now())
            try await batch.commit(hub: notifications, health: context.health)
        }
        return seat
    }

    func apply(branch: Branch) async {
        let (copy, seats) = catalog.withLock { c in
            let seats = c.put(branch)
            return (c.copy(named: branch.name)!, seats)
        }
        await propagate(copy, to: seats)
    }

    /// Seats keep a copy of their branch (opening hours, time zone). Each shard updates its seats
    /// in one actor turn, changing only the branch: a seat is never read in one turn and written
    /// back in another, which could undo a maintenance change made in between.
    func propagate(_ branch: BranchCopy, to seats: [SeatID]) async {
        for (s, ids) in perShard(seats, seat: { $0 }).enumerated() where !ids.isEmpty {
            await shards[s].setBranch(branch, of: ids)
        }
    }

    func apply(seat: Seat, branch: BranchCopy) async {
        catalog.withLock { c in
            c.seatBranch[seat.id] = seat.branch
            if seat.retired { c.retired.insert(seat.id) } else { c.retired.remove(seat.id) }
        }
        await shard(for: seat.id).define(seat: seat, branch: branch)
    }

    public var branchList: [Branch] { catalog.withLock { $0.branches } }

    /// The descriptions of these seats (retired ones too: past reservations name them).
    public func seats(_ ids: Set<SeatID>) async -> [SeatID: Seat] {
        var out: [SeatID: Seat] = [:]
        for (s, part) in perShard(ids, seat: { $0 }).enumerated() where !part.isEmpty {  // one hop per shard
            for seat in await shards[s].seats(part) { out[seat.id] = seat }
        }
        return out
    }

    public func branch(named name: String) -> Branch? { catalog.withLock { $0.branch(named: name) } }

    /// The time zone of the branch a seat is in (UTC for an unknown seat).
    public func zone(ofSeat id: SeatID?) -> TimeZone {
        catalog.withLock { c in id.flatMap { c.seatBranch[$0] }.flatMap { c.branch(named: $0) }?.zone } ?? .utc
    }

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

    /// A page of the seats matching `filter`, by id: the shards count every match but hand over
    /// at most a page each, so an answer's time and memory are bounded by the page, not by the
    /// catalog. An offset is first turned into a cursor from the matching ids alone.
    public func searchSeats(
        _ filter: SeatFilter, start: Timestamp? = nil, end: Timestamp? = nil, page: SeatPageRequest
    ) async -> SeatPage {
        let now = clock.now()
        let a = start ?? now
        let b = end ?? (now + 1)
        var after = page.after ?? 0
        if page.offset > 0 {
            let skip = page.offset
            let from = after
            let ids = await fanOut(shards.map { _ in () }) { shard, _ in
                [await shard.matchingIDs(filter, start: a, end: b, after: from, limit: skip)]
            }
            let merged = Self.merge(ids, limit: skip) { $0 }
            after = merged.count < skip ? SeatID.max : merged[skip - 1]
        }
        let cursor = after
        let limit = page.limit
        let parts = await fanOut(shards.map { _ in () }) { shard, _ in
            [await shard.searchPage(filter, start: a, end: b, now: now, after: cursor, limit: limit)]
        }
        let seats = Self.merge(parts.map(\.views), limit: limit) { $0.seat.id }
        let remaining = parts.reduce(0) { $0 + $1.afterCursor }
        return SeatPage(
            seats: seats, total: parts.reduce(0) { $0 + $1.matched },
            next: remaining > seats.count ? seats.last?.seat.id : nil)
    }

    /// Merges lists each sorted by seat id into one sorted list (its first `limit` elements).
    static func merge(_ parts: [[SeatView]]) -> [SeatView] { merge(parts, limit: .max) { $0.seat.id } }

    static func merge<T>(_ parts: [[T]], limit: Int, id: (T) -> SeatID) -> [T] {
        let nonEmpty = parts.filter { !$0.isEmpty }
        if nonEmpty.count <= 1 { return Array((nonEmpty.first ?? []).prefix(limit)) }
        var heads = [Int](repeating: 0, count: nonEmpty.count)
        var out: [T] = []
        out.reserveCapacity(min(limit, nonEmpty.reduce(0) { $0 + $1.count }))
        while out.count < limit {
            var best = -1
            for (k, part) in nonEmpty.enumerated() where heads[k] < part.count {
                if best < 0 || id(part[heads[k]]) < id(nonEmpty[best][heads[best]]) { best = k }
            }
            guard best >= 0 else { break }
            out.append(nonEmpty[best][heads[best]])
            heads[best] += 1
        }
        return out
    }

    /// One seat, with the busy intervals overlapping `[start, end)`.
    public func seat(_ id: SeatID, start: Timestamp, end: Timestamp) async throws(EngineError) -> (
        SeatView, [BusyInterval]
    ) {
        try await shard(for: id).detail(seat: id, start: start, end: end, now: clock.now())
    }

    /// Branch statistics, in the order branches were defined.
    /// The seats of a branch (or one of its areas) for its public display, by id; nil when the
    /// branch or area does not exist or staff turned the display off.
    public func display(branch name: String, area: String?, now: Timestamp) async -> [DisplaySeat]? {
        guard let b = branch(named: name), !b.displayOff, area.map(b.areas.contains) ?? true else { return nil }
        let parts = await fanOut(shards.map { _ in now }) { shard, now in
            await shard.displaySeats(branch: name, area: area, now: now)
        }
        return parts.sorted { $0.seat.id < $1.seat.id }
    }

    /// Seats free now and in the library, per branch (in the catalog's order) and area (in the
    /// branch's order): what a public display shows. Nothing about anyone.
    public func occupancy(now: Timestamp) async -> [(branch: String, areas: [(area: String, free: Int, total: Int)])] {
        let parts = await fanOut(shards.map { _ in now }) { shard, now in [await shard.areaCounts(now: now)] }
        return branchList.map { b in
            let areas = b.areas.compactMap { area -> (area: String, free: Int, total: Int)? in
                var free = 0
                var total = 0
                for part in parts {
                    guard let c = part[b.name]?[area] else { continue }
                    free += c.free
                    total += c.total
                }
                return total == 0 ? nil : (area, free, total)
            }
            return (b.name, areas)
        }
    }

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
