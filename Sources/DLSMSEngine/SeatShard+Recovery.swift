import DLSMSCore
import Foundation

/// Restoring recorded state (seed, replay), invariants, capture, and retention.
extension SeatShard {
    // MARK: - Restore (seed and replay)

    /// Stores a recorded reservation (created or changed) as it is, without rules.
    ///
    /// Idempotent, and never moves a reservation backwards: a record whose status is behind the
    /// stored one is already reflected and is skipped. So replaying the log from any point before
    /// the state (a snapshot taken while writes flowed) gives the same result. A record of the
    /// same stage that differs (an extension, a step away and back) is applied: the log's later
    /// record of a stage is the newer one, and its last one is what the snapshot holds.
    func restore(_ r: Reservation) {
        guard let p = positions[r.seatID] else {
            preconditionFailure("reservation \(r.id) names seat \(r.seatID), which is not defined")
        }
        let next = UInt32(slots.nextSlot)
        // One directory lock per record: a new reservation (the usual case) is registered at once.
        let known = ctx.directory.locateOrRegister(id: r.id, seat: r.seatID, slot: next)
        if let (_, slot) = known, Int(slot) < slots.count, slots.id(at: Int(slot)) == r.id {
            let old = slots[Int(slot)]
            guard r.status.stage > old.status.stage || (r.status.stage == old.status.stage && r != old) else {
                return
            }
            if old.userID != r.userID, old.status != .held { ctx.ledger.forget(user: old.userID, id: old.id) }
            slots[Int(slot)] = r
            if r.status == .held { heldSlots.insert(slot) } else { heldSlots.remove(slot) }
            if old.status.holdsSeat {
                seats[p].index.remove(start: old.start)
                if old.status.countsTowardLimits {
                    ctx.ledger.release(user: old.userID, start: old.start, end: old.end)
                }
            }
            place(r, seat: p, slot: slot)
            return
        }
        slots.store(r)
        if r.status == .held { heldSlots.insert(next) }
        // Known elsewhere (another shard's slot): it lives here now.
        if known != nil { ctx.directory.register(id: r.id, seat: r.seatID, slot: next) }
        place(r, seat: p, slot: next)
    }

    /// Puts a restored reservation in its seat's index (if it holds the seat) and in the ledger. A
    /// hold is the student's only once accepted: not in "my reservations", not counted.
    private func place(_ r: Reservation, seat p: Int, slot: UInt32) {
        if r.status.holdsSeat {
            let ok = seats[p].index.insert(start: r.start, end: r.end, handle: slot)
            precondition(ok, "restored reservation \(r.id) overlaps another on seat \(r.seatID)")
        }
        if r.status != .held && r.userID != .anonymous {
            ctx.ledger.restore(
                user: r.userID, id: r.id,
                holding: r.status.countsTowardLimits ? .init(start: r.start, end: r.end) : nil,
                used: r.status == .completed ? .init(start: r.start, end: r.end) : nil)
        }
    }

    /// Checks that every index is sorted and overlap-free and that index and slots agree.
    func checkInvariants() -> Bool {
        var holding = 0
        for s in seats {
            guard s.index.checkInvariants() else { return false }
            for e in s.index.all {
                let r = slots[Int(e.handle)]
                guard r.id != 0, r.status.holdsSeat, r.start == e.start, r.end == e.end, r.seatID == s.seat.id else {
                    return false
                }
            }
            holding += s.index.count
        }
        // Ids: every live slot's id is below the next id and the directory leads back to the slot.
        let highest = ctx.directory.highestID
        for slot in slots.indices where slots.id(at: slot) != 0 {
            let id = slots.id(at: slot)
            guard id <= highest, let (_, found) = ctx.directory.locate(id), Int(found) == slot else { return false }
        }
        return holding == slots.reduce(0) { $0 + ($1.id != 0 && $1.status.holdsSeat ? 1 : 0) }
    }

    func reserveCapacity(_ n: Int) { slots.reserveCapacity(n) }

    /// The shard's seats and reservations as of this actor turn (copy-on-write: no copy is made
    /// until the shard next changes them).
    func capture() -> (seats: [Seat], reservations: SlotStore) { (seats.map(\.seat), slots) }

    // MARK: - Retention

    /// Finished reservations (completed, cancelled, no-show) that ended before `cutoff`, at most
    /// `limit`.
    func finished(
        endedBefore cutoff: Timestamp, limit: Int, where wanted: (Reservation) -> Bool = { _ in true }
    ) -> [Reservation] {
        var out: [Reservation] = []
        for slot in slots.indices where slots.id(at: slot) != 0 {
            let r = slots[slot]
            if !r.status.holdsSeat && r.end < cutoff && wanted(r) {
                out.append(r)
                if out.count >= limit { break }
            }
        }
        return out
    }

    /// Drops reservations that are now in the archive from memory (their slots are reused); each
    /// only if it is still finished and unchanged.
    func forget(_ archived: [Reservation]) {
        for r in archived {
            guard let (_, slot) = ctx.directory.locate(r.id), Int(slot) < slots.count,
                slots.id(at: Int(slot)) == r.id, slots[Int(slot)] == r, !r.status.holdsSeat
            else { continue }
            slots.kill(Int(slot))
            ctx.directory.remove(id: r.id)
            ctx.ledger.forget(user: r.userID, id: r.id)
        }
    }

    /// Replay of a move to the archive: drops these reservations if they are here and finished.
    func forget(ids archived: [ArchivedReservation]) {
        forget(
            archived.compactMap { a in
                guard let (_, slot) = ctx.directory.locate(a.id), Int(slot) < slots.count,
                    slots.id(at: Int(slot)) == a.id
                else { return nil }
                return slots[Int(slot)]
            })
    }

    /// Reservations in memory (live slots).
    var liveReservations: Int { slots.liveCount }

    /// Restores many recorded reservations in one actor turn (recovery).
    func restore(_ batch: [Reservation]) {
        for r in batch { restore(r) }
    }
}
