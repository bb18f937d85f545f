/// The class of an error, which a transport maps to its own status (HTTP: 400, 404, 409, …).
public enum ErrorKind: Sendable, Hashable {
    case badRequest
    case unauthorized
    case forbidden
    case notFound
    case conflict
    case payloadTooLarge
    case rateLimited
    case unavailable
}

/// Every refusal of the engine, transport-neutral. `code` is the contract's machine code.
public enum EngineError: Error, Sendable, Hashable {
    case badRequest(String)
    case invalidTimeRange
    case tooShort(minimumSeconds: Int64)
    case tooLong(maximumSeconds: Int64)
    case inThePast
    case tooFarAhead(maximumSeconds: Int64)
    case outsideOpeningHours
    case weakPassword
    case invalidState(String)
    case checkinWindow(opens: Timestamp, closes: Timestamp)
    case unauthorized
    case forbidden
    case seatNotFound(SeatID)
    case reservationNotFound(ReservationID)
    case waitlistEntryNotFound(WaitlistEntryID)
    case userNotFound
    case branchNotFound(String)
    case closureNotFound(Int64)
    case webhookNotFound(Int64)
    case strikeNotFound(Int64)
    case seatConflict
    case seatInMaintenance(SeatID)
    case userOverlap
    case limitReached(limit: Int)
    case duplicateUser
    case unavailable(String)
    /// Replication: the write is durable on this node but may not be acknowledged (no standby
    /// confirmed it in time, or this node is no longer the primary). Its outcome is unknown to
    /// the writer; unlike a storage failure it does not stop later writes.
    case notAcknowledged(String)
    /// The waitlist offer's hold ran out before it was accepted.
    case offerExpired
    case duplicateBranch(String)
    case duplicateSeat(SeatID)
    /// Seats still have upcoming reservations: retiring them needs the reservations cancelled.
    case hasReservations(count: Int)
    /// The branch or area is closed for (part of) that time; the closure's reason.
    case closed(reason: String)
    /// The branch takes check-in only at the seat (its QR code).
    case presenceRequired
    /// The seat is reserved for other groups; the groups that may book it.
    case notAllowedForGroup(groups: [String])
    /// The branch's release time for that day has not come yet.
    case notOpenYet(opensAt: Timestamp)
    /// The student's booking rights are suspended (strikes) until then, for those reasons.
    case suspended(until: Timestamp, reasons: [String])
    /// Booked hours per local day or week (`rule`: `hours_per_day`, `hours_per_week`).
    case hoursLimit(rule: String, hours: Int)
    /// The student has stepped away as often as a stay allows.
    case awayLimit(times: Int)

    public var kind: ErrorKind {
        switch self {
        case .badRequest, .invalidTimeRange, .tooShort, .tooLong, .inThePast, .tooFarAhead, .outsideOpeningHours,
            .weakPassword, .invalidState, .checkinWindow:
            return .badRequest
        case .unauthorized: return .unauthorized
        case .forbidden, .presenceRequired, .notAllowedForGroup: return .forbidden
        case .seatNotFound, .reservationNotFound, .waitlistEntryNotFound, .userNotFound, .branchNotFound,
            .closureNotFound, .webhookNotFound, .strikeNotFound:
            return .notFound
        case .seatConflict, .seatInMaintenance, .userOverlap, .limitReached, .duplicateUser, .offerExpired,
            .duplicateBranch, .duplicateSeat, .hasReservations, .closed, .notOpenYet, .suspended, .hoursLimit,
            .awayLimit:
            return .conflict
        case .unavailable, .notAcknowledged: return .unavailable
        }
    }

    public var code: String {
        switch self {
        case .badRequest: return "bad_request"
        case .invalidTimeRange: return "invalid_time_range"
        case .tooShort: return "too_short"
        case .tooLong: return "too_long"
        case .inThePast: return "in_the_past"
        case .tooFarAhead: return "too_far_ahead"
        case .outsideOpeningHours: return "outside_opening_hours"
        case .weakPassword: return "weak_password"
        case .invalidState: return "invalid_state"
        case .checkinWindow: return "checkin_window"
        case .unauthorized: return "unauthorized"
        case .forbidden: return "forbidden"
        case .seatNotFound, .reservationNotFound, .waitlistEntryNotFound, .userNotFound, .branchNotFound,
            .closureNotFound, .webhookNotFound, .strikeNotFound:
            return "not_found"
        case .seatConflict: return "seat_conflict"
        case .seatInMaintenance: return "seat_in_maintenance"
        case .userOverlap: return "user_overlap"
        case .limitReached: return "limit_reached"
        case .duplicateUser: return "duplicate_user"
        case .unavailable, .notAcknowledged: return "unavailable"
        case .offerExpired: return "offer_expired"
        case .duplicateBranch: return "duplicate_branch"
        case .duplicateSeat: return "duplicate_seat"
        case .hasReservations: return "has_reservations"
        case .closed: return "closed"
        case .presenceRequired: return "presence_required"
        case .notAllowedForGroup: return "not_allowed_for_group"
        case .notOpenYet: return "not_open_yet"
        case .suspended: return "suspended"
        case .hoursLimit, .awayLimit: return "limit_reached"
        }
    }

