import DLSMSCore
import Synchronization

/// Group policies, the groups staff gave each student, strikes and suspension lifts — and each
/// student's effective rules made from them (see `docs/rules-per-group.md`).
///
/// One lock; a change appends its record under it, so a snapshot never sees a change without its
/// record. A student's effective rules are made once and kept until a policy, their groups or their
/// account changes. Lock order: this lock may take the user directory's inside it, never the other
/// way round.
final class PolicyBook: Sendable {
    struct State {
        var policies: [String: GroupPolicy] = [:]
        var assigned: [UserID: [String]] = [:]
        var strikes: [UserID: [Strike]] = [:]
        var strikeOwner: [Int64: UserID] = [:]
        var lifts: [UserID: SuspensionLift] = [:]
        var nextStrike: Int64 = 1
        var cache: [UserID: EffectiveRules] = [:]
        var restrictions = PlaceRestrictions()
    }

    /// Strikes kept per student (the oldest beyond go: they have long expired).
    static let strikesPerUser = 100

    let base: BookingRules
    let baseStrikes: StrikeRules
    private let users: UserDirectory
    private let state = Mutex(State())
    /// Set once any policy or staff-given group exists: until then every student has the base
    /// rules, read without the lock.
    private let customised = Atomic<Bool>(false)
    private let anyStrikes = Atomic<Bool>(false)
    private let baseRules: EffectiveRules

    init(base: BookingRules, strikes: StrikeRules, users: UserDirectory) {
        self.base = base
        self.baseStrikes = strikes
        self.users = users
        baseRules = EffectiveRules.resolve(base: base, strikes: strikes, policies: [:], groups: [])
    }

    // MARK: - Reading

    /// The rules of `user` now.
    func effective(for user: UserID) -> EffectiveRules {
        guard customised.load(ordering: .acquiring) else { return baseRules }
        return state.withLock { s in Self.effective(&s, user: user, book: self) }
    }

    private static func effective(_ s: inout State, user: UserID, book: PolicyBook) -> EffectiveRules {
        if let cached = s.cache[user] { return cached }
        let groups = Array(Set((book.users.user(id: user)?.groups ?? []) + (s.assigned[user] ?? []))).sorted()
        let rules = EffectiveRules.resolve(
            base: book.base, strikes: book.baseStrikes, policies: s.policies, groups: groups)
        if s.cache.count >= 100_000 { s.cache.removeAll(keepingCapacity: true) }
        s.cache[user] = rules
        return rules
    }

    var restrictions: PlaceRestrictions {
        guard customised.load(ordering: .acquiring) else { return PlaceRestrictions() }
        return state.withLock { $0.restrictions }
    }

    var policies: [GroupPolicy] { state.withLock { s in s.policies.values.sorted { $0.group < $1.group } } }

    func policy(_ group: String) -> GroupPolicy? { state.withLock { $0.policies[group] } }

    func assignedGroups(of user: UserID) -> [String] { state.withLock { $0.assigned[user] ?? [] } }

    /// Students staff gave `group`, by id.
    func members(of group: String) -> [UserID] {
        state.withLock { s in s.assigned.filter { $0.value.contains(group) }.map(\.key).sorted() }
    }

