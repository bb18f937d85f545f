import DLSMSCore
import Foundation
import Synchronization

public struct EngineConfiguration: Sendable {
    /// Number of shard actors. Default: the number of active processors.
    public var shardCount: Int
    public var rules: BookingRules
    /// Live notification streams per student, and notifications queued per stream.
    public var streamsPerUser: Int
    public var streamQueue: Int

    public init(
        shardCount: Int? = nil, rules: BookingRules = .default, streamsPerUser: Int = 8, streamQueue: Int = 1_000
    ) {
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

    private let shards: [SeatShard]
    private let context: EngineContext
    private let users = UserDirectory()
    private let catalog = Mutex(Catalog())

    private struct Catalog {
        var branches: [Branch] = []
        var seatBranch: [SeatID: String] = [:]

        func branch(named name: String) -> Branch? { branches.first { $0.name == name } }

        /// Adds or replaces a branch; returns its seats (which keep a copy of its opening hours).
        mutating func put(_ branch: Branch) -> [SeatID] {
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
        let context = EngineContext(
            rules: configuration.rules, directory: ReservationDirectory(), ledger: UserLedger(), waitlist: Waitlist(),
            notifications: notifications, journal: journal)
        self.context = context
        shards = (0..<configuration.shardCount).map { _ in SeatShard(context: context) }
    }

    @inline(__always) private func shard(for seat: SeatID) -> SeatShard {
        shards[Int(UInt32(bitPattern: seat) % UInt32(shards.count))]
    }

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
        seat.inMaintenance = inMaintenance
        try await define(seat: seat)
        return seat
    }

    private func apply(branch: Branch) async {
        await propagate(branch, to: catalog.withLock { $0.put(branch) })
    }

    /// Seats keep a copy of their branch (opening hours, time zone). Each shard updates its seats
    /// in one actor turn, changing only the branch: a seat is never read in one turn and written
    /// back in another, which could undo a maintenance change made in between.
    private func propagate(_ branch: Branch, to seats: [SeatID]) async {
        var perShard = [[SeatID]](repeating: [], count: shards.count)
        for id in seats { perShard[Int(UInt32(bitPattern: id) % UInt32(shards.count))].append(id) }
        for (s, ids) in perShard.enumerated() where !ids.isEmpty { await shards[s].setBranch(branch, of: ids) }
    }

    private func apply(seat: Seat, branch: Branch) async {
        catalog.withLock { $0.seatBranch[seat.id] = seat.branch }
        await shard(for: seat.id).define(seat: seat, branch: branch)
    }

    public var branchList: [Branch] { catalog.withLock { $0.branches } }

    // MARK: - Accounts

    /// Creates an account. The caller hashes the password; the engine never sees it.
    public func register(studentID: String, name: String, passwordHash: String, role: Role = .student)
        async throws(EngineError) -> User
    {
        try BookingRules.validateStudentID(studentID)
        try BookingRules.validateName(name)
        try context.health.check()
        let (user, ticket) = try users.create(
            studentID: studentID, name: name, role: role, passwordHash: passwordHash, now: clock.now(),
            journal: context.journal)
        try await context.health.commit(ticket)
        return user
    }

    /// Changes an account (password, name, role, disabled flag, token generation), durably.
    @discardableResult
    public func updateUser(id: UserID, _ change: (inout User) -> Void) async throws(EngineError) -> User {
        try context.health.check()
        let (old, new, ticket) = try users.update(id: id, journal: context.journal, change)
        try await context.health.commit(ticket)
        if new.disabled || new.tokenGeneration != old.tokenGeneration {
            notifications.finishStreams(of: id)  // their tokens no longer work: neither do their streams
        }
        return new
    }

    public func user(id: UserID) -> User? { users.user(id: id) }
    public func user(studentID: String) -> User? { users.user(studentID: studentID) }
    public var userCount: Int { users.count }

    // MARK: - Booking

    /// Books `[start, end)` on a seat for a student. Errors in the contract's order: time rules
    /// (400), unknown seat (404), then conflicts and limits (409).
    public func book(user: UserID, seat: SeatID, start: Timestamp, end: Timestamp) async throws(EngineError)
        -> Reservation
    {
        let now = clock.now()
        try rules.validateWindow(start: start, end: end, now: now, openingHours: nil)
        let shard = shard(for: seat)
        let placed: (Reservation, JournalTicket)
        do {
            placed = try await shard.place(user: user, seat: seat, start: start, end: end, now: now)
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
                try rules.validateWindow(start: q.start, end: q.end, now: now, openingHours: nil)
                perShard[Int(UInt32(bitPattern: q.seatID) % UInt32(shards.count))].append(i)
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

    private func locate(_ id: ReservationID) throws(EngineError) -> (SeatShard, UInt32) {
        guard let (seat, slot) = context.directory.locate(id) else { throw .reservationNotFound(id) }
        return (shard(for: seat), slot)
    }

    public func reservation(id: ReservationID, requester: Requester) async throws(EngineError) -> Reservation {
        let (shard, slot) = try locate(id)
        return try await shard.reservation(id: id, slot: slot, requester: requester)
    }

    public func checkIn(id: ReservationID, requester: Requester) async throws(EngineError) -> Reservation {
        try await perform(.checkIn, id: id, requester: requester)
    }

    /// Leaves early: `COMPLETED`, `end` becomes now, the rest of the slot is freed.
    public func checkout(id: ReservationID, requester: Requester) async throws(EngineError) -> Reservation {
        try await perform(.checkout, id: id, requester: requester)
    }

    /// Cancels a `CONFIRMED` reservation; a `CHECKED_IN` one is ended as by checkout.
    public func cancel(id: ReservationID, requester: Requester) async throws(EngineError) -> Reservation {
        try await perform(.cancel, id: id, requester: requester)
    }

    private func perform(_ action: SeatShard.Action, id: ReservationID, requester: Requester) async throws(EngineError)
        -> Reservation
    {
        let (shard, slot) = try locate(id)
        let performed: (Reservation, SeatShard.Batch)
        do {
            performed = try await shard.perform(action, id: id, slot: slot, requester: requester, now: clock.now())
        } catch {
            try await refusing(error)
        }
        try await performed.1.commit(hub: notifications, health: context.health)
        return performed.0
    }

    /// Throws `error`, a refusal that may cite state (a conflict, a limit, a status), once
    /// everything appended before it is durable: a refusal never cites a change that then fails
    /// to become durable (if it does fail, the answer is that failure instead).
    private func refusing(_ error: EngineError) async throws(EngineError) -> Never {
        if error.kind == .conflict || error.kind == .badRequest {
            try await context.health.commit(context.journal.barrier())
        }
        throw error
    }

    /// The storage failure that stopped every write, if one did.
    public var writeFailure: EngineError? { context.health.failed }

    /// A student's reservations, newest first. `upcomingOnly`: seat-holding and not yet ended.
    public func reservations(
        of user: UserID, status: ReservationStatus? = nil, upcomingOnly: Bool = false, limit: Int = 1_000,
        offset: Int = 0
    ) async -> Page<Reservation> {
        let now = clock.now()
        var ids = context.ledger.reservations(of: user).sorted(by: >)
        let total = ids.count
        let unfiltered = status == nil && !upcomingOnly
        if unfiltered {  // newest first: only the page's reservations are read
            ids = Array(ids.dropFirst(max(0, offset)).prefix(max(0, limit)))
        }
        var perShard = [[(ReservationID, UInt32)]](repeating: [], count: shards.count)
        for id in ids {
            guard let (seat, slot) = context.directory.locate(id) else { continue }
            perShard[Int(UInt32(bitPattern: seat) % UInt32(shards.count))].append((id, slot))
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

    private func fanOut<Input: Sendable, Output: Sendable>(
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

    // MARK: - Waitlist

    /// Waits for a seat (or any seat of a branch) for `[desired, end)`; `end` defaults to one hour later.
    public func joinWaitlist(user: UserID, target: WaitTarget, desired: Timestamp, end: Timestamp? = nil)
        async throws(EngineError) -> (entry: WaitlistEntry, position: Int?)
    {
        let now = clock.now()
        let end = end ?? desired + Seconds.hour
        let hours: OpeningHours?
        switch target {
        case .seat(let id):
            let branch = catalog.withLock { c in c.seatBranch[id].flatMap { c.branch(named: $0) } }
            try rules.validateWindow(
                start: desired, end: end, now: now, openingHours: branch?.openingHours,
                utcOffset: branch?.utcOffset(at: desired) ?? 0)
            guard branch != nil else { throw .seatNotFound(id) }
        case .branch(let name):
            let branch = catalog.withLock { $0.branch(named: name) }
            hours = branch?.openingHours
            try rules.validateWindow(
                start: desired, end: end, now: now, openingHours: hours, utcOffset: branch?.utcOffset(at: desired) ?? 0)
            guard hours != nil else { throw .branchNotFound(name) }
        }
        try context.health.check()
        let joined = try context.waitlist.join(
            user: user, target: target, desired: desired, end: end, now: now, limit: rules.maxWaitingPerUser,
            journal: context.journal)
        try await context.health.commit(joined.ticket)
        return (joined.entry, joined.position)
    }

    public func leaveWaitlist(id: WaitlistEntryID, requester: Requester) async throws(EngineError) -> WaitlistEntry {
        try context.health.check()
        let left = try context.waitlist.leave(
            user: requester.userID, id: id, asAdmin: requester.isAdmin, journal: context.journal)
        try await context.health.commit(left.ticket)
        return left.entry
    }

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
        report.noShows.sort { $0.id < $1.id }
        report.completed.sort { $0.id < $1.id }
        report.notified.sort { $0.id < $1.id }
        return report
    }

    // MARK: - Seed, replay, checks

    /// Loads the original DL-SMS data set (`SeedData`) into an empty engine, relative to now.
    public func seed(studentPasswordHash: String, adminPasswordHash: String) async throws(EngineError) {
        try await seed(
            studentPasswordHashes: Array(repeating: studentPasswordHash, count: SeedData.studentNames.count),
            adminPasswordHash: adminPasswordHash)
    }

    /// Loads the seed data set with one password hash per student; `nil` loads the catalog and
    /// the admin only (no demo students, reservations or waitlist).
    public func seed(studentPasswordHashes: [String]?, adminPasswordHash: String) async throws(EngineError) {
        precondition(studentPasswordHashes.map { $0.count == SeedData.studentNames.count } ?? true)
        let now = clock.now()
        var records: [JournalRecord] = SeedData.branches.map { .branchDefined($0) }
        records += SeedData.seats.map { .seatDefined($0) }
        let students = studentPasswordHashes ?? []
        for (i, hash) in students.enumerated() {
            records.append(
                .userCreated(
                    User(
                        id: UserID(i + 1), studentID: SeedData.studentID(i + 1), name: SeedData.studentNames[i],
                        role: .student, passwordHash: hash, createdAt: now)))
        }
        records.append(
            .userCreated(
                User(
                    id: UserID(students.count + 1), studentID: SeedData.adminStudentID, name: "Administrator",
                    role: .admin, passwordHash: adminPasswordHash, createdAt: now)))
        if studentPasswordHashes != nil {
            for (i, s) in SeedData.reservations.enumerated() {
                var r = Reservation(
                    id: ReservationID(i + 1), seatID: s.seatID, userID: UserID(s.userIndex), start: now + s.startOffset,
                    end: now + s.endOffset, status: s.status, createdAt: now + min(0, s.startOffset) - Seconds.day)
                if s.status == .checkedIn || s.status == .completed { r.checkedInAt = r.start }
                records.append(.reservationCreated(r))
            }
            for (i, w) in SeedData.waitlist.enumerated() {
                let desired = now + w.desiredOffset
                records.append(
                    .waitlistChanged(
                        WaitlistEntry(
                            id: WaitlistEntryID(i + 1), userID: UserID(w.userIndex), target: w.target,
                            desiredTime: desired, endTime: desired + Seconds.hour, createdAt: now)))
            }
        }
        var last = JournalTicket.durable
        for r in records {
            await apply(r)
            last = try context.journal.append(r)
        }
        try await last.wait()
    }

    /// Applies a recorded change as it is (seed and WAL replay): no rules, no journal. Idempotent.
    public func apply(_ record: JournalRecord) async {
        switch record {
        case .branchDefined(let b): await apply(branch: b)
        case .seatDefined(let s):
            guard let b = catalog.withLock({ $0.branch(named: s.branch) }) else {
                preconditionFailure("seat \(s.id) names branch '\(s.branch)', which is not defined")
            }
            await apply(seat: s, branch: b)
        case .userCreated(let u), .userChanged(let u): users.restore(u)
        case .reservationCreated(let r), .reservationChanged(let r): await shard(for: r.seatID).restore(r)
        case .waitlistChanged(let e): context.waitlist.replay(e)
        case .notificationCreated(let n): notifications.restore(n)
        case .idFloor(let f):
            context.directory.raiseNext(to: f.reservation)
            context.waitlist.raiseNext(to: f.waitlistEntry)
            notifications.raiseNext(to: f.notification)
        }
    }

    /// Applies many recorded changes in order, with one actor hop per shard for each run of
    /// reservation records (recovery of millions of records).
    public func apply(batch records: some Sequence<JournalRecord>) async {
        var pending = [[Reservation]](repeating: [], count: shards.count)
        var pendingCount = 0
        func flush() async {
            guard pendingCount > 0 else { return }
            await withTaskGroup(of: Void.self) { group in
                for (s, batch) in pending.enumerated() where !batch.isEmpty {
                    let shard = shards[s]
                    group.addTask { await shard.restore(batch) }
                }
            }
            pending = [[Reservation]](repeating: [], count: shards.count)
            pendingCount = 0
        }
        for record in records {
            switch record {
            case .reservationCreated(let r), .reservationChanged(let r):
                pending[Int(UInt32(bitPattern: r.seatID) % UInt32(shards.count))].append(r)
                pendingCount += 1
                if pendingCount >= 65_536 { await flush() }
            case .userCreated, .userChanged, .waitlistChanged, .notificationCreated, .idFloor:
                await apply(record)
            case .branchDefined, .seatDefined:
                await flush()
                await apply(record)
            }
        }
        await flush()
    }

    /// The state as of now, for a snapshot. Each part is consistent in itself (one lock or one
    /// actor turn); parts are taken one after the other while writes go on, which replay of the
    /// WAL after the snapshot's covered LSN makes whole (records are idempotent and monotone).
    public func capture() async -> EngineImage {
        var image = EngineImage()
        image.branches = branchList
        for shard in shards {
            let part = await shard.capture()
            image.seats += part.seats
            image.parts.append(part.reservations)
        }
        image.seats.sort { $0.id < $1.id }
        image.users = users.all
        image.waitlist = context.waitlist.all
        image.notifications = notifications.all
        image.idFloor = IDFloor(
            reservation: context.directory.nextID, waitlistEntry: context.waitlist.nextID,
            notification: notifications.nextID)
        return image
    }

    // MARK: - Retention

    /// Finished reservations due to leave memory at `now`: those that ended more than
    /// ``BookingRules/retention`` ago, and each student's oldest finished ones beyond
    /// ``BookingRules/historyPerUser``. At most `limit`.
    public func archiveCandidates(now: Timestamp, limit: Int = 50_000) async -> [Reservation] {
        let cutoff = now - rules.retention
        let old = await fanOut(shards.map { _ in cutoff }) { shard, cutoff in
            await shard.finished(endedBefore: cutoff, limit: limit)
        }
        var chosen = Dictionary(old.prefix(limit).map { ($0.id, $0) }) { a, _ in a }
        // Students with a long history: their oldest finished reservations beyond the cap.
        for (_, ids) in context.ledger.students(withMoreThan: rules.historyPerUser) where chosen.count < limit {
            var perShard = [[(ReservationID, UInt32)]](repeating: [], count: shards.count)
            for id in ids {
                guard let (seat, slot) = context.directory.locate(id) else { continue }
                perShard[Int(UInt32(bitPattern: seat) % UInt32(shards.count))].append((id, slot))
            }
            let finished = await fanOut(perShard) { shard, wanted in await shard.reservations(wanted) }
                .filter { !$0.status.holdsSeat }.sorted { $0.id < $1.id }
            for r in finished.dropLast(rules.historyPerUser) where chosen.count < limit { chosen[r.id] = r }
        }
        return chosen.values.sorted { $0.id < $1.id }
    }

    /// Drops reservations that the archive now holds from memory.
    public func forgetArchived(_ archived: [Reservation]) async {
        var perShard = [[Reservation]](repeating: [], count: shards.count)
        for r in archived { perShard[Int(UInt32(bitPattern: r.seatID) % UInt32(shards.count))].append(r) }
        _ = await fanOut(perShard) { shard, batch -> [Int] in
            await shard.forget(batch)
            return []
        }
        context.directory.compact()
    }

    /// Drops finished waitlist entries beyond the per-student cap or older than the retention.
    public func pruneWaitlist(now: Timestamp) -> Int {
        context.waitlist.prune(
            keepFinishedPerUser: rules.finishedWaitlistPerUser, now: now, retainedAfter: now - rules.retention)
    }

    /// Reservations in memory (live slots), for tests and metrics.
    public func reservationsInMemory() async -> Int {
        await fanOut(shards.map { _ in 0 }) { shard, _ in [await shard.liveReservations] }.reduce(0, +)
    }

    /// Seats and stored reservations, from counters (cheap enough for every health check).
    public var counts: (seats: Int, reservations: Int) {
        (catalog.withLock { $0.seatBranch.count }, context.directory.count)
    }

    /// Per-branch figures for admins: seats, occupied now, and reservations by outcome.
    public func branchStatistics(now: Timestamp) async -> [BranchStatistics] {
        let parts = await fanOut(shards.map { _ in now }) { shard, now in await shard.statistics(now: now) }
        return branchList.map { b in
            var total = BranchStatistics(branch: b.name)
            for part in parts where part.branch == b.name { total.add(part) }
            return total
        }
    }

    /// The highest reservation id handed out (ids of later bookings are higher).
    public var highestReservationID: ReservationID { context.directory.highestID }

    /// `true` when every seat index is sorted and overlap-free and agrees with the stored reservations.
    public func checkInvariants() async -> Bool {
        for shard in shards where await !shard.checkInvariants() { return false }
        return true
    }

    /// Seats, stored reservations, and seat-holding reservations.
    public func stats() async -> (seats: Int, reservations: Int, holding: Int) {
        var total = (seats: 0, reservations: 0, holding: 0)
        for shard in shards {
            let s = await shard.stats
            total.seats += s.seats
            total.reservations += s.reservations
            total.holding += s.holding
        }
        return total
    }

    /// Pre-sizes storage for about `n` reservations (benchmarks, recovery).
    public func reserveCapacity(reservations n: Int) async {
        context.directory.reserveCapacity(n)
        for shard in shards { await shard.reserveCapacity(n / shards.count + 1) }
    }

    /// Every waitlist entry (admin, export).
    public var allWaitlistEntries: [WaitlistEntry] { context.waitlist.all }
    public var allUsers: [User] { users.all }
}
