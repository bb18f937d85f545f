import DLSMSCore
import Synchronization

/// The reservations that are seats held for waitlist offers. A hold has no webhook event and no
/// email of its own; the change that ends it decides (accepted: the booking's creation; released:
/// nothing). One set for both outboxes, kept by the journal tap live and by replay at start-up.
final class HeldSeats: Sendable {
    private let held = Mutex(Set<ReservationID>())
    /// How many are held: a change with none held takes no lock.
    private let count = Atomic<Int>(0)

    /// Notes a reservation record (others are ignored); `true` when it ends a hold (a held
    /// reservation changed to another status).
    func note(_ record: JournalRecord) -> Bool {
        switch record {
        case .reservationCreated(let r):
            if r.status == .held { hold(r.id) }
            return false
        case .reservationChanged(let r):
            if r.status == .held {
                hold(r.id)
                return false
            }
            guard count.load(ordering: .acquiring) > 0 else { return false }
            return held.withLock { s in
                guard s.remove(r.id) != nil else { return false }
                count.subtract(1, ordering: .releasing)
                return true
            }
        default:
            return false
        }
    }

    private func hold(_ id: ReservationID) {
        held.withLock { s in
            if s.insert(id).inserted { count.add(1, ordering: .releasing) }
        }
    }
}
