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
    /// A booking on behalf is audited as `actor`'s.
    public func book(
        user: UserID, seat: SeatID, start: Timestamp, end: Timestamp, staff: UserID? = nil, override: Bool = false,
        actor: AuditActor? = nil
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
            if staff != nil, let actor {
                try await audit(
                    actor, "reservation.booked_on_behalf", subject: "reservation:\(r.id)",
                    after: AuditChain.value {
                        $0.object {
                            Render.reservationFields(r, &$0)
                            $0.field("override", override)
                        }
                    })
            }
            return r
        } catch {
            if error == .seatConflict { metrics.conflicted() }
            throw error
        }
    }

    /// Cancels as `requester`; staff cancelling another's reservation is audited as `actor`'s.
    public func cancel(id: ReservationID, requester: Requester, actor: AuditActor) async throws(EngineError)
        -> Reservation
    {
        let before = requester.isAdmin ? try? await engine.reservation(id: id, requester: requester) : nil
        let r = try await engine.cancel(id: id, requester: requester)
        if let before, before.userID != requester.userID {
            try await audit(
                actor, "reservation.cancelled_by_staff", subject: "reservation:\(id)",
                before: AuditChain.value { w in w.object { Render.reservationFields(before, &$0) } },
                after: AuditChain.value { w in w.object { Render.reservationFields(r, &$0) } })
        }
        return r
    }
}
