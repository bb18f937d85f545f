import DLSMSCore
import DLSMSEngine

/// Values both doors read from a request in the same words.

/// A search window: both ends (end after start) or neither.
public func window(_ start: Timestamp?, _ end: Timestamp?) throws(AppError) -> (Timestamp, Timestamp)? {
    switch (start, end) {
    case (nil, nil): return nil
    case (let s?, let e?):
        guard e > s else { throw AppError(EngineError.invalidTimeRange) }
        return (s, e)
    default: throw AppError.badRequest("give both start_time and end_time, or neither")
    }
}

/// A reservation status by its contract name (any case), or nil for none.
public func parseStatus(_ text: String?) throws(AppError) -> ReservationStatus? {
    guard let text else { return nil }
    guard let s = ReservationStatus(name: text.uppercased()) else {
        throw AppError.badRequest("unknown status \(text); one of CONFIRMED, CHECKED_IN, COMPLETED, CANCELLED, NO_SHOW")
    }
    return s
}
