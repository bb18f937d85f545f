import DLSMSCore
import DLSMSStorage
import Foundation
import Synchronization

public struct EngineConfiguration: Sendable {
    /// Number of shard actors. Default: the number of active processors.
    public var shardCount: Int
    public var rules: BookingRules
    /// How strikes suspend, before group policies.
    public var strikes = StrikeRules()
    /// Live notification streams per student, and notifications queued per stream.
    public var streamsPerUser: Int
    public var streamQueue: Int
    /// Renders webhook payloads; nil: the engine makes no webhook events. Everything that changes
    /// a data directory (the server, `dlsms users`, `dlsms stress`) passes the application
    /// layer's `Render.webhookPayload`; tools that only read or rewrite what is there need none.
    public var webhookPayload: WebhookPayloadRenderer?
    /// The bound of each webhook endpoint's spool, in events and bytes.
    public var webhookQueue: SpoolLimits
    /// The bounds of the email outbox.
    public var mailQueue: MailOutbox.Limits

    public init(
        shardCount: Int? = nil, rules: BookingRules = .default, streamsPerUser: Int = 8, streamQueue: Int = 1_000,
        webhookPayload: WebhookPayloadRenderer? = nil, webhookQueue: SpoolLimits = .init(),
        mailQueue: MailOutbox.Limits = .init()
    ) {
        self.mailQueue = mailQueue
        self.webhookPayload = webhookPayload
        self.webhookQueue = webhookQueue
        self.shardCount = max(1, shardCount ?? ProcessInfo.processInfo.activeProcessorCount)
        self.rules = rules
        self.streamsPerUser = streamsPerUser
        self.streamQueue = streamQueue
    }
}

/// The seat booking engine: the transport-neutral API that HTTP (and later gRPC) sit on.
///
/// Seats are partitioned over ``EngineConfiguration/shardCount`` shard actors by seat id. A seat
/// operation goes to its shard; a query over many seats (search, branch statistics) fans out to
/// all shards concurrently and merges. State that spans shards lives in small lock-protected
/// structures: the reservation directory (id → seat, slot; allocates ids), the user ledger
/// (per-student limits and reservation lists, see ``UserLedger``), accounts, the waitlist and the
/// notifications.
///
/// Every change is appended to the ``Journal`` and acknowledged only once the journal says it is
/// durable.
public final class SeatEngine: Sendable {
    public let configuration: EngineConfiguration
    public var rules: BookingRules { configuration.rules }
    public let clock: any WallClock
    public let notifications: NotificationHub

    let shards: [SeatShard]
    let context: EngineContext
    let users: UserDirectory
    let revocations = SessionRevocations()
    let catalog = Mutex(Catalog())
    /// Webhook endpoints and the events owed to them.
    public let webhooks: WebhookOutbox
    /// The email outbox (queues nothing until a sender enables it).
    public let mail: MailOutbox
    /// Seats held for waitlist offers, for both outboxes.
    let held: HeldSeats
    /// The audit trail of staff actions.
    public let audit = AuditBook()
    /// Erasures and anonymisations applied (``privacyChanges``).
    let privacy = Mutex<(erasures: Int, anonymisations: Int)>((0, 0))

    struct Catalog {
        var branches: [Branch] = []
        /// Every seat ever defined (retired ones too, so that their ids are never given again).
        var seatBranch: [SeatID: String] = [:]
        var retired: Set<SeatID> = []
        /// Each branch's version: the number of the change that made it (see ``BranchCopy``).
        var versions: [String: UInt64] = [:]
        var changes: UInt64 = 0

        /// The branch of a seat that is still in the library.
        func liveBranch(ofSeat id: SeatID) -> String? { retired.contains(id) ? nil : seatBranch[id] }

        func branch(named name: String) -> Branch? { branches.first { $0.name == name } }

        /// The branch with its version, for handing to shards.
        func copy(named name: String) -> BranchCopy? {
            branch(named: name).map { BranchCopy(branch: $0, version: versions[name] ?? 0) }
        }

        /// Adds or replaces a branch; returns its seats (which keep a copy of its opening hours).
        mutating func put(_ branch: Branch) -> [SeatID] {
            changes += 1
            versions[branch.name] = changes
            if let i = branches.firstIndex(where: { $0.name == branch.name }) {
                branches[i] = branch
            } else {
                branches.append(branch)
            }
            return seatBranch.filter { $0.value == branch.name }.map(\.key)
        }
    }

    public init(
        configuration: EngineConfiguration = .init(), clock: any WallClock = SystemClock(),
        journal: any Journal = NullJournal()
    ) {
        self.configuration = configuration
        self.clock = clock
        let notifications = NotificationHub(
            streamsPerUser: configuration.streamsPerUser, queuePerStream: configuration.streamQueue)
        self.notifications = notifications
        let outbox = WebhookOutbox(
            clock: clock, render: configuration.webhookPayload, limits: configuration.webhookQueue)
        webhooks = outbox
        let users = UserDirectory()
        self.users = users
        let mail = MailOutbox(clock: clock, users: users, limits: configuration.mailQueue)
        self.mail = mail
        let held = HeldSeats()
        self.held = held
        let context = EngineContext(
            rules: configuration.rules,
            policies: PolicyBook(base: configuration.rules, strikes: configuration.strikes, users: users),
            directory: ReservationDirectory(), ledger: UserLedger(), waitlist: Waitlist(),
            notifications: notifications, journal: EventTap(inner: journal, outbox: outbox, mail: mail, held: held))
        self.context = context
        shards = (0..<configuration.shardCount).map { _ in SeatShard(context: context) }
    }

