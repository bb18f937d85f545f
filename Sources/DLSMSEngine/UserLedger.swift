import DLSMSCore
import Synchronization

/// Per-student state that spans shards: the seat-holding intervals that count towards the
/// per-student limits, and the ids of all the student's reservations ("my reservations").
///
/// ## Admission: how the per-student limits hold under concurrency
///
/// A student's reservations live in many shards, and shards run in parallel, so no shard can
/// count a student's bookings by itself. The limits are enforced by an *admission step* that
/// every booking passes inside its shard's actor turn, just before the interval enters the seat
/// index:
///
/// 1. The shard checks the seat (exists, in opening hours, not in maintenance) and its index for
///    a conflict. Nothing is mutated yet.
/// 2. ``admit(user:start:end:now:rules:allocate:)`` takes the student's stripe lock, drops
///    holdings that have ended, checks `maxUpcomingPerUser` and `maxConcurrentPerUser` against the
///    holdings, and — still under the lock — allocates the reservation id, records the new holding
///    and the id. The check and the taking of the slot are one atomic step per student, so 100
///    concurrent bookings by one student on 100 seats in different shards see each other: at most
///    the limit get through.
/// 3. The shard inserts the interval. It cannot conflict: the shard has not suspended since step 1.
///
/// Because the slot is taken only after the seat check, a seat conflict never takes a slot and no
/// slot has to be given back on the success path. A slot is given back (``release(user:start:end:)``)
/// when the reservation stops holding its seat (cancel, no-show, completion, checkout).
///
/// The state is split over 64 stripes by user id, so different students rarely share a lock.
/// Lock order: a stripe lock may take the directory lock inside it, never the other way round.
final class UserLedger: Sendable {
    struct Holding: Sendable, Hashable {
        var start: Timestamp
        var end: Timestamp
    }

    struct Entry: Sendable {
        var holdings: [Holding] = []
        /// Stays that ended (completed, checked out) in the last ``usedKept``: they count towards
        /// the hours per day and week, not towards the upcoming limit.
        var used: [Holding] = []
        /// The student's reservation ids. Appended in any order (replay restores each shard's
        /// reservations in turn, so one student's ids arrive interleaved); sorted and freed of
        /// repeats when next read, so that a replay is an append per reservation, not an insert.
        private var ids: [ReservationID] = []
        private var idsSorted = true
        /// No holding ends before this: until `now` reaches it, nothing needs pruning (O(1) admission).
        var earliestEnd: Timestamp = .max

        mutating func prune(now: Timestamp) {
            if !used.isEmpty, used[0].end < now - UserLedger.usedKept {
                used.removeAll { $0.end < now - UserLedger.usedKept }
            }
            guard now >= earliestEnd else { return }
            holdings.removeAll { $0.end <= now }
            earliestEnd = holdings.reduce(Timestamp.max) { min($0, $1.end) }
        }

        mutating func add(_ h: Holding) {
            holdings.append(h)
            earliestEnd = min(earliestEnd, h.end)
        }

        /// Adds `id` unless it is there: an append in the usual case (ids grow), an unsorted
        /// append otherwise, put in order by the next read.
        mutating func insert(_ id: ReservationID) {
            if let last = ids.last {
                if last == id { return }
                if last > id { idsSorted = false }
            }
            ids.append(id)
        }

        /// The ids in increasing order, each once.
        mutating func reservations() -> [ReservationID] {
            if !idsSorted {
                ids.sort()
                var kept = 0
                for i in ids.indices where kept == 0 || ids[i] != ids[kept - 1] {
                    ids[kept] = ids[i]
                    kept += 1
                }
                ids.removeLast(ids.count - kept)
                idsSorted = true
            }
            return ids
        }

        mutating func remove(_ id: ReservationID) {
            ids.removeAll { $0 == id }
        }

        mutating func remove(_ gone: Set<ReservationID>) {
            ids.removeAll { gone.contains($0) }
        }
    }

    final class Stripe: Sendable {
        let users = Mutex<[UserID: Entry]>([:])
    }

    private let stripes: [Stripe] = (0..<64).map { _ in Stripe() }

    /// How long a finished stay keeps counting towards the hours per day and week (a week and a day).
    static let usedKept: Int64 = 8 * Seconds.day

