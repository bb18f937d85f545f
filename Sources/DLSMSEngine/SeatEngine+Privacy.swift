import DLSMSCore

/// The audit trail, erasure of an account, and the anonymisation of old reservations
/// (`docs/privacy.md`).
extension SeatEngine {
    // MARK: - Audit trail

    /// Appends the audit entry `build` makes (given its number and the previous entry's hash) and
    /// waits until it is durable. Refused like any write (a standby, a failed log).
    @discardableResult
    public func recordAudit(_ build: (_ seq: UInt64, _ previousHash: [UInt8]) -> AuditEntry) async throws(EngineError)
        -> AuditEntry
    {
        try context.health.check()
        let (entry, ticket): (AuditEntry, JournalTicket)
        do {
            (entry, ticket) = try audit.append(journal: context.journal, build)
        } catch {
            context.health.fail(error)
            throw error
        }
        try await context.health.commit(ticket)
        return entry
    }

    /// Drops audit entries older than the retention (``BookingRules/auditRetention``) from memory;
    /// the next snapshot no longer holds them.
    @discardableResult
    public func pruneAudit(now: Timestamp) -> Int { audit.prune(before: now - rules.auditRetention) }

    // MARK: - Anonymisation

    /// Cuts the link to their students of finished reservations in memory that ended more than
    /// ``BookingRules/anonymiseAfter`` before `now` (everything the reports count stays). Returns
    /// how many were anonymised.
    @discardableResult
    public func anonymiseExpired(now: Timestamp, batch: Int = 50_000) async throws(EngineError) -> Int {
        let cutoff = now - rules.anonymiseAfter
        var total = 0
        while true {
            let results = await fanOut(shards.map { _ in cutoff }) { shard, cutoff -> [Result<Int, EngineError>] in
                let ids = await shard.anonymiseCandidates(endedBefore: cutoff, limit: batch)
                return [await Self.anonymise(ids, in: shard)]
            }
            var moved = 0
            for r in results {
                switch r {
                case .success(let n): moved += n
                case .failure(let e): throw e
                }
            }
            total += moved
            if moved > 0 { noteAnonymised() }
            if moved == 0 { return total }
        }
    }

    /// Anonymises `ids` (reservations of one shard) and waits until durable.
    private static func anonymise(_ ids: [ReservationID], in shard: SeatShard) async -> Result<Int, EngineError> {
        do throws(EngineError) {
            let (ticket, n) = try await shard.anonymise(ids)
            try await ticket.wait()
            return .success(n)
        } catch {
            return .failure(error)
        }
    }

    /// Anonymises a student's finished reservations in memory (an erasure).
    func anonymise(reservationsOf user: UserID) async throws(EngineError) -> Int {
        var perShard = [[ReservationID]](repeating: [], count: shards.count)
        for id in context.ledger.reservations(of: user) {
            guard let (seat, _) = context.directory.locate(id) else { continue }
            perShard[shardIndex(seat)].append(id)
        }
        var total = 0
        for (s, ids) in perShard.enumerated() where !ids.isEmpty {
            let (ticket, n) = try await shards[s].anonymise(ids)
            try await context.health.commit(ticket)
            total += n
        }
        if total > 0 { noteAnonymised() }
        return total
    }

    // MARK: - Erasure

    /// Erases an account, in two journal records:
    ///
    /// 1. the erasure begins: the account's name, email, student id, password hash, identity
    ///    links and calendar feed go, it signs in no more and its tokens stop working;
    /// 2. what it still had coming is cancelled as the student would cancel it (seats free, the
    ///    waitlist hears), its reservations are anonymised;
    /// 3. the erasure is done: its waitlist history, notifications, strikes and staff-given groups
    ///    go.
    ///
    /// A crash part-way leaves an erased account with work left: ``finishPendingErasures()`` (at
    /// start, and in each sweep) finishes it, and erasing it again does too. Returns how many of
    /// its reservations in memory were anonymised.
    public func eraseAccount(_ id: UserID) async throws(EngineError) -> Int {
        guard let user = users.user(id: id) else { throw .userNotFound }
        if user.isErased && !erasurePending(id) { throw .invalidState("the account is already erased") }
        if !user.isErased {
            try context.health.check()
            let begun = AccountErasure(userID: id, at: clock.now(), done: false)
            let ticket = try context.health.append(.accountErased(begun), to: context.journal)
            applyErasure(begun)
            try await context.health.commit(ticket)
        }
        return try await finishErasure(id)
    }

