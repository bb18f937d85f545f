import DLSMSCore
import Foundation

/// One place of a booking that spans shards: a seat, its student and window.
public struct TogetherItem: Sendable, Hashable {
    public var seatID: SeatID
    public var userID: UserID
    public var start: Timestamp
    public var end: Timestamp

    public init(seatID: SeatID, userID: UserID, start: Timestamp, end: Timestamp) {
        self.seatID = seatID
        self.userID = userID
        self.start = start
        self.end = end
    }
}

/// The seat over the day: extend, step away, move, seats together, weekly series.
///
/// ## Atomic across shards: moves and seats together
///
/// A seat belongs to one shard actor and actors do not lock each other, so a booking of several
/// seats (or a move from one seat to another) cannot be one actor turn. It is made in steps, and
/// what makes it all-or-nothing is that exactly one of them decides, by one journal record:
///
/// 1. **Placeholders, in seat-id order.** Each seat's shard, in one turn, runs every check of a
///    booking (exists, open, not closed, not in maintenance, the student's group and release
///    time, free) and puts a placeholder in the seat's index: nothing is recorded and no id
///    exists, but no one else can take that time. A refusal gives back the placeholders placed so
///    far and the whole booking is refused. No step waits for another shard while holding
///    anything, so there is no deadlock; placing in ascending seat id means that of two groups
///    wanting the same seats one gets them all (neither can hold a seat the other needs first).
/// 2. **The decision.** The students' limits are admitted in the ledger (each under the student's
///    lock; a refusal undoes the admissions made and gives back the placeholders), the ids are
///    allocated, and one ``JournalRecord/together(_:)`` record holding every reservation (for a
///    move: the old one freed and the new one) is appended. For a move this happens in the old
///    seat's shard turn, so that the freeing of the old seat is in that shard's order.
/// 3. **Settling.** Each placeholder becomes its reservation. Nothing can have taken its time in
///    between, so replay — which applies the together record as a whole — never meets a conflict.
///
/// A crash before the record is durable leaves nothing (placeholders live in memory only); after
/// it, recovery applies the whole record. There is no state in which part of a group, or both or
/// neither seat of a move, is recorded.
extension SeatEngine {
    // MARK: - Extend, step away, back

    /// Extends a reservation's end (see ``SeatShard/extend(id:slot:requester:to:now:override:)``).
    public func extend(id: ReservationID, to end: Timestamp, requester: Requester, override: Bool = false)
        async throws(EngineError) -> Reservation
    {
        let (shard, slot) = try locate(id)
        return try await committing { () async throws(EngineError) in
            try await shard.extend(
                id: id, slot: slot, requester: requester, to: end, now: clock.now(), override: override)
        }
    }

    /// A checked-in student steps away for at most their policy's away time.
    public func stepAway(id: ReservationID, requester: Requester) async throws(EngineError) -> Reservation {
        let (shard, slot) = try locate(id)
        return try await committing { () async throws(EngineError) in
            try await shard.stepAway(id: id, slot: slot, requester: requester, now: clock.now())
        }
    }

    /// The student is back at the seat.
    public func comeBack(id: ReservationID, requester: Requester) async throws(EngineError) -> Reservation {
        let (shard, slot) = try locate(id)
        return try await committing { () async throws(EngineError) in
            try await shard.comeBack(id: id, slot: slot, requester: requester, now: clock.now())
        }
    }

    /// Runs a shard step that returns a reservation and its batch; refusals as ``refusing(_:)``.
    func committing(_ step: () async throws(EngineError) -> (Reservation, SeatShard.Batch)) async throws(EngineError)
        -> Reservation
    {
        let done: (Reservation, SeatShard.Batch)
        do {
            done = try await step()
        } catch {
            try await refusing(error)
        }
        try await done.1.commit(hub: notifications, health: context.health)
        return done.0
    }

    // MARK: - Move

