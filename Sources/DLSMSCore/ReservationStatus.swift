/// The life of a reservation.
///
/// ```
/// CONFIRMED ──check-in──▶ CHECKED_IN ──checkout / end──▶ COMPLETED
///     │  └──no-show (start + grace passed)──▶ NO_SHOW
///     └──cancel──▶ CANCELLED
/// ```
/// Only `CONFIRMED` and `CHECKED_IN` hold the seat. Every other move is an
/// ``InvalidTransition`` error, never a silent no-op.
public enum ReservationStatus: UInt8, Sendable, Hashable, CaseIterable {
    case confirmed = 0
    case checkedIn = 1
    case completed = 2
    case cancelled = 3
    case noShow = 4

    public var holdsSeat: Bool { self == .confirmed || self == .checkedIn }

    /// How far along the state machine a status is: 0 `CONFIRMED`, 1 `CHECKED_IN`, 2 a final status.
    /// Every transition raises it, which is what makes replaying a record idempotent.
    public var stage: Int {
        switch self {
        case .confirmed: return 0
        case .checkedIn: return 1
        case .completed, .cancelled, .noShow: return 2
        }
    }

    public var name: String {
        switch self {
        case .confirmed: return "CONFIRMED"
        case .checkedIn: return "CHECKED_IN"
        case .completed: return "COMPLETED"
        case .cancelled: return "CANCELLED"
        case .noShow: return "NO_SHOW"
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

    public var name: String {
        switch self {
        case .checkIn: return "check-in"
        case .cancel: return "cancel"
        case .noShow: return "no-show"
        case .checkout: return "checkout"
        case .complete: return "complete"
        }
    }

    public var at: Timestamp {
        switch self {
        case .checkIn(let t), .cancel(let t), .noShow(let t), .checkout(let t), .complete(let t): return t
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
        default:
            throw InvalidTransition(from: status, transition: transition)
        }
        return next
    }
}
