import DLSMSCore
import Testing

@Suite struct StateMachineTests {
    private let base = Reservation(id: 1, seatID: 1, userID: 1, start: 1_000, end: 5_000, createdAt: 0)

    private func with(_ status: ReservationStatus) -> Reservation {
        var r = base
        r.status = status
        return r
    }

    @Test func legalTransitions() throws {
        let checkedIn = try with(.confirmed).applying(.checkIn(at: 900))
        #expect(checkedIn.status == .checkedIn && checkedIn.checkedInAt == 900)
        #expect(try with(.confirmed).applying(.cancel(at: 10)).status == .cancelled)
        #expect(try with(.confirmed).applying(.noShow(at: 1_900)).status == .noShow)
        let left = try checkedIn.applying(.checkout(at: 3_000))
        #expect(left.status == .completed && left.end == 3_000)
        #expect(try checkedIn.applying(.checkout(at: 800)).end == 1_000)  // never before the start
        #expect(try checkedIn.applying(.checkout(at: 9_000)).end == 5_000)  // never after the end
        #expect(
            try checkedIn.applying(.complete(at: 5_000))
                == {
                    var r = checkedIn
                    r.status = .completed
                    return r
                }())
    }

    @Test func everyOtherTransitionIsAnError() {
        let moves: [ReservationTransition] = [
            .checkIn(at: 1), .cancel(at: 1), .noShow(at: 1), .checkout(at: 1), .complete(at: 1), .accept(at: 1),
        ]
        let legal: Set<String> = [
            "CONFIRMED check-in", "CONFIRMED cancel", "CONFIRMED no-show", "CHECKED_IN checkout", "CHECKED_IN complete",
            "HELD accept", "HELD cancel",
        ]
        for status in ReservationStatus.allCases {
            for move in moves where !legal.contains("\(status.name) \(move.name)") {
                #expect(throws: InvalidTransition(from: status, transition: move)) { try with(status).applying(move) }
            }
        }
    }

    @Test func heldConfirmedAndCheckedInHoldTheSeatButOnlyTwoCount() {
        #expect(ReservationStatus.allCases.filter(\.holdsSeat) == [.confirmed, .checkedIn, .held])
        #expect(ReservationStatus.allCases.filter(\.countsTowardLimits) == [.confirmed, .checkedIn])
        // A hold accepted, then checked in: every move raises the stage (replay stays idempotent).
        let held = with(.held)
        let accepted = try? held.applying(.accept(at: 1))
        #expect(accepted?.status == .confirmed && held.status.stage < ReservationStatus.confirmed.stage)
        #expect(ReservationStatus(name: "HELD") == .held)
        #expect(ReservationStatus(name: "NO_SHOW") == .noShow)
        #expect(ReservationStatus(name: "no_show") == nil)
    }
}