    /// Moves a `CONFIRMED` or `CHECKED_IN` reservation to another seat for the rest of its window
    /// (all of it when it has not begun): the new seat taken and the old one freed atomically.
    /// A checked-in stay moves checked in. Staff may move a student's reservation (`override`:
    /// past the student's policy); the student is then notified.
    public func move(id: ReservationID, to seat: SeatID, requester: Requester, override: Bool = false)
        async throws(EngineError) -> (old: Reservation, new: Reservation)
    {
        let (source, slot) = try locate(id)
        let now = clock.now()
        let r = try await source.reservation(id: id, slot: slot, requester: requester)
        guard r.status == .confirmed || r.status == .checkedIn, r.end > now else {
            throw .invalidState(
                "reservation \(id) is \(r.status.name)\(r.end <= now ? " and has ended" : ""): only a confirmed or checked-in stay that has not ended can move"
            )
        }
        guard seat != r.seatID else { throw .badRequest("reservation \(id) is on seat \(seat) already") }
        guard catalog.withLock({ $0.liveBranch(ofSeat: seat) }) != nil else { throw .seatNotFound(seat) }
        if !override { try context.policies.checkNotSuspended(r.userID, now: now) }
        let effective = context.policies.effective(for: r.userID)
        let start = max(r.start, now)
        let target = shard(for: seat)
        let placed: UInt32
        let calendar: Calendar
        do {
            (placed, calendar) = try await target.placeholder(
                seat: seat, user: r.userID, start: start, end: r.end, now: now, rules: effective, override: override)
        } catch {
            try await refusing(error)
        }
        let limits = override ? SeatShard.unlimited(effective.rules) : effective.rules
        let caps = limits.hourCaps(start: start, end: r.end, calendar: calendar)
        let moved: (old: Reservation, new: Reservation, batch: SeatShard.Batch)
        do {
            moved = try await source.moveOut(
                id: id, slot: slot, requester: requester,
                to: MoveTarget(seat: seat, start: start, end: r.end, slot: placed, caps: caps), now: now, limits: limits
            )
        } catch {
            let item = TogetherItem(seatID: seat, userID: r.userID, start: start, end: r.end)
            await giveBack([Placed(shard: target, slot: placed, item: item, calendar: calendar)], now)
            try await refusing(error)
        }
        let byStaff = requester.userID != r.userID
        let settled = await target.settle(
            slot: placed, as: moved.new, now: now,
            notice: byStaff
                ? (
                    .reservationMoved,
                    "The library staff moved reservation \(id) from seat \(r.seatID) to seat \(seat): it is now reservation \(moved.new.id)."
                )
                : nil)
        try await moved.batch.commit(hub: notifications, health: context.health)
        try await settled.commit(hub: notifications, health: context.health)
        return (moved.old, moved.new)
    }

    /// A placeholder in a seat's shard, for `item`; the seat's calendar (for the hours caps).
    struct Placed: Sendable {
        var shard: SeatShard
        var slot: UInt32
        var item: TogetherItem
        var calendar: Calendar
    }

    /// Gives back placeholders (a booking across shards that did not happen).
    func giveBack(_ placed: [Placed], _ now: Timestamp) async {
        for p in placed.reversed() {
            let batch = await p.shard.abandon(
                slot: p.slot, seat: p.item.seatID, start: p.item.start, end: p.item.end, now: now)
            try? await batch.commit(hub: notifications, health: context.health)
        }
    }

    // MARK: - Together

    /// The most places one booking together may take.
    public static let maxTogether = 20

    /// Books every item or none (see the type's documentation): each student's window rules,
    /// standing, group and limits apply as to a booking of their own (`override`: staff, past
    /// the policies). `extras` gives each reservation its mark (a group, a series) once the ids
    /// are known. Results in the order of `items`.
    public func bookTogether(
        _ items: [TogetherItem], override: Bool = false, notice: ((Reservation) -> (NotificationKind, String)?)? = nil,
        extras: @escaping @Sendable (_ first: ReservationID) -> ReservationExtras
    ) async throws(EngineError) -> [Reservation] {
        let now = clock.now()
        guard !items.isEmpty, items.count <= Self.maxTogether else {
            throw .badRequest("a booking together takes 1 to \(Self.maxTogether) places")
        }
        for item in items {
            let effective = context.policies.effective(for: item.userID)
            try (override ? BookingRules.lenient(rules, effective.rules) : effective.rules).validateWindow(
                start: item.start, end: item.end, now: now, openingHours: nil)
            if !override { try context.policies.checkNotSuspended(item.userID, now: now) }
            guard catalog.withLock({ $0.liveBranch(ofSeat: item.seatID) }) != nil else {
                throw .seatNotFound(item.seatID)
            }
        }
        // 1. Placeholders in seat-id order (then start).
        let order = items.indices.sorted { (items[$0].seatID, items[$0].start) < (items[$1].seatID, items[$1].start) }
        var placed: [Placed] = []
        for i in order {
            let item = items[i]
            let shard = shard(for: item.seatID)
            do {
                let (slot, calendar) = try await shard.placeholder(
                    seat: item.seatID, user: item.userID, start: item.start, end: item.end, now: now,
                    rules: context.policies.effective(for: item.userID), override: override)
                placed.append(Placed(shard: shard, slot: slot, item: item, calendar: calendar))
            } catch {
                await giveBack(placed, now)
                try await refusing(error)
            }
        }
        // 2. The decision: every student's limits, the ids, one record.
        let ids: [ReservationID]
        do {
            ids = try admitTogether(placed, now: now, override: override)
        } catch {
            await giveBack(placed, now)
            try await refusing(error)
        }
        let mark = extras(ids.min() ?? 0)
        let made = zip(placed, ids).map { p, id in
            Reservation(
                id: id, seatID: p.item.seatID, userID: p.item.userID, start: p.item.start, end: p.item.end,
                createdAt: now, extras: mark)
        }
        let ticket = try context.health.append(.together(made.map { .reservationCreated($0) }), to: context.journal)
        // 3. Settling.
        var batches: [SeatShard.Batch] = []
        for (p, r) in zip(placed, made) {
            batches.append(await p.shard.settle(slot: p.slot, as: r, now: now, notice: notice?(r)))
        }
        try await context.health.commit(ticket)
        for b in batches { try await b.commit(hub: notifications, health: context.health) }
        // Placed in `order`: back in the order of `items`.
        var results = made
        for (k, i) in order.enumerated() { results[i] = made[k] }
        return results
    }