    /// Every group named by a policy or a staff-given membership, with its staff-given member count.
    func groups() -> [(name: String, members: Int)] {
        state.withLock { s in
            var counts: [String: Int] = [:]
            for name in s.policies.keys { counts[name] = 0 }
            for groups in s.assigned.values { for g in groups { counts[g, default: 0] += 1 } }
            return counts.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
    }

    func strikes(of user: UserID) -> [Strike] { state.withLock { $0.strikes[user] ?? [] } }

    func lift(of user: UserID) -> SuspensionLift? { state.withLock { $0.lifts[user] } }

    /// The suspension of `user` at `now`, if any.
    func suspension(of user: UserID, now: Timestamp) -> Suspension? {
        guard anyStrikes.load(ordering: .acquiring) else { return nil }
        return state.withLock { s in
            guard let strikes = s.strikes[user], !strikes.isEmpty else { return nil }
            let rules = Self.effective(&s, user: user, book: self)
            return Suspension.current(strikes: strikes, liftedAt: s.lifts[user]?.at, rules: rules.strikes, now: now)
        }
    }

    /// Throws `suspended` when `user` may not book at `now`.
    func checkNotSuspended(_ user: UserID, now: Timestamp) throws(EngineError) {
        if let s = suspension(of: user, now: now) {
            throw .suspended(until: s.until, reasons: s.strikes.map(\.description))
        }
    }

    // MARK: - Changes (each appends its record under the lock)

    func put(_ policy: GroupPolicy, journal: any Journal) throws(EngineError) -> JournalTicket {
        try state.withLock { s throws(EngineError) in
            let ticket = try journal.append(.groupPolicy(policy))
            Self.apply(policy, to: &s)
            customised.store(true, ordering: .releasing)
            return ticket
        }
    }

    func assign(_ membership: GroupMembership, journal: any Journal) throws(EngineError) -> JournalTicket {
        try state.withLock { s throws(EngineError) in
            let ticket = try journal.append(.groupMembership(membership))
            Self.apply(membership, to: &s)
            customised.store(true, ordering: .releasing)
            return ticket
        }
    }

    /// Adds `groups` to each student's staff-given groups, all or none.
    func add(_ additions: [UserID: [String]], journal: any Journal) throws(EngineError) -> JournalTicket {
        try state.withLock { s throws(EngineError) in
            var changed: [GroupMembership] = []
            for (user, groups) in additions.sorted(by: { $0.key < $1.key }) {
                let merged = GroupMembership(userID: user, groups: (s.assigned[user] ?? []) + groups)
                guard merged.groups.count <= GroupPolicy.maxAssignedGroups else {
                    throw .badRequest("a student has at most \(GroupPolicy.maxAssignedGroups) groups")
                }
                if merged.groups != s.assigned[user] ?? [] { changed.append(merged) }
            }
            var ticket = JournalTicket.durable
            for m in changed {
                ticket = try journal.append(.groupMembership(m))
                Self.apply(m, to: &s)
            }
            customised.store(true, ordering: .releasing)
            return ticket
        }
    }

    /// Records a strike and says whether it suspends the student (a suspension that begins with it).
    func recordStrike(
        user: UserID, reason: Strike.Reason, reservation: Reservation, now: Timestamp, journal: any Journal
    ) -> Result<(Strike, JournalTicket, Suspension?), EngineError> {
        state.withLock { s in
            let strike = Strike(
                id: s.nextStrike, userID: user, reason: reason, reservationID: reservation.id,
                seatID: reservation.seatID, start: reservation.start, at: now)
            do throws(EngineError) {
                let ticket = try journal.append(.strike(strike))
                Self.apply(strike, to: &s)
                anyStrikes.store(true, ordering: .releasing)
                let rules = Self.effective(&s, user: user, book: self)
                let suspension = Suspension.current(
                    strikes: s.strikes[user] ?? [], liftedAt: s.lifts[user]?.at, rules: rules.strikes, now: now)
                return .success((strike, ticket, suspension?.since == now ? suspension : nil))
            } catch {
                return .failure(error)
            }
        }
    }

    func removeStrike(id: Int64, removal: Strike.Removal, journal: any Journal) throws(EngineError) -> (
        Strike, JournalTicket
    ) {
        try state.withLock { s throws(EngineError) in
            guard let user = s.strikeOwner[id], var strike = s.strikes[user]?.first(where: { $0.id == id }) else {
                throw .strikeNotFound(id)
            }
            guard strike.removed == nil else { throw .invalidState("strike \(id) was removed already") }
            strike.removed = removal
            let ticket = try journal.append(.strike(strike))
            Self.apply(strike, to: &s)
            return (strike, ticket)
        }
    }

    func lift(_ lift: SuspensionLift, journal: any Journal) throws(EngineError) -> JournalTicket {
        try state.withLock { s throws(EngineError) in
            let ticket = try journal.append(.suspensionLifted(lift))
            s.lifts[lift.userID] = lift
            return ticket
        }
    }

    /// A student's groups or account changed: their rules are made again when next needed.
    func forget(user: UserID) {
        guard customised.load(ordering: .acquiring) else { return }
        _ = state.withLock { $0.cache.removeValue(forKey: user) }
    }

    /// An erased account: its staff-given groups, strikes and suspension lifts go.
    func erase(user: UserID) {
        state.withLock { s in
            s.assigned[user] = nil
            for strike in s.strikes[user] ?? [] { s.strikeOwner[strike.id] = nil }
            s.strikes[user] = nil
            s.lifts[user] = nil
            s.cache[user] = nil
        }
    }

    // MARK: - Replay and image

    func restore(_ record: JournalRecord) {
        state.withLock { s in
            switch record {
            case .groupPolicy(let p):
                Self.apply(p, to: &s)
                customised.store(true, ordering: .releasing)
            case .groupMembership(let m):
                Self.apply(m, to: &s)
                customised.store(true, ordering: .releasing)
            case .strike(let strike):
                Self.apply(strike, to: &s)
                anyStrikes.store(true, ordering: .releasing)
            case .suspensionLifted(let l):
                if (s.lifts[l.userID]?.at ?? .min) <= l.at { s.lifts[l.userID] = l }
            default: break
            }
        }
    }

    /// The records that rebuild this state (a snapshot's part).
    var image: [JournalRecord] {
        state.withLock { s in
            var records: [JournalRecord] = s.policies.keys.sorted().map { .groupPolicy(s.policies[$0]!) }
            records += s.assigned.keys.sorted().map {
                .groupMembership(GroupMembership(userID: $0, groups: s.assigned[$0]!))
            }
            for user in s.strikes.keys.sorted() { records += s.strikes[user]!.map { .strike($0) } }
            records += s.lifts.keys.sorted().map { .suspensionLifted(s.lifts[$0]!) }
            return records
        }
    }

    /// The id the next strike gets.
    var nextStrikeID: Int64 { state.withLock { $0.nextStrike } }

    private static func apply(_ p: GroupPolicy, to s: inout State) {
        if p.removed { s.policies[p.group] = nil } else { s.policies[p.group] = p }
        s.restrictions = PlaceRestrictions(policies: s.policies.values)
        s.cache.removeAll()
    }

    private static func apply(_ m: GroupMembership, to s: inout State) {
        s.assigned[m.userID] = m.groups.isEmpty ? nil : m.groups
        s.cache[m.userID] = nil
    }

    private static func apply(_ strike: Strike, to s: inout State) {
        s.nextStrike = max(s.nextStrike, strike.id + 1)
        var list = s.strikes[strike.userID] ?? []
        if let i = list.firstIndex(where: { $0.id == strike.id }) {
            // A removal is final: an older copy of the strike replayed later does not undo it.
            if list[i].removed == nil { list[i] = strike }
        } else {
            list.append(strike)
            list.sort { $0.id < $1.id }
            s.strikeOwner[strike.id] = strike.userID
            if list.count > strikesPerUser {
                for old in list.prefix(list.count - strikesPerUser) { s.strikeOwner[old.id] = nil }
                list.removeFirst(list.count - strikesPerUser)
            }
        }
        s.strikes[strike.userID] = list
    }
}