    /// Steps 2 and 3 of ``eraseAccount(_:)``.
    private func finishErasure(_ id: UserID) async throws(EngineError) -> Int {
        let owner = Requester(userID: id, isAdmin: true)
        var anonymised = 0
        // Twice: a booking on the student's behalf already past its check when the erasure began
        // lands in the first round's gap, and is caught by the second.
        for _ in 0..<2 {
            for r in await reservations(of: id, limit: Int.max).items where r.status.holdsSeat && r.status != .held {
                do {
                    _ = try await cancel(id: r.id, requester: owner)
                } catch {
                    if error.kind == .conflict || error.kind == .notFound || error.kind == .badRequest { continue }
                    throw error  // it finished meanwhile, or the log failed
                }
            }
            for (e, _) in waitlist(of: id) where e.status == .waiting || e.status == .offered {
                do {
                    _ = try await leaveWaitlist(id: e.id, requester: owner)
                } catch {
                    if error.kind == .conflict || error.kind == .notFound || error.kind == .badRequest { continue }
                    throw error
                }
            }
            anonymised += try await anonymise(reservationsOf: id)
        }
        try context.health.check()
        let done = AccountErasure(userID: id, at: clock.now(), done: true)
        let ticket = try context.health.append(.accountErased(done), to: context.journal)
        applyErasure(done)
        try await context.health.commit(ticket)
        return anonymised
    }

    /// Whether an erased account still has something of its own: reservations linked to it,
    /// waitlist entries, notifications, strikes, staff-given groups.
    func erasurePending(_ id: UserID) -> Bool {
        !context.ledger.reservations(of: id).isEmpty || !waitlist(of: id).isEmpty
            || !notifications.list(user: id).isEmpty || !strikes(of: id).isEmpty || !assignedGroups(of: id).isEmpty
    }

    /// Finishes every erasure a crash interrupted (or that a booking on the student's behalf,
    /// already under way when the erasure began, added to): at start and in each sweep of a
    /// primary. Returns how many accounts it finished.
    @discardableResult
    public func finishPendingErasures() async -> Int {
        var finished = 0
        for id in users.erased.sorted() where erasurePending(id) {
            if (try? await finishErasure(id)) != nil { finished += 1 }
        }
        return finished
    }

    /// Applies an erasure record (also replay and a standby). Idempotent.
    func applyErasure(_ erasure: AccountErasure) {
        let id = erasure.userID
        mail.drop(user: id, at: erasure.at)
        if let user = users.user(id: id), !user.isErased {
            users.restore(user.erased())
            context.policies.forget(user: id)
            notifications.finishStreams(of: id)  // its tokens no longer work: neither do its streams
        }
        guard erasure.done else { return }
        context.policies.erase(user: id)
        context.waitlist.erase(user: id)
        notifications.erase(user: id)
        privacy.withLock { $0.erasures += 1 }
    }

    /// The erased accounts' ids.
    public var erasedAccounts: Set<UserID> { users.erased }

    /// Erasures and anonymisations applied since start: the data directory is compacted when this
    /// grows (``DurableEngine/compactIfNeeded()``).
    public var privacyChanges: Int { privacy.withLock { $0.erasures + $0.anonymisations } }

    func noteAnonymised() { privacy.withLock { $0.anonymisations += 1 } }
}

extension SeatEngine {
    /// Appends a record that changes nothing (the current id floor) and waits until it is durable:
    /// the batch that starts a new WAL segment at compaction.
    public func appendMarker() async throws(EngineError) {
        try context.health.check()
        let floor = IDFloor(
            reservation: context.directory.nextID, waitlistEntry: context.waitlist.nextID,
            notification: notifications.nextID, webhookEvent: webhooks.nextEventID)
        try await context.health.commit(try context.health.append(.idFloor(floor), to: context.journal))
    }
}