    @inline(__always) private func stripe(_ user: UserID) -> Stripe {
        stripes[Int(UInt32(bitPattern: user) & 63)]
    }

    /// Checks the per-student limits for `[start, end)` at `now` and, if they allow it, calls
    /// `allocate` for the id and records the holding and the id, all under the student's lock.
    func admit(
        user: UserID, start: Timestamp, end: Timestamp, now: Timestamp, rules: BookingRules, caps: [HoursCap] = [],
        allocate: () -> ReservationID
    ) throws(EngineError) -> ReservationID {
        let result: Result<ReservationID, EngineError> = stripe(user).users.withLock { users in
            // Mutated in place (no copy of the entry's arrays).
            Self.admit(
                &users[user, default: Entry()], start: start, end: end, now: now, rules: rules, caps: caps,
                allocate: allocate)
        }
        return try result.get()
    }

    private static func admit(
        _ entry: inout Entry, start: Timestamp, end: Timestamp, now: Timestamp, rules: BookingRules, caps: [HoursCap],
        allocate: () -> ReservationID
    ) -> Result<ReservationID, EngineError> {
        if !Self.limited(rules) && caps.isEmpty {
            // No per-student limit to enforce: holdings are not tracked.
            let id = allocate()
            entry.insert(id)
            return .success(id)
        }
        entry.prune(now: now)
        if let refusal = refusal(entry.holdings, start: start, end: end, rules: rules) { return .failure(refusal) }
        for cap in caps {
            let booked = (entry.holdings + entry.used).reduce(0) { $0 + cap.overlap($1.start, $1.end) }
            if booked + cap.overlap(start, end) > cap.limit {
                return .failure(.hoursLimit(rule: cap.rule, hours: cap.hours))
            }
        }
        let id = allocate()
        entry.add(Holding(start: start, end: end))
        entry.insert(id)
        return .success(id)
    }

    /// Replaces the holding `old` by `[start, end)` in one step under the student's lock (an
    /// extension; a move, which also takes a new id from `allocate`): the limits are checked as if
    /// `old` were gone, so a move never counts twice against the upcoming limit. Nothing changes
    /// when the limits refuse.
    func replace(
        user: UserID, old: Holding, start: Timestamp, end: Timestamp, now: Timestamp, rules: BookingRules,
        caps: [HoursCap] = [], used: Holding? = nil, allocate: (() -> ReservationID)? = nil
    ) throws(EngineError) -> ReservationID? {
        let result: Result<ReservationID?, EngineError> = stripe(user).users.withLock { users in
            let outcome = Self.replace(
                &users[user, default: Entry()], old: old, start: start, end: end, now: now, rules: rules, caps: caps,
                allocate: allocate)
            // The part of the old stay that was used keeps counting towards the hours.
            if case .success = outcome, let used, used.end > used.start { users[user]?.used.append(used) }
            return outcome
        }
        return try result.get()
    }

    private static func replace(
        _ entry: inout Entry, old: Holding, start: Timestamp, end: Timestamp, now: Timestamp, rules: BookingRules,
        caps: [HoursCap], allocate: (() -> ReservationID)?
    ) -> Result<ReservationID?, EngineError> {
        let tracked = limited(rules) || !caps.isEmpty
        if tracked {
            entry.prune(now: now)
            var holdings = entry.holdings
            if let i = holdings.firstIndex(of: old) { holdings.remove(at: i) }
            if let refusal = refusal(holdings, start: start, end: end, rules: rules) { return .failure(refusal) }
            for cap in caps {
                let booked = (holdings + entry.used).reduce(0) { $0 + cap.overlap($1.start, $1.end) }
                if booked + cap.overlap(start, end) > cap.limit {
                    return .failure(.hoursLimit(rule: cap.rule, hours: cap.hours))
                }
            }
        }
        let id = allocate?()
        if tracked || entry.holdings.contains(old) {
            if let i = entry.holdings.firstIndex(of: old) { entry.holdings.remove(at: i) }
            entry.add(Holding(start: start, end: end))
        }
        if let id { entry.insert(id) }
        return .success(id)
    }