    /// Admits each placed item against its student's limits (in placing order), allocating its id;
    /// a refusal undoes the admissions made.
    private func admitTogether(_ placed: [Placed], now: Timestamp, override: Bool) throws(EngineError)
        -> [ReservationID]
    {
        var ids: [ReservationID] = []
        let directory = context.directory
        for p in placed {
            let item = p.item
            let effective = context.policies.effective(for: item.userID)
            let limits = override ? SeatShard.unlimited(effective.rules) : effective.rules
            do {
                ids.append(
                    try context.ledger.admit(
                        user: item.userID, start: item.start, end: item.end, now: now, rules: limits,
                        caps: limits.hourCaps(start: item.start, end: item.end, calendar: p.calendar)
                    ) { directory.allocate(seat: item.seatID, slot: p.slot) })
            } catch {
                for (p, id) in zip(placed, ids) {
                    context.ledger.release(user: p.item.userID, start: p.item.start, end: p.item.end)
                    context.ledger.forget(user: p.item.userID, id: id)
                    directory.remove(id: id)
                }
                throw error
            }
        }
        return ids
    }
}

/// The weekly series a booking is an instance of.
public enum SeriesMark: Sendable, Hashable {
    /// This instance starts the series: its id is the series'.
    case first
    case of(ReservationID)
}

/// A weekly series: the window of its first day, repeated on `weekdays` (ISO: 1 Monday … 7
/// Sunday) at the same local time in the seat's branch zone, through the local day of `until`.
public struct SeriesRequest: Sendable, Hashable {
    public var seatID: SeatID
    public var start: Timestamp
    public var end: Timestamp
    public var weekdays: Set<Int>
    public var until: Timestamp
    public var allOrNothing: Bool

    public init(
        seatID: SeatID, start: Timestamp, end: Timestamp, weekdays: Set<Int>, until: Timestamp, allOrNothing: Bool
    ) {
        self.seatID = seatID
        self.start = start
        self.end = end
        self.weekdays = weekdays
        self.until = until
        self.allOrNothing = allOrNothing
    }

    /// The most instances one series may have.
    public static let maxInstances = 60
}

/// One date of a series: booked, or refused with the reason.
public struct SeriesInstance: Sendable {
    /// The local date, `YYYY-MM-DD`.
    public var date: String
    public var start: Timestamp
    public var end: Timestamp
    public var outcome: Result<Reservation, EngineError>
}

extension SeatEngine {
    // MARK: - Weekly series

    /// The instances' windows: each day from the start's local day through `until`'s whose ISO
    /// weekday is asked for, at the first window's local times (so across a daylight-saving
    /// change the wall-clock time stays, and the UTC instant moves).
    public func seriesWindows(_ q: SeriesRequest) throws(EngineError) -> [(
        date: String, start: Timestamp, end: Timestamp
    )] {
        guard let branch = catalog.withLock({ c in c.liveBranch(ofSeat: q.seatID).flatMap { c.branch(named: $0) } })
        else { throw .seatNotFound(q.seatID) }
        guard q.end > q.start else { throw .invalidTimeRange }
        guard !q.weekdays.isEmpty, q.weekdays.allSatisfy({ (1...7).contains($0) }) else {
            throw .badRequest("weekdays must name at least one day: MO, TU, WE, TH, FR, SA, SU")
        }
        guard q.until >= q.start else { throw .badRequest("until must not be before start_time") }
        guard q.until - q.start <= 366 * Seconds.day else {
            throw .badRequest("a series spans at most a year: until must be within 366 days of start_time")
        }
        let calendar = OpeningHours.calendar(branch.zone)
        let first = Date(timeIntervalSince1970: TimeInterval(q.start))
        let length = q.end - q.start
        let lastDay = calendar.startOfDay(for: Date(timeIntervalSince1970: TimeInterval(q.until)))
        var windows: [(String, Timestamp, Timestamp)] = []
        for k in 0...(7 * 53) {
            // The start keeps its local time (a time the clocks skip moves past the gap); the
            // length stays, so a window across the change is as long as the first.
            guard let s = calendar.date(byAdding: .day, value: k, to: first) else { break }
            if calendar.startOfDay(for: s) > lastDay { break }
            let weekday = (calendar.component(.weekday, from: s) + 5) % 7 + 1  // Foundation: 1 Sunday
            guard q.weekdays.contains(weekday) else { continue }
            let d = calendar.dateComponents([.year, .month, .day], from: s)
            let date = String(format: "%04d-%02d-%02d", d.year ?? 0, d.month ?? 0, d.day ?? 0)
            let start = Timestamp(s.timeIntervalSince1970)
            windows.append((date, start, start + length))
            guard windows.count <= SeriesRequest.maxInstances else {
                throw .badRequest(
                    "a series has at most \(SeriesRequest.maxInstances) instances: choose an earlier until")
            }
        }
        return windows
    }

