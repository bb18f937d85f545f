import DLSMSCore
import DLSMSEngine

extension LibraryService {
    /// Books `seat` for `user`, counting the acknowledged booking or the seat conflict in the
    /// metrics (REST and gRPC alike).
    /// One booking attempt of `user`: refused (429 `rate_limited`) beyond the student's bound.
    public func bookingAttempt(_ user: UserID) throws(AppError) {
        if let wait = bookingThrottle.attempt(user) {
            metrics.throttled()
            throw AppError(
                .rateLimited, "rate_limited", "too many booking attempts: try again in \(wait) s", retryAfter: wait)
        }
    }

    /// Books for `user`; `staff` books on the student's behalf (their policy applies unless `override`).
    public func book(
        user: UserID, seat: SeatID, start: Timestamp, end: Timestamp, staff: UserID? = nil, override: Bool = false
    ) async throws(EngineError) -> Reservation {
        do throws(EngineError) {
            let r =
                if let staff {
                    try await engine.book(
                        onBehalfOf: user, by: staff, seat: seat, start: start, end: end, override: override)
                } else {
                    try await engine.book(user: user, seat: seat, start: start, end: end)
                }
            metrics.booked()
            return r
        } catch {
            if error == .seatConflict { metrics.conflicted() }
            throw error
        }
    }
}
