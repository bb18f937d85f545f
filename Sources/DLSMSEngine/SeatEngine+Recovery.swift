import DLSMSCore
import Foundation
import Synchronization

/// Seeding, replay, invariants, snapshot capture, and what leaves memory (retention).
extension SeatEngine {
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
                r.checkedInAt = s.checkedInOffset.map { now + $0 }
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
        case .branchDefined(let b):
            webhooks.restore(record)
            await apply(branch: b)
        case .webhookEndpoint, .webhookEvent: webhooks.restore(record)
        case .seatDefined(let s):
            guard let b = catalog.withLock({ $0.copy(named: s.branch) }) else {
                preconditionFailure("seat \(s.id) names branch '\(s.branch)', which is not defined")
            }
            await apply(seat: s, branch: b)
        case .userCreated(let u), .userChanged(let u):
            users.restore(u)
            context.policies.forget(user: u.id)
        case .reservationCreated(let r), .reservationChanged(let r):
            _ = held.note(record)
            await shard(for: r.seatID).restore(r)
        case .together(let parts): for part in parts { await apply(part) }
        case .mailQueued, .mailSettled: mail.restore(record)
        case .waitlistChanged(let e): context.waitlist.replay(e)
        case .notificationCreated(let n): notifications.restore(n)
        case .idFloor(let f):
            webhooks.restore(record)
            context.directory.raiseNext(to: f.reservation)
            context.waitlist.raiseNext(to: f.waitlistEntry)
            notifications.raiseNext(to: f.notification)
        case .sessionRevoked(let s): revocations.restore(s)
        case .groupPolicy, .groupMembership, .strike, .suspensionLifted: context.policies.restore(record)
        case .epoch(let e): context.epoch.withLock { if $0.map({ $0.epoch < e.epoch }) ?? true { $0 = e } }
        case .audit(let e): audit.restore(e)
        case .accountErased(let e): applyErasure(e)
        case .reservationsAnonymised(let list):
            for (s, part) in perShard(list, seat: \.seatID).enumerated() where !part.isEmpty {
                await shards[s].restoreAnonymised(part)
            }
            noteAnonymised()
        case .reservationsArchived(let list):
            for (s, part) in perShard(list, seat: \.seatID).enumerated() where !part.isEmpty {
                await shards[s].forget(ids: part)
            }
            context.directory.compact()
        }
    }

    /// Applies many recorded changes in order, with one actor hop per shard for each run of
    /// reservation records (recovery of millions of records).
    public func apply(batch records: some Sequence<JournalRecord>) async {
        var pending = [[Reservation]](repeating: [], count: shards.count)
        var pendingCount = 0
        func flush() async {
            guard pendingCount > 0 else { return }
            if pendingCount < 512 {
                // A few records (a standby applying one message of its primary's log): one hop
                // per shard is cheaper than a child task per shard.
                for (s, batch) in pending.enumerated() where !batch.isEmpty { await shards[s].restore(batch) }
            } else {
                await withTaskGroup(of: Void.self) { group in
                    for (s, batch) in pending.enumerated() where !batch.isEmpty {
                        let shard = shards[s]
                        group.addTask { await shard.restore(batch) }
                    }
                }
            }
            pending = [[Reservation]](repeating: [], count: shards.count)
            pendingCount = 0
        }
        for record in records {
            switch record {
            case .reservationCreated(let r), .reservationChanged(let r):
                _ = held.note(record)
                pending[shardIndex(r.seatID)].append(r)
                pendingCount += 1
                if pendingCount >= 65_536 { await flush() }
            case .together(let parts):
                for part in parts {
                    if case .reservationCreated(let r) = part { pending[shardIndex(r.seatID)].append(r) }
                    if case .reservationChanged(let r) = part { pending[shardIndex(r.seatID)].append(r) }
                    _ = held.note(part)
                }
                pendingCount += parts.count
            case .userCreated, .userChanged, .waitlistChanged, .notificationCreated, .idFloor, .webhookEndpoint,
                .webhookEvent, .epoch, .sessionRevoked, .groupPolicy, .groupMembership, .strike, .suspensionLifted,
                .audit, .mailQueued, .mailSettled:
                await apply(record)
            case .branchDefined, .seatDefined, .reservationsArchived, .reservationsAnonymised, .accountErased:
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
        image.webhooks = webhooks.image
        image.idFloor = IDFloor(
            reservation: context.directory.nextID, waitlistEntry: context.waitlist.nextID,
            notification: notifications.nextID, webhookEvent: webhooks.nextEventID)
        image.epoch = context.epoch.withLock { $0 }
        image.revocations = revocations.live(now: clock.now())
        image.policies = context.policies.image
        image.audit = audit.all
        image.mail = mail.image
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
                perShard[shardIndex(seat)].append((id, slot))
            }
            let finished = await fanOut(perShard) { shard, wanted in await shard.reservations(wanted) }
                .filter { !$0.status.holdsSeat }.sorted { $0.id < $1.id }
            for r in finished.dropLast(rules.historyPerUser) where chosen.count < limit { chosen[r.id] = r }
        }
        return chosen.values.sorted { $0.id < $1.id }
    }

    /// Records that `archived` moved to the archive file (durably), then drops them from memory.
    /// Replay applies the record the same way, so a restart does not bring them back.
    public func recordArchived(_ archived: [Reservation]) async throws(EngineError) {
        try context.health.check()
        let record = JournalRecord.reservationsArchived(
            archived.map { ArchivedReservation(id: $0.id, seatID: $0.seatID, userID: $0.userID) })
        let ticket = try context.health.append(record, to: context.journal)
        try await context.health.commit(ticket)
        await forgetArchived(archived)
    }

    /// Drops reservations that the archive now holds from memory.
    public func forgetArchived(_ archived: [Reservation]) async {
        _ = await fanOut(perShard(archived, seat: \.seatID)) { shard, batch -> [Int] in
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
        // The shards check in parallel (recovery waits for this).
        await withTaskGroup(of: Bool.self) { group in
            for shard in shards { group.addTask { await shard.checkInvariants() } }
            return await group.allSatisfy { $0 }
        }
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
    /// A page of the accounts by id, and how many there are.
    public func users(offset: Int, limit: Int) -> (users: [User], total: Int) {
        users.page(offset: max(0, offset), limit: max(0, limit))
    }
}