    /// Whether `rules` limit what one student holds (else holdings are not tracked).
    private static func limited(_ rules: BookingRules) -> Bool {
        rules.maxUpcomingPerUser != .max || rules.maxConcurrentPerUser != nil || rules.maxPerDay != nil
            || rules.maxPerWeek != nil
    }

    /// What the per-student limits say to `[start, end)` for holdings that have not ended.
    private static func refusal(
        _ holdings: some Collection<Holding>, start: Timestamp, end: Timestamp, rules: BookingRules
    ) -> EngineError? {
        if holdings.count >= rules.maxUpcomingPerUser { return .limitReached(limit: rules.maxUpcomingPerUser) }
        if let concurrent = rules.maxConcurrentPerUser {
            let overlapping = holdings.reduce(0) { $0 + ($1.start < end && start < $1.end ? 1 : 0) }
            if overlapping >= concurrent { return .userOverlap }
        }
        return nil
    }

    /// Whether the limits would let the student take `[start, end)` now (nothing is recorded):
    /// a waitlist offer goes only to a student who can accept it.
    func admits(
        user: UserID, start: Timestamp, end: Timestamp, now: Timestamp, rules: BookingRules, caps: [HoursCap] = []
    ) -> Bool {
        guard Self.limited(rules) || !caps.isEmpty else { return true }
        return stripe(user).users.withLock { users in
            guard let entry = users[user] else { return true }
            let live = entry.holdings.filter { $0.end > now }
            if Self.refusal(live, start: start, end: end, rules: rules) != nil { return false }
            return caps.allSatisfy { cap in
                (live + entry.used).reduce(0) { $0 + cap.overlap($1.start, $1.end) } + cap.overlap(start, end)
                    <= cap.limit
            }
        }
    }

    /// Gives back the slot of a holding `[start, end)` (one of them, if the student holds several
    /// identical intervals on different seats: they count the same). `usedUntil`: the stay ended
    /// then (completed, checked out), and `[start, usedUntil)` keeps counting towards the hours.
    func release(user: UserID, start: Timestamp, end: Timestamp, usedUntil: Timestamp? = nil) {
        stripe(user).users.withLock { users in
            guard let i = users[user]?.holdings.firstIndex(of: Holding(start: start, end: end)) else { return }
            users[user]!.holdings.remove(at: i)
            if let until = usedUntil, min(until, end) > start {
                users[user]!.used.append(Holding(start: start, end: min(until, end)))
            }
        }
    }

    /// Records an existing reservation (replay, seed) without checking limits; `used`: a finished
    /// stay that counts towards the hours.
    func restore(user: UserID, id: ReservationID, holding: Holding?, used: Holding? = nil) {
        stripe(user).users.withLock { users in
            Self.restore(&users[user, default: Entry()], id: id, holding: holding, used: used)
        }
    }

    /// A hold that becomes the student's only when released or accepted, and a replayed
    /// reservation, may arrive after higher ids: the entry puts them in order when next read.
    private static func restore(_ entry: inout Entry, id: ReservationID, holding: Holding?, used: Holding?) {
        entry.insert(id)
        if let holding { entry.add(holding) }
        if let used, used.end > used.start { entry.used.append(used) }
    }

    /// Drops the id of a reservation that moved to the archive.
    func forget(user: UserID, id: ReservationID) {
        stripe(user).users.withLock { users in
            users[user]?.remove(id)
        }
    }

    /// Drops many ids of one student at once (an anonymisation): one pass over their list.
    func forget(user: UserID, ids: Set<ReservationID>) {
        stripe(user).users.withLock { users in
            users[user]?.remove(ids)
        }
    }

    /// Students with more than `limit` reservations in memory, with their ids.
    func students(withMoreThan limit: Int) -> [(UserID, [ReservationID])] {
        stripes.flatMap { stripe in
            stripe.users.withLock { users in
                var found: [(UserID, [ReservationID])] = []
                // By index, mutating each entry in place (iterating `keys` would copy the table).
                var i = users.startIndex
                while i != users.endIndex {
                    let ids = users.values[i].reservations()
                    if ids.count > limit { found.append((users.keys[i], ids)) }
                    users.formIndex(after: &i)
                }
                return found
            }
        }
    }

    func reservations(of user: UserID) -> [ReservationID] {
        stripe(user).users.withLock { $0[user]?.reservations() ?? [] }
    }
}