    /// Books a weekly series for `user`: every instance that is free and allowed (each refused one
    /// with its reason), or with ``SeriesRequest/allOrNothing`` all of them or none (as a booking
    /// together). Each instance counts against the limits like any booking.
    public func bookSeries(user: UserID, _ q: SeriesRequest, override: Bool = false) async throws(EngineError)
        -> [SeriesInstance]
    {
        let windows = try seriesWindows(q)
        guard !windows.isEmpty else { throw .badRequest("no day between start_time and until is one of the weekdays") }
        // A window no date could have (too short, too long) is the request's fault: 400, not 409.
        let own = effectiveRules(for: user).rules
        let rules = override ? BookingRules.lenient(self.rules, own) : own
        let length = q.end - q.start
        if length < rules.minDuration { throw .tooShort(minimumSeconds: rules.minDuration) }
        if length > rules.maxDuration { throw .tooLong(maximumSeconds: rules.maxDuration) }
        if q.allOrNothing {
            let items = windows.map { TogetherItem(seatID: q.seatID, userID: user, start: $0.start, end: $0.end) }
            let made = try await bookTogether(items, override: override) { ReservationExtras(seriesID: $0) }
            return zip(windows, made).map {
                SeriesInstance(date: $0.date, start: $0.start, end: $0.end, outcome: .success($1))
            }
        }
        var out: [SeriesInstance] = []
        var seriesID: ReservationID?
        for w in windows {
            do throws(EngineError) {
                let r = try await book(
                    user: user, seat: q.seatID, start: w.start, end: w.end, override: override,
                    series: seriesID.map { .of($0) } ?? .first)
                seriesID = seriesID ?? r.id
                out.append(SeriesInstance(date: w.date, start: w.start, end: w.end, outcome: .success(r)))
            } catch {
                if error.kind == .unavailable { throw error }
                out.append(SeriesInstance(date: w.date, start: w.start, end: w.end, outcome: .failure(error)))
            }
        }
        return out
    }

    /// Cancels the instances of series `seriesID` that start at or after `from` and are still
    /// `CONFIRMED` (one instance is cancelled like any reservation). Staff may cancel a student's.
    public func cancelSeries(_ seriesID: ReservationID, from: Timestamp, requester: Requester) async throws(EngineError)
        -> [Reservation]
    {
        let first = try await reservation(id: seriesID, requester: requester)
        guard first.extras.seriesID == seriesID else { throw .reservationNotFound(seriesID) }
        let all = await reservations(of: first.userID, limit: 100_000).items
        var cancelled: [Reservation] = []
        for r in all.sorted(by: { $0.start < $1.start })
        where r.extras.seriesID == seriesID && r.start >= from && r.status == .confirmed {
            cancelled.append(try await cancel(id: r.id, requester: requester))
        }
        return cancelled
    }
}

extension SeatEngine {
    // MARK: - Seats next to each other

    /// Up to five sets of `count` seats of one area that are free for `[start, end)`, that `user`
    /// may book, and that lie close together on the map: tightest first.
    public func seatsTogether(
        branch: String, area: String?, count: Int, start: Timestamp, end: Timestamp, user: UserID
    ) async throws(EngineError) -> [[Seat]] {
        guard self.branch(named: branch) != nil else { throw .branchNotFound(branch) }
        let views = await searchSeats(
            SeatFilter(branch: branch, area: area, availableOnly: true), start: start, end: end)
        let effective = context.policies.effective(for: user)
        let restrictions = context.policies.restrictions
        let free = views.filter { $0.isAvailable && effective.mayBook($0.seat, restrictions: restrictions) }
            .map(\.seat)
        return SeatNeighbourhood.groups(of: free, count: count, limit: 5)
    }
}
