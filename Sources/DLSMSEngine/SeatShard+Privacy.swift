import DLSMSCore

/// Cutting reservations' link to their students (retention, an erasure).
extension SeatShard {
    /// Finished reservations that ended before `cutoff` and still name their student, at most `limit`.
    func anonymiseCandidates(endedBefore cutoff: Timestamp, limit: Int) -> [ReservationID] {
        var out: [ReservationID] = []
        for slot in slots.indices where slots.id(at: slot) != 0 {
            let r = slots[slot]
            if r.userID != .anonymous && !r.status.holdsSeat && r.end < cutoff {
                out.append(r.id)
                if out.count >= limit { break }
            }
        }
        return out
    }

    /// Anonymises those of `ids` that are here, finished and still name a student: their record is
    /// appended and applied in this one turn, so no later change of theirs can precede it in the
    /// log. Returns the record's ticket and how many it names.
    func anonymise(_ ids: [ReservationID]) throws(EngineError) -> (JournalTicket, Int) {
        var list: [ArchivedReservation] = []
        for id in ids {
            guard let r = stored(id), r.userID != .anonymous, !r.status.holdsSeat else { continue }
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
            guard let (_, slot) = ctx.directory.locate(a.id), Int(slot) < slots.count, slots.id(at: Int(slot)) == a.id
            else { continue }
            var r = slots[Int(slot)]
            guard r.userID != .anonymous else { continue }
            leaving[r.userID, default: []].insert(r.id)
            r.userID = .anonymous
            slots[Int(slot)] = r
        }
        for (user, ids) in leaving { ctx.ledger.forget(user: user, ids: ids) }
    }

    private func stored(_ id: ReservationID) -> Reservation? {
        guard let (_, slot) = ctx.directory.locate(id), Int(slot) < slots.count, slots.id(at: Int(slot)) == id
        else { return nil }
        return slots[Int(slot)]
    }
}
