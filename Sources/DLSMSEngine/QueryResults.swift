import DLSMSCore

/// Who asks: a student sees only their own things; an admin sees everything.
public struct Requester: Sendable, Hashable {
    public var userID: UserID
    public var isAdmin: Bool

    public init(userID: UserID, isAdmin: Bool = false) {
        self.userID = userID
        self.isAdmin = isAdmin
    }

    func owns(_ owner: UserID) -> Bool { isAdmin || owner == userID }
}

/// A seat as a query sees it: now, and for the window asked about.
public struct SeatView: Sendable, Hashable {
    public var seat: Seat
    /// A seat-holding reservation covers this instant.
    public var occupiedNow: Bool
    /// Bookable for the window asked about (free and not in maintenance).
    public var isAvailable: Bool
    /// Its holder now stepped away (the seat stays theirs).
    public var awayNow: Bool

    public init(seat: Seat, occupiedNow: Bool, isAvailable: Bool, awayNow: Bool = false) {
        self.seat = seat
        self.occupiedNow = occupiedNow
        self.isAvailable = isAvailable
        self.awayNow = awayNow
    }

    /// `AVAILABLE`, `OCCUPIED` or `MAINTENANCE`.
    public var statusName: String { statusLiteral.description }

    /// ``statusName`` as a literal (no string is made).
    public var statusLiteral: StaticString {
        seat.inMaintenance ? "MAINTENANCE" : occupiedNow ? "OCCUPIED" : "AVAILABLE"
    }
}

public struct SeatFilter: Sendable, Hashable {
    public var branch: String?
    public var area: String?
    public var hasPower: Bool?
    public var hasMonitor: Bool?
    public var accessible: Bool?
    public var availableOnly: Bool
    /// Only these seats (when set).
    public var ids: Set<SeatID>?

    public init(
        branch: String? = nil, area: String? = nil, hasPower: Bool? = nil, hasMonitor: Bool? = nil,
        accessible: Bool? = nil, availableOnly: Bool = false, ids: Set<SeatID>? = nil
    ) {
        self.ids = ids
        self.branch = branch
        self.area = area
        self.hasPower = hasPower
        self.hasMonitor = hasMonitor
        self.accessible = accessible
        self.availableOnly = availableOnly
    }

    func matches(_ seat: Seat) -> Bool {
        (ids == nil || ids!.contains(seat.id)) && (branch == nil || seat.branch == branch)
            && (area == nil || seat.area == area)
            && (hasPower == nil || seat.hasPower == hasPower) && (hasMonitor == nil || seat.hasMonitor == hasMonitor)
            && (accessible == nil || seat.accessible == accessible)
    }
}

public struct BusyInterval: Sendable, Hashable {
    public var start: Timestamp
    public var end: Timestamp
}

public struct BranchSummary: Sendable, Hashable {
    public var branch: Branch
    public var totalSeats: Int
    public var powerSeats: Int
    public var monitorSeats: Int
    /// Free now and not in maintenance.
    public var availableSeats: Int
}

/// Filters of the admin listing.
public struct ReservationFilter: Sendable, Hashable {
    public var status: ReservationStatus?
    public var seatID: SeatID?
    public var userID: UserID?

    public init(status: ReservationStatus? = nil, seatID: SeatID? = nil, userID: UserID? = nil) {
        self.status = status
        self.seatID = seatID
        self.userID = userID
    }

    func matches(_ r: Reservation) -> Bool {
        (status == nil || r.status == status) && (seatID == nil || r.seatID == seatID)
            && (userID == nil || r.userID == userID)
    }
}

/// One page of a listing, with the number of matches in all.
public struct Page<Element: Sendable>: Sendable {
    public var items: [Element]
    public var total: Int
}

/// What one sweep did.
public struct SweepReport: Sendable {
    public var noShows: [Reservation] = []
    public var completed: [Reservation] = []
    public var notified: [WaitlistEntry] = []
    public var expired: [WaitlistEntry] = []

    public var isEmpty: Bool { noShows.isEmpty && completed.isEmpty && notified.isEmpty && expired.isEmpty }

    mutating func merge(_ other: SweepReport) {
        noShows += other.noShows
        completed += other.completed
        notified += other.notified
        expired += other.expired
    }
}

/// Utilisation and outcomes of one branch.
public struct BranchStatistics: Sendable, Hashable {
    public var branch: String
    public var seats = 0
    public var occupiedNow = 0
    public var reservations = 0
    public var completed = 0
    public var noShows = 0
    public var cancelled = 0

    public init(branch: String) { self.branch = branch }

    mutating func add(_ o: BranchStatistics) {
        seats += o.seats
        occupiedNow += o.occupiedNow
        reservations += o.reservations
        completed += o.completed
        noShows += o.noShows
        cancelled += o.cancelled
    }
}

/// A booking request of the batched path.
public struct BookingRequest: Sendable, Hashable {
    public var userID: UserID
    public var seatID: SeatID
    public var start: Timestamp
    public var end: Timestamp

    public init(userID: UserID, seatID: SeatID, start: Timestamp, end: Timestamp) {
        self.userID = userID
        self.seatID = seatID
        self.start = start
        self.end = end
    }
}

/// Which page of a seat search: at most `limit` seats, after the seat `after` (a cursor: the last
/// seat of the page before), skipping `offset` more.
public struct SeatPageRequest: Sendable, Hashable {
    public var limit: Int
    public var offset: Int
    public var after: SeatID?

    public init(limit: Int, offset: Int = 0, after: SeatID? = nil) {
        self.limit = max(0, limit)
        self.offset = max(0, offset)
        self.after = after
    }
}

/// A page of a seat search: its seats (seat id order), how many match in all, and the cursor of
/// the next page (`nil` on the last).
public struct SeatPage: Sendable {
    public var seats: [SeatView]
    public var total: Int
    public var next: SeatID?
}

/// One shard's part of a ``SeatPage``.
struct SeatPagePart: Sendable {
    var views: [SeatView] = []
    /// Matching seats, all of them.
    var matched = 0
    /// Matching seats after the cursor.
    var afterCursor = 0
}

/// A seat as a public display shows it: where it is, and whether it is free now and for the next
/// hour. Nothing about who holds it.
public struct DisplaySeat: Sendable, Hashable {
    public var seat: Seat
    public var freeNow: Bool
    public var freeNextHour: Bool
}
