import DLSMSCore
import DLSMSEngine

extension LibraryService {
    /// Books `seat` for `user`, counting the acknowledged booking or the seat conflict in the
    /// metrics (REST and gRPC alike).
    public func book(user: UserID, seat: SeatID, start: Timestamp, end: Timestamp) async throws(EngineError)
        -> Reservation
    {
        do throws(EngineError) {
            let r = try await engine.book(user: user, seat: seat, start: start, end: end)
            metrics.booked()
            return r
        } catch {
            if error == .seatConflict { metrics.conflicted() }
            throw error
        }
    }
}
