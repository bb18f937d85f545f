/// The life of a reservation.
///
/// ```
/// HELD ──accept──▶ CONFIRMED ──check-in──▶ CHECKED_IN ──checkout / end──▶ COMPLETED
///  └─decline/expire─▶ CANCELLED  │  └──no-show (start + grace passed)──▶ NO_SHOW
///                                └──cancel──▶ CANCELLED
/// ```
/// `HELD` is a seat held for a waitlist offer: it keeps the seat from everyone else, and does not
/// count against the student's limits until it is accepted. `HELD`, `CONFIRMED` and `CHECKED_IN`
/// hold the seat. Every other move is an ``InvalidTransition`` error, never a silent no-op.
public enum ReservationStatus: UInt8, Sendable, Hashable, CaseIterable {
    case confirmed = 0
    case checkedIn = 1
    case completed = 2
    case cancelled = 3
    case noShow = 4
    case held = 5

    public var holdsSeat: Bool { self == .confirmed || self == .checkedIn || self == .held }

    /// Counts against the per-student limits (a hold does not, until it is accepted).
    public var countsTowardLimits: Bool { self == .confirmed || self == .checkedIn }

    /// How far along the state machine a status is: 0 `HELD`, 1 `CONFIRMED`, 2 `CHECKED_IN`, 3 a
    /// final status. Every transition raises it, which is what makes replaying a record idempotent.
    public var stage: Int {
        switch self {
        case .held: return 0
        case .confirmed: return 1
        case .checkedIn: return 2
        case .completed, .cancelled, .noShow: return 3
        }
    }

    public var name: String {
        switch self {
        case .confirmed: return "CONFIRMED"
        case .checkedIn: return "CHECKED_IN"
        case .completed: return "COMPLETED"
        case .cancelled: return "CANCELLED"
        case .noShow: return "NO_SHOW"
        case .held: return "HELD"
        }
    }

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }
}

/// A move of the reservation state machine, with the moment it happens.
public enum ReservationTransition: Sendable, Hashable {
    case checkIn(at: Timestamp)
    case cancel(at: Timestamp)
    case noShow(at: Timestamp)
    /// Leaving early: the reservation ends at `at` (never before its start), the rest is freed.
    case checkout(at: Timestamp)
    /// A checked-in stay reached its end.
    case complete(at: Timestamp)
    /// A held seat's offer was accepted: the hold becomes a booking.
    case accept(at: Timestamp)

    public var name: String {
        switch self {
        case .checkIn: return "check-in"
        case .cancel: return "cancel"
        case .noShow: return "no-show"
        case .checkout: return "checkout"
        case .complete: return "complete"
        case .accept: return "accept"
        }
    }

    public var at: Timestamp {
        switch self {
        case .checkIn(let t), .cancel(let t), .noShow(let t), .checkout(let t), .complete(let t), .accept(let t):
            return t
        }
    }
}

public struct InvalidTransition: Error, Hashable, Sendable {
    public var from: ReservationStatus
    public var transition: ReservationTransition

    public init(from: ReservationStatus, transition: ReservationTransition) {
        self.from = from
        self.transition = transition
    }
}

extension Reservation {
    /// The reservation after `transition`, or ``InvalidTransition`` if the state machine forbids it.
    public func applying(_ transition: ReservationTransition) throws(InvalidTransition) -> Reservation {
        var next = self
        switch (status, transition) {
        case (.confirmed, .checkIn(let at)):
            next.status = .checkedIn
            next.checkedInAt = at
        case (.confirmed, .cancel):
            next.status = .cancelled
        case (.confirmed, .noShow):
            next.status = .noShow
        case (.checkedIn, .checkout(let at)):
            next.status = .completed
            next.end = Swift.max(start, Swift.min(end, at))
        case (.checkedIn, .complete):
            next.status = .completed
        case (.held, .accept):
            next.status = .confirmed
        case (.held, .cancel):
            next.status = .cancelled
        default:
            throw InvalidTransition(from: status, transition: transition)
        }
        return next
    }
}