    /// Text for a person.
    public var message: String {
        switch self {
        case .badRequest(let why): return why
        case .invalidTimeRange: return "end_time must be after start_time"
        case .tooShort(let s): return "a reservation lasts at least \(s / 60) minutes"
        case .tooLong(let s): return "a reservation lasts at most \(s / 60) minutes"
        case .inThePast: return "the start time lies in the past"
        case .tooFarAhead(let s): return "reservations open at most \(s / 86_400) days ahead"
        case .outsideOpeningHours: return "the branch is closed during part of that time"
        case .weakPassword: return "the password must have at least 8 characters"
        case .invalidState(let why): return why
        case .checkinWindow:
            return "check-in is not open now: it opens shortly before the start and closes when the grace period ends"
        case .unauthorized: return "authentication required"
        case .forbidden: return "not allowed"
        case .seatNotFound(let id): return "seat \(id) not found"
        case .reservationNotFound(let id): return "reservation \(id) not found"
        case .waitlistEntryNotFound(let id): return "waitlist entry \(id) not found"
        case .userNotFound: return "user not found"
        case .branchNotFound(let name): return "branch '\(name)' not found"
        case .closureNotFound(let id): return "closure \(id) not found"
        case .webhookNotFound(let id): return "webhook \(id) not found"
        case .strikeNotFound(let id): return "strike \(id) not found"
        case .seatConflict: return "the seat is already reserved for part of that time"
        case .seatInMaintenance(let id): return "seat \(id) is out of service"
        case .userOverlap: return "you already hold a reservation at that time"
        case .limitReached(let limit): return "limit of \(limit) reached"
        case .duplicateUser: return "that student id is already registered"
        case .unavailable(let why), .notAcknowledged(let why): return why
        case .offerExpired: return "the offer's hold has run out; the seat went to the next in line"
        case .duplicateBranch(let name): return "a branch named '\(name)' already exists"
        case .duplicateSeat(let id): return "seat \(id) already exists"
        case .closed(let reason): return "closed for that time: \(reason)"
        case .presenceRequired: return "this branch takes check-in only at the seat: scan the seat's QR code"
        case .notAllowedForGroup(let groups):
            return groups.isEmpty
                ? "this seat is reserved for other groups"
                : "this seat is reserved for \(groups.joined(separator: ", ")) only"
        case .notOpenYet(let at): return "seats for that day open at \(RFC3339.format(at))"
        case .suspended(let until, let reasons):
            return "booking is suspended until \(RFC3339.format(until)) (\(reasons.joined(separator: "; ")))"
        case .hoursLimit(let rule, let hours):
            return "limit of \(hours) booked hours \(rule == "hours_per_day" ? "per day" : "per week") reached"
        case .awayLimit(let times):
            return "a stay may step away at most \(times) time\(times == 1 ? "" : "s")"
        case .hasReservations(let n):
            return
                "\(n) upcoming reservation\(n == 1 ? "" : "s") hold\(n == 1 ? "s" : "") it; retire with cancel_reservations=true to cancel \(n == 1 ? "it" : "them") (each holder is notified)"
        }
    }
}

/// A field a refusal carries besides `error` and `code` (`opens_at`, `until`, `reasons`, …).
public enum ErrorDetail: Sendable {
    case time(StaticString, Timestamp)
    case integer(StaticString, Int)
    case text(StaticString, String)
    case list(StaticString, [String])
}

extension EngineError {
    /// The fields this refusal carries besides its message and code.
    public var details: [ErrorDetail] {
        switch self {
        case .notAllowedForGroup(let groups): return [.list("groups", groups)]
        case .notOpenYet(let at): return [.time("opens_at", at)]
        case .suspended(let until, let reasons): return [.time("until", until), .list("reasons", reasons)]
        case .hoursLimit(let rule, let hours): return [.text("rule", rule), .integer("limit", hours)]
        case .limitReached(let limit): return [.text("rule", "upcoming"), .integer("limit", limit)]
        case .awayLimit(let times): return [.text("rule", "away_times"), .integer("limit", times)]
        default: return []
        }
    }

    public init(_ t: InvalidTransition) {
        self = .invalidState("cannot \(t.transition.name) a reservation that is \(t.from.name)")
    }
}
