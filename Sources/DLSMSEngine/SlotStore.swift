import DLSMSCore

/// A reservation as a shard stores it: 40 bytes instead of the 56 of ``Reservation``. The end,
/// creation and check-in times are 32-bit offsets from the start (the record codec refuses
/// reservations whose offsets do not fit, so nothing read from disk is clamped).
struct StoredReservation: Sendable {
    var id: ReservationID
    var start: Timestamp
    var seatID: SeatID
    var userID: UserID
    var length: UInt32
    var createdOffset: Int32
    var checkInOffset: Int32  // Int32.min: not checked in
    var status: ReservationStatus

    init(_ r: Reservation) {
        id = r.id
        start = r.start
        seatID = r.seatID
        userID = r.userID
        length = UInt32(clamping: r.end - r.start)
        createdOffset = Int32(clamping: r.createdAt - r.start)
        checkInOffset = r.checkedInAt.map { Int32(clamping: $0 - r.start) } ?? .min
        status = r.status
    }

    var reservation: Reservation {
        Reservation(
            id: id, seatID: seatID, userID: userID, start: start, end: start + Timestamp(length), status: status,
            createdAt: start + Timestamp(createdOffset),
            checkedInAt: checkInOffset == .min ? nil : start + Timestamp(checkInOffset))
    }
}

/// A shard's reservations by slot number, stored compactly, read and written as ``Reservation``.
/// The slot of a reservation moved to the archive is dead (id 0) and is reused by the next one,
/// so the store holds what is in memory, not everything ever booked.
struct SlotStore: RandomAccessCollection, Sendable {
    private var items: [StoredReservation] = []
    private var free: [Int] = []
    /// The extras of the few slots that have any (away, series, group, moved), by slot.
    private var extras: [Int: ReservationExtras] = [:]

    var startIndex: Int { 0 }
    var endIndex: Int { items.count }

    subscript(i: Int) -> Reservation {
        get {
            var r = items[i].reservation
            if !extras.isEmpty, let e = extras[i] { r.extras = e }
            return r
        }
        set {
            items[i] = StoredReservation(newValue)
            setExtras(newValue.extras, at: i)
        }
    }

    private mutating func setExtras(_ e: ReservationExtras, at i: Int) {
        if e.isEmpty {
            if !extras.isEmpty { extras[i] = nil }
        } else {
            extras[i] = e
        }
    }

    /// The id at a slot (0 for a dead slot) without building the whole value.
    func id(at i: Int) -> ReservationID { items[i].id }

    /// The slot the next ``store(_:)`` will use.
    var nextSlot: Int { free.last ?? items.count }

    /// Stores `r` in ``nextSlot``.
    mutating func store(_ r: Reservation) {
        let slot: Int
        if let reused = free.popLast() {
            slot = reused
            items[slot] = StoredReservation(r)
        } else {
            slot = items.count
            items.append(StoredReservation(r))
        }
        setExtras(r.extras, at: slot)
    }

    /// Frees a slot for reuse.
    mutating func kill(_ i: Int) {
        items[i].id = 0
        if !extras.isEmpty { extras[i] = nil }
        free.append(i)
    }

    /// Live reservations (not dead slots).
    var liveCount: Int { items.count - free.count }

    mutating func reserveCapacity(_ n: Int) { items.reserveCapacity(n) }
}
