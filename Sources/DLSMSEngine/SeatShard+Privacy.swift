import DLSMSCore

/// Cutting reservations' link to their students (retention, an erasure).
extension SeatShard {
    /// Finished reservations that ended before `cutoff` and still name their student, at most `limit`.
    func anonymiseCandidates(endedBefore cutoff: Timestamp, limit: Int) -> [ReservationID] {
        finished(endedBefore: cutoff, limit: limit) { $0.userID != .anonymous }.map(\.id)
    }

    /// Anonymises those of `ids` that are here, finished and still name a student: their record is
    /// appended and applied in this one turn, so no later change of theirs can precede it in the
    /// log. Returns the record's ticket and how many it names.
    func anonymise(_ ids: [ReservationID]) throws(EngineError) -> (JournalTicket, Int) {
        var list: [ArchivedReservation] = []
        for id in ids {
            guard let (_, r) = stored(id), r.userID != .anonymous, !r.status.holdsSeat else { continue }
            list.append(ArchivedReservation(id: id, seatID: r.seatID, userID: .anonymous))
        }
        guard !list.isEmpty else { return (.durable, 0) }
        try ctx.health.check()
        let ticket = try ctx.health.append(.reservationsAnonymised(list), to: ctx.journal)
        restoreAnonymised(list)
        return (ticket, list.count)
    }

    /// Applies an anonymisation record (also replay): each named reservation here now belongs to
    /// no one, and leaves its student's list.
    func restoreAnonymised(_ list: [ArchivedReservation]) {
        var leaving: [UserID: Set<ReservationID>] = [:]
        for a in list {
            guard let (slot, stored) = stored(a.id), stored.userID != .anonymous else { continue }
            var r = stored
            leaving[r.userID, default: []].insert(r.id)
            r.userID = .anonymous
            slots[Int(slot)] = r
        }
        for (user, ids) in leaving { ctx.ledger.forget(user: user, ids: ids) }
    }

    /// Reservation `id` and its slot, if this shard stores it.
    private func stored(_ id: ReservationID) -> (slot: UInt32, reservation: Reservation)? {
        guard let (_, slot) = ctx.directory.locate(id), Int(slot) < slots.count, slots.id(at: Int(slot)) == id
        else { return nil }
        return (slot, slots[Int(slot)])
    }
}
