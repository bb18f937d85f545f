import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Testing

/// A freed seat is held for the first in line, who can take it with one call, and passes on if
/// they do not. Every case runs on an injected clock.
@Suite struct OfferTests {
    /// Seat 1 booked by user 1 for [1h, 2h); users 2 and 3 wait for it, in that order.
    func queue(users: Int = 4, rules: BookingRules = .default) async throws -> (
        SeatEngine, ManualClock, Reservation, WaitlistEntry, WaitlistEntry
    ) {
        let (engine, clock) = try await makeBareEngine(seats: 2, users: users, rules: rules)
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        let first = try await engine.joinWaitlist(user: 2, target: .seat(1), desired: testNow + hour).entry
        let second = try await engine.joinWaitlist(user: 3, target: .branch("B"), desired: testNow + hour).entry
        return (engine, clock, r, first, second)
    }

    @Test func theFirstInLineGetsTheSeatHeldAndNobodyElseCanBookIt() async throws {
        let (engine, _, r, first, second) = try await queue()
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        let offered = try #require(engine.waitlistEntry(first.id)?.entry)
        #expect(offered.status == .offered && offered.offer?.seatID == 1)
        #expect(offered.offer?.expiresAt == testNow + engine.rules.offerHold)
        #expect(engine.waitlistEntry(second.id)?.entry.status == .waiting)  // one window, one offer
        // Held: refused to others, busy in the seat's availability, not the student's booking yet.
        #expect(
            await refusal { try await engine.book(user: 4, seat: 1, start: testNow + hour, end: testNow + 2 * hour) }
                == .seatConflict)
        let (view, busy) = try await engine.seat(1, start: testNow + hour, end: testNow + 2 * hour)
        #expect(!view.isAvailable && busy.count == 1)
        #expect(await engine.reservations(of: 2).items.isEmpty)
        #expect(engine.notifications.list(user: 2).map(\.kind) == [.seatOffered])
    }

    @Test func acceptingBooksTheHeldSeatWithEveryRule() async throws {
        let (engine, clock, r, first, _) = try await queue()
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        clock.advance(by: 3 * minute)
        #expect(
            await refusal { try await engine.acceptOffer(id: first.id, requester: Requester(userID: 3)) }
                == .waitlistEntryNotFound(first.id))  // another student's offer
        let taken = try await engine.acceptOffer(id: first.id, requester: Requester(userID: 2))
        #expect(taken.reservation.status == .confirmed && taken.reservation.seatID == 1)
        #expect(
            taken.reservation.id == first.id
                || taken.reservation.id == engine.waitlistEntry(first.id)?.entry.offer?.reservationID)
        #expect(taken.secondsSinceFreed == 3 * minute)
        #expect(engine.waitlistEntry(first.id)?.entry.status == .accepted)
        #expect(await engine.reservations(of: 2).items.map(\.id) == [taken.reservation.id])
        #expect(engine.offerFigures.made == 1 && engine.offerFigures.accepted == 1)
        // It counts now: the student's booking limit applies to the accepted seat.
        #expect(
            await refusal { try await engine.acceptOffer(id: first.id, requester: Requester(userID: 2)) }
                == .invalidState("waitlist entry \(first.id) has no open offer (it is ACCEPTED)"))
        #expect(await engine.checkInvariants())
    }

    @Test func declineAndExpiryPassTheSeatOn() async throws {
        let (engine, clock, r, first, second) = try await queue(users: 5)
        let third = try await engine.joinWaitlist(user: 4, target: .seat(1), desired: testNow + hour).entry
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        // Declined: the branch entry of user 3 is next.
        _ = try await engine.declineOffer(id: first.id, requester: Requester(userID: 2))
        #expect(engine.waitlistEntry(first.id)?.entry.status == .declined)
        #expect(engine.waitlistEntry(second.id)?.entry.status == .offered)
        // Not taken in time: the sweep passes it to user 4, and user 3 hears so.
        clock.advance(by: engine.rules.offerHold)
        let report = await engine.sweep(now: clock.now())
        #expect(report.expired.map(\.id) == [second.id])
        #expect(engine.waitlistEntry(second.id)?.entry.status == .expired)
        #expect(engine.notifications.list(user: 3).map(\.kind) == [.seatOffered, .offerExpired])
        let last = try #require(engine.waitlistEntry(third.id)?.entry)
        #expect(last.status == .offered && last.offer?.expiresAt == clock.now() + engine.rules.offerHold)
        #expect(engine.offerFigures.declined == 1 && engine.offerFigures.expired == 1 && engine.offerFigures.made == 3)
    }

    @Test func aHoldNeverOutlivesTheWindowsStartPlusTheGrace() async throws {
        var rules = BookingRules.default
        rules.offerHold = 2 * hour
        let (engine, _, r, first, _) = try await queue(rules: rules)
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        #expect(engine.waitlistEntry(first.id)?.entry.offer?.expiresAt == testNow + hour + rules.grace)
    }

    @Test func acceptingTooLateIsRefusedAndPassesTheSeatOn() async throws {
        let (engine, clock, r, first, second) = try await queue()
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        clock.advance(by: engine.rules.offerHold + 1)  // before any sweep ran
        #expect(
            await refusal { try await engine.acceptOffer(id: first.id, requester: Requester(userID: 2)) }
                == .offerExpired)
        #expect(engine.waitlistEntry(first.id)?.entry.status == .expired)
        #expect(engine.waitlistEntry(second.id)?.entry.status == .offered)
    }

    @Test func anOfferTheStudentCannotTakeForALimitIsDeclinedWithTheReason() async throws {
        var rules = BookingRules.default
        rules.maxUpcomingPerUser = 1
        let (engine, _, r, first, second) = try await queue(rules: rules)
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        #expect(engine.waitlistEntry(first.id)?.entry.status == .offered)
        _ = try await engine.book(user: 2, seat: 2, start: testNow + 5 * hour, end: testNow + 6 * hour)  // at the limit
        #expect(
            await refusal { try await engine.acceptOffer(id: first.id, requester: Requester(userID: 2)) }
                == .limitReached(limit: 1))
        #expect(engine.waitlistEntry(first.id)?.entry.status == .declined)
        #expect(engine.waitlistEntry(second.id)?.entry.status == .offered)
    }

    @Test func aStudentHoldsOneLiveOfferAndMayWaitForAnotherSeatInAWindowTheyHold() async throws {
        let (engine, _) = try await makeBareEngine(seats: 2, users: 3)
        let a = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        let b = try await engine.book(user: 1, seat: 2, start: testNow + 3 * hour, end: testNow + 4 * hour)
        let w1 = try await engine.joinWaitlist(user: 2, target: .seat(1), desired: testNow + hour).entry
        let w2 = try await engine.joinWaitlist(user: 2, target: .seat(2), desired: testNow + 3 * hour).entry
        let w3 = try await engine.joinWaitlist(user: 3, target: .seat(2), desired: testNow + 3 * hour).entry
        _ = try await engine.cancel(id: a.id, requester: Requester(userID: 1))
        _ = try await engine.cancel(id: b.id, requester: Requester(userID: 1))
        #expect(engine.waitlistEntry(w1.id)?.entry.status == .offered)
        #expect(engine.waitlistEntry(w2.id)?.entry.status == .waiting)  // user 2 already has an offer
        #expect(engine.waitlistEntry(w3.id)?.entry.status == .offered)
        // User 1 holds seat 1 for [5h, 6h): they may wait for seat 2 then (a wish to move), and even
        // for the seat they hold (as the original's clients do); their own seat is never offered to them.
        let held = try await engine.book(user: 1, seat: 1, start: testNow + 5 * hour, end: testNow + 6 * hour)
        let move = try await engine.joinWaitlist(user: 1, target: .seat(2), desired: testNow + 5 * hour).entry
        let own = try await engine.joinWaitlist(user: 1, target: .seat(1), desired: testNow + 5 * hour).entry
        #expect(move.status == .waiting && own.status == .waiting)
        #expect(engine.waitlistEntry(own.id)?.position == 1)
        // Leaving an offered entry releases the hold to the next in line.
        _ = try await engine.leaveWaitlist(id: w3.id, requester: Requester(userID: 3))
        #expect(engine.waitlistEntry(w3.id)?.entry.status == .cancelled)
        // Seat 2's [5h, 6h) is free: the sweep offers the wish to move, taken under the limits, and
        // the seat held elsewhere stays theirs (waiting is not moving).
        _ = await engine.sweep(now: testNow)
        #expect(engine.waitlistEntry(move.id)?.entry.status == .offered)
        let moved = try await engine.acceptOffer(id: move.id, requester: Requester(userID: 1)).reservation
        #expect(moved.seatID == 2 && moved.status == .confirmed)
        #expect(try await engine.reservation(id: held.id, requester: Requester(userID: 1)).status == .confirmed)
        #expect(engine.waitlistEntry(own.id)?.entry.status == .waiting)
    }

    @Test func aSeatBackFromMaintenanceIsOffered() async throws {
        let (engine, _) = try await makeBareEngine(seats: 2, users: 2)
        _ = try await engine.setMaintenance(seat: 1, true)
        let w = try await engine.joinWaitlist(user: 2, target: .seat(1), desired: testNow + hour).entry
        #expect(engine.waitlistEntry(w.id)?.entry.status == .waiting)
        _ = try await engine.setMaintenance(seat: 1, false)
        #expect(engine.waitlistEntry(w.id)?.entry.status == .offered)
        #expect(engine.notifications.list(user: 2).map(\.kind) == [.seatOffered])
    }

    @Test func theRestOfTheFreedTimeAndSkippedEntriesAreOfferedAtTheNextSweep() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 3, users: 5)
        // (a) [1h, 3h) frees; user 2 wants [1h, 2h), user 3 [2h, 3h): one offer at a time, and after
        // user 2 accepts, the next sweep offers the rest to user 3.
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 3 * hour)
        let a = try await engine.joinWaitlist(user: 2, target: .seat(1), desired: testNow + hour).entry
        let b = try await engine.joinWaitlist(user: 3, target: .seat(1), desired: testNow + 2 * hour).entry
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        #expect(engine.waitlistEntry(b.id)?.entry.status == .waiting)
        _ = try await engine.acceptOffer(id: a.id, requester: Requester(userID: 2))
        clock.advance(by: minute)
        _ = await engine.sweep(now: clock.now())
        #expect(engine.waitlistEntry(b.id)?.entry.status == .offered)
        // (b) user 4 is first for seats 2 and 3 at the same time: offered seat 2, skipped on seat 3;
        // after declining seat 2, the sweep offers seat 3.
        let s2 = try await engine.book(user: 1, seat: 2, start: testNow + 4 * hour, end: testNow + 5 * hour)
        let s3 = try await engine.book(user: 1, seat: 3, start: testNow + 4 * hour, end: testNow + 5 * hour)
        let w2 = try await engine.joinWaitlist(user: 4, target: .seat(2), desired: testNow + 4 * hour).entry
        let w3 = try await engine.joinWaitlist(user: 4, target: .seat(3), desired: testNow + 4 * hour).entry
        _ = try await engine.cancel(id: s2.id, requester: Requester(userID: 1))
        _ = try await engine.cancel(id: s3.id, requester: Requester(userID: 1))
        #expect(engine.waitlistEntry(w2.id)?.entry.status == .offered)
        #expect(engine.waitlistEntry(w3.id)?.entry.status == .waiting)
        _ = try await engine.declineOffer(id: w2.id, requester: Requester(userID: 4))
        _ = await engine.sweep(now: clock.now())
        #expect(engine.waitlistEntry(w3.id)?.entry.status == .offered)
    }

    @Test func offersGoToStudentsWhoseLimitsLetThemTakeItAndAcceptingAppliesThem() async throws {
        var rules = BookingRules.default
        rules.maxConcurrentPerUser = 1
        let (engine, _) = try await makeBareEngine(seats: 3, users: 5, rules: rules)
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        let w = try await engine.joinWaitlist(user: 2, target: .seat(1), desired: testNow + hour).entry
        let next = try await engine.joinWaitlist(user: 3, target: .seat(1), desired: testNow + hour).entry
        let last = try await engine.joinWaitlist(user: 4, target: .seat(1), desired: testNow + hour).entry
        // User 2 books the same hour elsewhere (one seat at a time): the freed seat is not held for
        // them, who could not take it; user 3 is offered it, and user 2 keeps waiting.
        _ = try await engine.book(user: 2, seat: 2, start: testNow + hour, end: testNow + 2 * hour)
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        #expect(engine.waitlistEntry(w.id)?.entry.status == .waiting)
        #expect(engine.waitlistEntry(next.id)?.entry.status == .offered)
        // User 3 books that hour elsewhere while offered: accepting is refused under the limit, and
        // the seat goes on to user 4.
        _ = try await engine.book(user: 3, seat: 3, start: testNow + hour, end: testNow + 2 * hour)
        #expect(
            await refusal { try await engine.acceptOffer(id: next.id, requester: Requester(userID: 3)) }
                == .userOverlap)
        #expect(engine.waitlistEntry(next.id)?.entry.status == .declined)
        #expect(engine.waitlistEntry(last.id)?.entry.status == .offered)
        // With a live offer for that hour, user 4 may still queue elsewhere, but is offered nothing more.
        let elsewhere = try await engine.joinWaitlist(user: 4, target: .seat(3), desired: testNow + hour).entry
        #expect(elsewhere.status == .waiting)
        // The held seat goes out of service: accepting is refused and passes it on.
        _ = try await engine.setMaintenance(seat: 1, true)
        #expect(
            await refusal { try await engine.acceptOffer(id: last.id, requester: Requester(userID: 4)) }
                == .seatInMaintenance(1))
        #expect(engine.waitlistEntry(last.id)?.entry.status == .declined)
    }

    /// A hold and its offer are two records: a cut between them (crash, point-in-time restore)
    /// must not leave a hold nobody owns. The sweep reconciles.
    @Test func aHoldWithoutItsOfferIsReleasedAndAnAcceptedOneBecomesTheBooking() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 2, users: 3)
        // As if the log ended after the hold's record: a HELD reservation, its entry still WAITING.
        let entry = try await engine.joinWaitlist(user: 2, target: .seat(1), desired: testNow + hour).entry
        await engine.apply(
            .reservationCreated(
                Reservation(
                    id: 50, seatID: 1, userID: 2, start: testNow + hour, end: testNow + 2 * hour, status: .held,
                    createdAt: testNow)))
        #expect(
            await refusal { try await engine.book(user: 3, seat: 1, start: testNow + hour, end: testNow + 2 * hour) }
                == .seatConflict)
        _ = await engine.sweep(now: clock.now())
        // Released, and offered properly to the entry that waits for it.
        #expect(
            try await engine.reservation(id: 50, requester: Requester(userID: 2, isAdmin: true)).status == .cancelled)
        #expect(engine.waitlistEntry(entry.id)?.entry.status == .offered)
        // As if the log ended after the acceptance of the entry but before the hold's change.
        var accepted = try #require(engine.waitlistEntry(entry.id)?.entry)
        let holdID = try #require(accepted.offer?.reservationID)
        accepted.status = .accepted
        await engine.apply(.waitlistChanged(accepted))
        _ = await engine.sweep(now: clock.now())
        #expect(try await engine.reservation(id: holdID, requester: Requester(userID: 2)).status == .confirmed)
    }

    @Test func manyStudentsBookingAHeldSeatAreAllRefusedAndTheOfferedOneGetsIt() async throws {
        let (engine, _, r, first, _) = try await queue(users: 60)
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        let outcomes = await withTaskGroup(of: EngineError?.self) { group in
            for u in 4...60 {
                group.addTask {
                    await refusal {
                        try await engine.book(user: UserID(u), seat: 1, start: testNow + hour, end: testNow + 2 * hour)
                    }
                }
            }
            group.addTask {
                await refusal { try await engine.acceptOffer(id: first.id, requester: Requester(userID: 2)) }
            }
            return await group.reduce(into: [EngineError?]()) { $0.append($1) }
        }
        #expect(outcomes.filter { $0 == nil }.count == 1)  // the acceptance
        #expect(outcomes.filter { $0 == .seatConflict }.count == 57)
        let holders = await engine.allReservations(matching: ReservationFilter(seatID: 1)).items.filter {
            $0.status.holdsSeat
        }
        #expect(holders.map(\.userID) == [2])
    }
}
