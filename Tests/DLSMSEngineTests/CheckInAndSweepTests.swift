import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Testing

@Suite struct CheckInAndSweepTests {
    @Test func checkInWindowOpensBeforeStartAndClosesAfterGrace() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 1, users: 1)
        let me = Requester(userID: 1)
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        clock.set(r.start - 15 * minute - 1)
        #expect(
            await refusal { try await engine.checkIn(id: r.id, requester: me) }
                == .checkinWindow(opens: r.start - 15 * minute, closes: r.start + 15 * minute))
        clock.set(r.start + 15 * minute)
        #expect(await refusal { try await engine.checkIn(id: r.id, requester: me) }?.code == "checkin_window")
        clock.set(r.start - 15 * minute)
        let checkedIn = try await engine.checkIn(id: r.id, requester: me)
        #expect(checkedIn.status == .checkedIn && checkedIn.checkedInAt == r.start - 15 * minute)
        #expect(await refusal { try await engine.checkIn(id: r.id, requester: me) }?.code == "invalid_state")
    }

    @Test func checkoutEndsNowAndFreesTheRest() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 1, users: 2)
        let r = try await engine.book(user: 1, seat: 1, start: testNow, end: testNow + 2 * hour)
        #expect(
            await refusal { try await engine.checkout(id: r.id, requester: Requester(userID: 1)) }?.code
                == "invalid_state")
        _ = try await engine.checkIn(id: r.id, requester: Requester(userID: 1))
        clock.set(testNow + 30 * minute)
        // DELETE of a CHECKED_IN reservation is a checkout.
        let done = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        #expect(done.status == .completed && done.end == testNow + 30 * minute)
        _ = try await engine.book(user: 2, seat: 1, start: testNow + 30 * minute, end: testNow + 2 * hour)
        #expect(
            await refusal { try await engine.cancel(id: r.id, requester: Requester(userID: 1)) }?.code
                == "invalid_state")
    }

    @Test func sweepMarksNoShowsAndCompletions() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 2, users: 2)
        let absent = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 3 * hour)
        let present = try await engine.book(user: 2, seat: 2, start: testNow + hour, end: testNow + 2 * hour)
        clock.set(testNow + hour)
        _ = try await engine.checkIn(id: present.id, requester: Requester(userID: 2))
        // Just before the grace period ends nothing is due.
        #expect(await engine.sweep(now: testNow + hour + 15 * minute - 1).isEmpty)
        let first = await engine.sweep(now: testNow + hour + 15 * minute)
        #expect(first.noShows.map(\.id) == [absent.id] && first.noShows[0].status == .noShow)
        #expect(first.completed.isEmpty)
        // The seat is free again for the rest of the slot.
        clock.set(testNow + hour + 15 * minute)
        _ = try await engine.book(user: 2, seat: 1, start: testNow + hour + 50 * minute, end: testNow + 3 * hour)
        let second = await engine.sweep(now: testNow + 2 * hour)
        #expect(second.completed.map(\.id) == [present.id] && second.completed[0].status == .completed)
        #expect(await engine.sweep(now: testNow + 2 * hour).isEmpty)  // applied once only
        let kinds = engine.notifications.list(user: 1).map(\.kind) + engine.notifications.list(user: 2).map(\.kind)
        // The no-show is a strike too (rules per group).
        #expect(kinds == [.reservationNoShow, .strikeRecorded, .reservationCompleted])
        #expect(await engine.checkInvariants())
    }
}