    @inline(__always) func shard(for seat: SeatID) -> SeatShard { shards[shardIndex(seat)] }

    @inline(__always) func shardIndex(_ seat: SeatID) -> Int { Int(UInt32(bitPattern: seat) % UInt32(shards.count)) }

    /// `items` split by the shard of each one's seat, each part in the order given.
    func perShard<T>(_ items: some Sequence<T>, seat: (T) -> SeatID) -> [[T]] {
        var parts = [[T]](repeating: [], count: shards.count)
        for item in items { parts[shardIndex(seat(item))].append(item) }
        return parts
    }

    // MARK: - Booking

    /// Books `[start, end)` on a seat for a student. Errors in the contract's order: time rules
    /// (400), unknown seat (404), then conflicts and limits (409).
    ///
    /// The student's group policy applies (limits, places, release time, suspension) unless
    /// `override` (staff booking on their behalf, past the policy).
    ///
    /// `series`: the instance of a weekly series (its mark, or `.first`: this one starts it).
    public func book(
        user: UserID, seat: SeatID, start: Timestamp, end: Timestamp, override: Bool = false,
        series: SeriesMark? = nil
    ) async throws(EngineError) -> Reservation {
        let now = clock.now()
        let effective = context.policies.effective(for: user)
        try (override ? BookingRules.lenient(rules, effective.rules) : effective.rules).validateWindow(
            start: start, end: end, now: now, openingHours: nil)
        if !override { try context.policies.checkNotSuspended(user, now: now) }
        let shard = shard(for: seat)
        let placed: (Reservation, JournalTicket)
        do {
            placed = try await shard.place(
                user: user, seat: seat, start: start, end: end, now: now, rules: effective, override: override,
                series: series)
        } catch {
            try await refusing(error)
        }
        try await context.health.commit(placed.1)
        return placed.0
    }

    /// The batched path: one actor hop per shard for the whole batch instead of one per booking.
    /// Results are in the order of `requests`.
    public func book(_ requests: [BookingRequest]) async -> [Result<Reservation, EngineError>] {
        let now = clock.now()
        var results = [Result<Reservation, EngineError>?](repeating: nil, count: requests.count)
        var perShard = [[Int]](repeating: [], count: shards.count)
        for (i, q) in requests.enumerated() {
            do throws(EngineError) {
                try context.policies.effective(for: q.userID).rules.validateWindow(
                    start: q.start, end: q.end, now: now, openingHours: nil)
                try context.policies.checkNotSuspended(q.userID, now: now)
                perShard[shardIndex(q.seatID)].append(i)
            } catch {
                results[i] = .failure(error)
            }
        }
        await withTaskGroup(of: ([Int], [Result<Reservation, EngineError>]).self) { group in
            for (s, positions) in perShard.enumerated() where !positions.isEmpty {
                let batch = positions.map { requests[$0] }
                group.addTask { (positions, await self.shards[s].book(batch, now: now)) }
            }
            for await (positions, outcome) in group {
                for (i, r) in zip(positions, outcome) { results[i] = r }
            }
        }
        return results.map { $0! }
    }

    func locate(_ id: ReservationID) throws(EngineError) -> (SeatShard, UInt32) {
        guard let (seat, slot) = context.directory.locate(id) else { throw .reservationNotFound(id) }
        return (shard(for: seat), slot)
    }

    public func reservation(id: ReservationID, requester: Requester) async throws(EngineError) -> Reservation {
        let (shard, slot) = try locate(id)
        return try await shard.reservation(id: id, slot: slot, requester: requester)
    }

    /// The plain check-in: refused for students (`presence_required`) where the branch takes
    /// check-in only at the seat.
    public func checkIn(id: ReservationID, requester: Requester) async throws(EngineError) -> Reservation {
        try await perform(.checkIn, id: id, requester: requester)
    }

    /// Check-in at the seat (its code was scanned): the caller's reservation on `seat` whose
    /// check-in window is open now.
    public func checkIn(atSeat seat: SeatID, user: UserID) async throws(EngineError) -> Reservation {
        guard catalog.withLock({ $0.liveBranch(ofSeat: seat) }) != nil else { throw .seatNotFound(seat) }
        if let (id, _) = await shard(for: seat).awayStay(seat: seat, user: user, now: clock.now()) {
            return try await comeBack(id: id, requester: Requester(userID: user))  // back from stepping away
        }
        guard let (id, _) = await shard(for: seat).reservationToCheckIn(seat: seat, user: user, now: clock.now())
        else {
            throw .invalidState("you hold no reservation on seat \(seat) to check in to now")
        }
        return try await perform(.checkInAtSeat, id: id, requester: Requester(userID: user))
    }

