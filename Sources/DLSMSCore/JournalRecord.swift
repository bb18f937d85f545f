/// One state change of the engine, as the write-ahead log will carry it.
///
/// Each record states the resulting value (not a delta), so applying a record twice gives the
/// same state as applying it once.
public enum JournalRecord: Sendable, Hashable {
    /// A branch was added or changed (by name).
    case branchDefined(Branch)
    /// A seat was added or changed (maintenance flag, description).
    case seatDefined(Seat)
    case userCreated(User)
    /// An account's new state: password, name, role, disabled flag or token generation changed.
    case userChanged(User)
    case reservationCreated(Reservation)
    /// A reservation's new status (check-in, cancel, no-show, completion, early checkout with its new end).
    case reservationChanged(Reservation)
    case waitlistChanged(WaitlistEntry)
    case notificationCreated(UserNotification)
}
