import DLSMSCore
import Synchronization

/// Reservation id → (seat, slot in the seat's shard). Allocates ids: unique and increasing across
/// all shards, because allocation happens under one lock. 8 bytes per reservation.
final class ReservationDirectory: Sendable {
    private let table = Mutex<[UInt64]>([0])  // index = id; 0 = no such reservation
    private let liveCount = Mutex(0)

    @inline(__always) private static func pack(_ seat: SeatID, _ slot: UInt32) -> UInt64 {
        (UInt64(UInt32(bitPattern: seat)) << 32 | UInt64(slot)) &+ 1
    }

    func allocate(seat: SeatID, slot: UInt32) -> ReservationID {
        liveCount.withLock { $0 += 1 }
        return table.withLock { t in
            t.append(Self.pack(seat, slot))
            return ReservationID(t.count - 1)
        }
    }

    /// Records a known id (replay). Ids above the current end leave holes, which stay unused.
    func register(id: ReservationID, seat: SeatID, slot: UInt32) {
        precondition(id > 0, "reservation ids start at 1")
        table.withLock { t in
            let i = Int(id)
            if i >= t.count { t.append(contentsOf: repeatElement(0, count: i - t.count + 1)) }
            if t[i] == 0 { liveCount.withLock { $0 += 1 } }
            t[i] = Self.pack(seat, slot)
        }
    }

    func remove(id: ReservationID) {
        table.withLock { t in
            if id > 0 && Int(id) < t.count && t[Int(id)] != 0 {
                t[Int(id)] = 0
                liveCount.withLock { $0 -= 1 }
            }
        }
    }

    func locate(_ id: ReservationID) -> (seat: SeatID, slot: UInt32)? {
        table.withLock { t in
            guard id > 0, Int(id) < t.count else { return nil }
            let v = t[Int(id)]
            guard v != 0 else { return nil }
            let raw = v &- 1
            return (SeatID(bitPattern: UInt32(truncatingIfNeeded: raw >> 32)), UInt32(truncatingIfNeeded: raw))
        }
    }

    /// Reservations stored (every status), kept as a counter: no scan.
    var count: Int { liveCount.withLock { $0 } }

    var highestID: ReservationID { table.withLock { ReservationID($0.count - 1) } }

    func reserveCapacity(_ n: Int) { table.withLock { $0.reserveCapacity(n + 1) } }
}
