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
        var reservations: [ReservationID] = []
        /// No holding ends before this: until `now` reaches it, nothing needs pruning (O(1) admission).
        var earliestEnd: Timestamp = .max

        mutating func prune(now: Timestamp) {
            guard now >= earliestEnd else { return }
            holdings.removeAll { $0.end <= now }
            earliestEnd = holdings.reduce(Timestamp.max) { min($0, $1.end) }
        }

        mutating func add(_ h: Holding) {
            holdings.append(h)
            earliestEnd = min(earliestEnd, h.end)
        }
    }

    final class Stripe: Sendable {
        let users = Mutex<[UserID: Entry]>([:])
    }

    private let stripes: [Stripe] = (0..<64).map { _ in Stripe() }

    @inline(__always) private func stripe(_ user: UserID) -> Stripe {
        stripes[Int(UInt32(bitPattern: user) & 63)]
    }

    /// Checks the per-student limits for `[start, end)` at `now` and, if they allow it, calls
    /// `allocate` for the id and records the holding and the id, all under the student's lock.
    func admit(
        user: UserID, start: Timestamp, end: Timestamp, now: Timestamp, rules: BookingRules,
        allocate: () -> ReservationID
    ) throws(EngineError) -> ReservationID {
        let result: Result<ReservationID, EngineError> = stripe(user).users.withLock { users in
            // Mutated in place (no copy of the entry's arrays).
            Self.admit(
                &users[user, default: Entry()], start: start, end: end, now: now, rules: rules, allocate: allocate)
        }
        return try result.get()
    }

    private static func admit(
        _ entry: inout Entry, start: Timestamp, end: Timestamp, now: Timestamp, rules: BookingRules,
        allocate: () -> ReservationID
    ) -> Result<ReservationID, EngineError> {
        if rules.maxUpcomingPerUser == .max && rules.maxConcurrentPerUser == nil {
            // No per-student limit to enforce: holdings are not tracked.
            let id = allocate()
            insert(id, into: &entry.reservations)
            return .success(id)
        }
        entry.prune(now: now)
        if entry.holdings.count >= rules.maxUpcomingPerUser {
            return .failure(.limitReached(limit: rules.maxUpcomingPerUser))
        }
        if let concurrent = rules.maxConcurrentPerUser {
            let overlapping = entry.holdings.reduce(0) { $0 + ($1.start < end && start < $1.end ? 1 : 0) }
            if overlapping >= concurrent { return .failure(.userOverlap) }
        }
        let id = allocate()
        entry.add(Holding(start: start, end: end))
        insert(id, into: &entry.reservations)
        return .success(id)
    }

    /// Gives back the slot of a holding `[start, end)` (one of them, if the student holds several
    /// identical intervals on different seats: they count the same).
    func release(user: UserID, start: Timestamp, end: Timestamp) {
        stripe(user).users.withLock { users in
            guard let i = users[user]?.holdings.firstIndex(of: Holding(start: start, end: end)) else { return }
            users[user]!.holdings.remove(at: i)
        }
    }

    /// Records an existing reservation (replay, seed) without checking limits.
    func restore(user: UserID, id: ReservationID, holding: Holding?) {
        stripe(user).users.withLock { users in
            Self.restore(&users[user, default: Entry()], id: id, holding: holding)
        }
    }

    /// The list of ids stays sorted: ids mostly arrive in increasing order (an append), and a hold
    /// that becomes the student's only when released or accepted is inserted in its place.
    private static func restore(_ entry: inout Entry, id: ReservationID, holding: Holding?) {
        insert(id, into: &entry.reservations)
        if let holding { entry.add(holding) }
    }

    /// Adds `id` to a sorted list unless it is there: an append in the usual case.
    static func insert(_ id: ReservationID, into list: inout [ReservationID]) {
        if list.last.map({ $0 < id }) ?? true {
            list.append(id)
            return
        }
        var low = 0
        var high = list.count
        while low < high {
            let mid = (low + high) / 2
            if list[mid] < id { low = mid + 1 } else { high = mid }
        }
        if low == list.count || list[low] != id { list.insert(id, at: low) }
    }

    /// `true` when the student holds a seat (counted against the limits) for part of `[start, end)`.
    /// Holdings are tracked only while a per-student limit is on.
    func holds(user: UserID, overlapping start: Timestamp, _ end: Timestamp, now: Timestamp) -> Bool {
        stripe(user).users.withLock { users in
            users[user]?.holdings.contains { $0.start < end && start < $0.end && $0.end > now } ?? false
        }
    }

    /// Drops the id of a reservation that moved to the archive.
    func forget(user: UserID, id: ReservationID) {
        stripe(user).users.withLock { users in
            guard let i = users[user]?.reservations.firstIndex(of: id) else { return }
            users[user]!.reservations.remove(at: i)
        }
    }

    /// Students with more than `limit` reservations in memory, with their ids.
    func students(withMoreThan limit: Int) -> [(UserID, [ReservationID])] {
        stripes.flatMap { stripe in
            stripe.users.withLock { users in
                users.compactMap { $0.value.reservations.count > limit ? ($0.key, $0.value.reservations) : nil }
            }
        }
    }

    func reservations(of user: UserID) -> [ReservationID] {
        stripe(user).users.withLock { $0[user]?.reservations ?? [] }
    }
}