    /// Leaves early: `COMPLETED`, `end` becomes now, the rest of the slot is freed.
    public func checkout(id: ReservationID, requester: Requester) async throws(EngineError) -> Reservation {
        try await perform(.checkout, id: id, requester: requester)
    }

    /// Cancels a `CONFIRMED` reservation; a `CHECKED_IN` one is ended as by checkout.
    public func cancel(id: ReservationID, requester: Requester) async throws(EngineError) -> Reservation {
        try await perform(.cancel, id: id, requester: requester)
    }

    func perform(_ action: SeatShard.Action, id: ReservationID, requester: Requester) async throws(EngineError)
        -> Reservation
    {
        let (shard, slot) = try locate(id)
        return try await committing { () async throws(EngineError) in
            try await shard.perform(action, id: id, slot: slot, requester: requester, now: clock.now())
        }
    }

    /// Throws `error`, a refusal that may cite state (a conflict, a limit, a status), once
    /// everything appended before it is durable: a refusal never cites a change that then fails
    /// to become durable (if it does fail, the answer is that failure instead).
    func refusing(_ error: EngineError) async throws(EngineError) -> Never {
        if error.kind == .conflict || error.kind == .badRequest {
            try await context.health.commit(context.journal.barrier())
        }
        throw error
    }

    /// The storage failure that stopped every write, if one did.
    public var writeFailure: EngineError? { context.health.failed }

    /// A standby refuses every write with `error` (its state changes only by the primary's log,
    /// through ``apply(_:)``); `nil` accepts writes again (promotion).
    public func refuseWrites(_ error: EngineError?) { context.health.refuseWrites(error) }

    /// The newest epoch record applied: the epoch of the primary whose log this state follows.
    public var epoch: EpochChange? { context.epoch.withLock { $0 } }

    /// Appends the record of a new epoch (replication: this node now leads it), also while writes
    /// are refused (a standby being promoted); the caller waits for the log to make it durable.
    public func begin(epoch: EpochChange) throws(EngineError) {
        _ = try context.health.append(.epoch(epoch), to: context.journal)
        context.epoch.withLock { $0 = epoch }
    }

    /// A student's reservations, newest first. `upcomingOnly`: seat-holding and not yet ended.
    public func reservations(
        of user: UserID, status: ReservationStatus? = nil, upcomingOnly: Bool = false, limit: Int = 1_000,
        offset: Int = 0
    ) async -> Page<Reservation> {
        let now = clock.now()
        var ids = Array(context.ledger.reservations(of: user).reversed())  // the ledger's are in increasing order
        let total = ids.count
        let unfiltered = status == nil && !upcomingOnly
        if unfiltered {  // newest first: only the page's reservations are read
            ids = Array(ids.dropFirst(max(0, offset)).prefix(max(0, limit)))
        }
        var perShard = [[(ReservationID, UInt32)]](repeating: [], count: shards.count)
        for id in ids {
            guard let (seat, slot) = context.directory.locate(id) else { continue }
            perShard[shardIndex(seat)].append((id, slot))
        }
        let all = await fanOut(perShard) { shard, wanted in await shard.reservations(wanted) }
        if unfiltered { return Page(items: all.sorted { $0.id > $1.id }, total: total) }
        let matching = all.filter { r in
            (status == nil || r.status == status) && (!upcomingOnly || (r.status.holdsSeat && r.end > now))
        }.sorted { $0.id > $1.id }
        return Page(items: Array(matching.dropFirst(max(0, offset)).prefix(max(0, limit))), total: matching.count)
    }

    /// Every reservation (admin), filtered, by id ascending, paged.
    public func allReservations(matching filter: ReservationFilter = .init(), limit: Int = 1_000, offset: Int = 0) async
        -> Page<Reservation>
    {
        let all: [Reservation]
        if let seat = filter.seatID {
            all = await shard(for: seat).reservations(matching: filter)
        } else {
            all = await fanOut(shards.map { _ in filter }) { shard, f in await shard.reservations(matching: f) }
        }
        let sorted = all.sorted { $0.id < $1.id }
        return Page(items: Array(sorted.dropFirst(max(0, offset)).prefix(max(0, limit))), total: sorted.count)
    }

    func fanOut<Input: Sendable, Output: Sendable>(
        _ inputs: [Input], _ body: @escaping @Sendable (SeatShard, Input) async -> [Output]
    ) async -> [Output] {
        await withTaskGroup(of: [Output].self) { group in
            for (s, input) in inputs.enumerated() {
                let shard = shards[s]
                group.addTask { await body(shard, input) }
            }
            var merged: [Output] = []
            for await part in group { merged += part }
            return merged
        }
    }

}

/// A branch as the catalog had it after one of its changes. Shards get copies from concurrent
/// calls in any order; they keep the one of the highest version, so an older copy arriving late
/// never undoes a newer change (hours, closures).
struct BranchCopy: Sendable {
    var branch: Branch
    var version: UInt64
}
