import DLSMSCore
import Synchronization

/// Reservation id → (seat, slot in the seat's shard). Allocates ids: unique and increasing across
/// all shards, because allocation happens under one lock. 8 bytes per reservation in memory: the
/// entries of the oldest ids, once all of them have moved to the archive, are dropped.
final class ReservationDirectory: Sendable {
    private struct Table {
        var entries: [UInt64] = []  // index = id - base; 0 = no such reservation (here)
        var base: Int64 = 1  // the id of entries[0]
        var live = 0  // entries that are not 0

        var next: Int64 { base + Int64(entries.count) }

        func index(_ id: ReservationID) -> Int? {
            let i = id - base
            return i >= 0 && i < Int64(entries.count) ? Int(i) : nil
        }

        /// Drops dead entries from the front once there are many.
        mutating func compact() {
            guard let firstLive = entries.firstIndex(where: { $0 != 0 }) ?? (entries.isEmpty ? nil : entries.count),
                firstLive >= 4_096, firstLive * 4 >= entries.count
            else { return }
            entries.removeFirst(firstLive)
            base += Int64(firstLive)
        }
    }
    private let table = Mutex(Table())

    @inline(__always) private static func unpack(_ v: UInt64) -> (seat: SeatID, slot: UInt32) {
        let raw = v &- 1
        return (SeatID(bitPattern: UInt32(truncatingIfNeeded: raw >> 32)), UInt32(truncatingIfNeeded: raw))
    }

    @inline(__always) private static func pack(_ seat: SeatID, _ slot: UInt32) -> UInt64 {
        (UInt64(UInt32(bitPattern: seat)) << 32 | UInt64(slot)) &+ 1
    }

    func allocate(seat: SeatID, slot: UInt32) -> ReservationID {
        table.withLock { t in
            t.live += 1
            t.entries.append(Self.pack(seat, slot))
            return t.next - 1
        }
    }

    /// Records a known id (replay). Ids above the current end leave holes, which stay unused; an
    /// id below the compacted front was archived and is not brought back.
    func register(id: ReservationID, seat: SeatID, slot: UInt32) {
        precondition(id > 0, "reservation ids start at 1")
        table.withLock { t in Self.register(&t, id: id, seat: seat, slot: slot) }
    }

    private static func register(_ t: inout Table, id: ReservationID, seat: SeatID, slot: UInt32) {
        if id >= t.next { t.entries.append(contentsOf: repeatElement(0, count: Int(id - t.next + 1))) }
        guard let i = t.index(id) else { return }
        if t.entries[i] == 0 { t.live += 1 }
        t.entries[i] = Self.pack(seat, slot)
    }

    /// Replay's step, in one lock: where `id` is, or — when it is not registered — nil, having
    /// registered it at `seat` and `slot`.
    func locateOrRegister(id: ReservationID, seat: SeatID, slot: UInt32) -> (seat: SeatID, slot: UInt32)? {
        precondition(id > 0, "reservation ids start at 1")
        return table.withLock { t in
            if let i = t.index(id), t.entries[i] != 0 { return Self.unpack(t.entries[i]) }
            Self.register(&t, id: id, seat: seat, slot: slot)
            return nil
        }
    }

    /// Makes the next allocated id at least `next` (a snapshot's id floor: the highest ids may
    /// have moved to the archive).
    func raiseNext(to next: ReservationID) {
        table.withLock { t in
            if next > t.next { t.entries.append(contentsOf: repeatElement(0, count: Int(next - t.next))) }
        }
    }

    func remove(id: ReservationID) {
        table.withLock { t in
            if let i = t.index(id), t.entries[i] != 0 {
                t.entries[i] = 0
                t.live -= 1
            }
        }
    }

    /// Drops the entries of the oldest ids once they are all gone (after a move to the archive).
    func compact() { table.withLock { $0.compact() } }

    func locate(_ id: ReservationID) -> (seat: SeatID, slot: UInt32)? {
        table.withLock { t in
            guard let i = t.index(id) else { return nil }
            return t.entries[i] == 0 ? nil : Self.unpack(t.entries[i])
        }
    }

    /// Reservations stored (every status), kept as a counter: no scan.
    var count: Int { table.withLock { $0.live } }

    var highestID: ReservationID { table.withLock { $0.next - 1 } }

    /// The id the next reservation gets.
    var nextID: ReservationID { table.withLock { $0.next } }

    func reserveCapacity(_ n: Int) { table.withLock { $0.entries.reserveCapacity(n + 1) } }
}
