import DLSMSCore
import DLSMSEngine
import Testing

@Suite struct BookingTests {
    @Test func bookConflictAndHalfOpenNeighbours() async throws {
        let (engine, _) = try await makeBareEngine(seats: 3, users: 3)
        let r = try await engine.book(user: 1, seat: 2, start: testNow + hour, end: testNow + 3 * hour)
        #expect(r.status == .confirmed && r.seatID == 2 && r.userID == 1 && r.createdAt == testNow)
        #expect(
            await refusal {
                try await engine.book(user: 2, seat: 2, start: testNow + 2 * hour, end: testNow + 4 * hour)
            } == .seatConflict)
        // [start, end) is half-open: touching neighbours on both sides are fine.
        let before = try await engine.book(user: 2, seat: 2, start: testNow, end: testNow + hour)
        let after = try await engine.book(user: 3, seat: 2, start: testNow + 3 * hour, end: testNow + 4 * hour)
        #expect(before.id > r.id && after.id > before.id)
        #expect(try await engine.reservation(id: r.id, requester: Requester(userID: 1)) == r)
        #expect(await engine.checkInvariants())
    }

    @Test func errorOrderIsTimeThenNotFoundThenConflict() async throws {
        let (engine, _) = try await makeBareEngine(seats: 1, users: 1)
        // Unknown seat with a bad window: the 400 wins.
        #expect(
            await refusal { try await engine.book(user: 1, seat: 99, start: testNow - hour, end: testNow) }
                == .inThePast)
        #expect(
            await refusal { try await engine.book(user: 1, seat: 99, start: testNow + hour, end: testNow + 2 * hour) }
                == .seatNotFound(99))
        for k in 0..<3 {
            _ = try await engine.book(
                user: 1, seat: 1, start: testNow + Int64(k) * hour, end: testNow + Int64(k + 1) * hour)
        }
        // At the limit, an unknown seat is still a 404, not a 409.
        #expect(
            await refusal {
                try await engine.book(user: 1, seat: 99, start: testNow + 5 * hour, end: testNow + 6 * hour)
            } == .seatNotFound(99))
        #expect(
            await refusal {
                try await engine.book(user: 1, seat: 1, start: testNow + 5 * hour, end: testNow + 6 * hour)
            } == .limitReached(limit: 3))
    }

    @Test func upcomingLimitFreesWhenReservationsEndOrAreCancelled() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 4, users: 1)
        var ids: [ReservationID] = []
        for s in 1...3 {
            ids.append(
                try await engine.book(user: 1, seat: SeatID(s), start: testNow + hour, end: testNow + 2 * hour).id)
        }
        #expect(
            await refusal { try await engine.book(user: 1, seat: 4, start: testNow + hour, end: testNow + 2 * hour) }
                == .limitReached(limit: 3))
        _ = try await engine.cancel(id: ids[0], requester: Requester(userID: 1))
        let fourth = try await engine.book(user: 1, seat: 4, start: testNow + hour, end: testNow + 2 * hour)
        // Once they have ended, they no longer count as upcoming.
        clock.set(testNow + 2 * hour)
        _ = try await engine.book(user: 1, seat: 1, start: testNow + 3 * hour, end: testNow + 4 * hour)
        #expect(fourth.id > ids[2])
    }

    @Test func concurrentLimitIsOffByDefaultAndEnforcedWhenSet() async throws {
        let (free, _) = try await makeBareEngine(seats: 2, users: 1)
        _ = try await free.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        _ = try await free.book(user: 1, seat: 2, start: testNow + hour, end: testNow + 2 * hour)
        var rules = BookingRules.default
        rules.maxConcurrentPerUser = 1
        let (strict, _) = try await makeBareEngine(seats: 2, users: 1, rules: rules)
        _ = try await strict.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        #expect(
            await refusal {
                try await strict.book(user: 1, seat: 2, start: testNow + 90 * minute, end: testNow + 3 * hour)
            } == .userOverlap)
        _ = try await strict.book(user: 1, seat: 2, start: testNow + 2 * hour, end: testNow + 3 * hour)
    }

    @Test func maintenanceSeatsCannotBeBooked() async throws {
        let (engine, _) = try await makeBareEngine(seats: 1, users: 1)
        let seat = try await engine.setMaintenance(seat: 1, true)
        #expect(seat.inMaintenance)
        #expect(
            await refusal { try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour) }
                == .seatInMaintenance(1))
        let views = await engine.searchSeats(SeatFilter())
        #expect(views.first?.statusName == "MAINTENANCE" && views.first?.isAvailable == false)
        _ = try await engine.setMaintenance(seat: 1, false)
        _ = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
    }

    @Test func openingHoursAreEnforcedPerBranch() async throws {
        let clock = ManualClock(testNow)  // 12:00Z
        let engine = SeatEngine(configuration: .init(shardCount: 2), clock: clock)
        try await engine.define(
            branch: Branch(
                name: "Day", areas: ["A"], timeZone: "UTC",
                openingHours: .daily(openMinute: 8 * 60, closeMinute: 20 * 60)))
        try await engine.define(seat: Seat(id: 1, branch: "Day", area: "A", hasPower: true, hasMonitor: true))
        _ = try await engine.register(studentID: "U1", name: "U", passwordHash: "")
        _ = try await engine.book(user: 1, seat: 1, start: testNow + 6 * hour, end: testNow + 8 * hour)
        #expect(
            await refusal {
                try await engine.book(user: 1, seat: 1, start: testNow + 7 * hour, end: testNow + 9 * hour)
            } == .outsideOpeningHours)
    }

    @Test func othersReservationsAreNotFoundButAdminsSeeThem() async throws {
        let (engine, _) = try await makeBareEngine(seats: 1, users: 2)
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        #expect(
            await refusal { try await engine.reservation(id: r.id, requester: Requester(userID: 2)) }
                == .reservationNotFound(r.id))
        #expect(
            await refusal { try await engine.cancel(id: r.id, requester: Requester(userID: 2)) }
                == .reservationNotFound(r.id))
        #expect(try await engine.reservation(id: r.id, requester: Requester(userID: 2, isAdmin: true)) == r)
        #expect(
            await refusal { try await engine.reservation(id: 9_999, requester: Requester(userID: 1)) }
                == .reservationNotFound(9_999))
        #expect(
            await refusal { try await engine.reservation(id: -1, requester: Requester(userID: 1)) }
                == .reservationNotFound(-1))
    }

    @Test func myReservationsNewestFirstWithFilters() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 3, users: 1)
        let a = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        let b = try await engine.book(user: 1, seat: 2, start: testNow + hour, end: testNow + 2 * hour)
        _ = try await engine.cancel(id: a.id, requester: Requester(userID: 1))
        let c = try await engine.book(user: 1, seat: 3, start: testNow, end: testNow + hour)
        #expect(await engine.reservations(of: 1).items.map(\.id) == [c.id, b.id, a.id])
        #expect(await engine.reservations(of: 1, status: .cancelled).items.map(\.id) == [a.id])
        #expect(await engine.reservations(of: 1, upcomingOnly: true).items.map(\.id) == [c.id, b.id])
        #expect(await engine.reservations(of: 1, limit: 1, offset: 1).items.map(\.id) == [b.id])
        clock.set(testNow + hour)
        #expect(await engine.reservations(of: 1, upcomingOnly: true).items.map(\.id) == [b.id])
        let page = await engine.allReservations(matching: ReservationFilter(status: .confirmed))
        #expect(page.items.map(\.id) == [b.id, c.id] && page.total == 2)
    }

    @Test func batchedBookingMatchesSingleBookings() async throws {
        let (engine, _) = try await makeBareEngine(seats: 4, users: 2)
        let requests = [
            BookingRequest(userID: 1, seatID: 1, start: testNow + hour, end: testNow + 2 * hour),
            BookingRequest(userID: 2, seatID: 1, start: testNow + hour, end: testNow + 2 * hour),  // conflict
            BookingRequest(userID: 2, seatID: 2, start: testNow - hour, end: testNow),  // in the past
            BookingRequest(userID: 2, seatID: 3, start: testNow + hour, end: testNow + 2 * hour),
        ]
        let results = await engine.book(requests)
        #expect(results.count == 4)
        #expect((try? results[0].get())?.seatID == 1)
        #expect(results[1].failureValue == .seatConflict)
        #expect(results[2].failureValue == .inThePast)
        #expect((try? results[3].get())?.userID == 2)
    }

    @Test func aFailedJournalSyncStopsEveryWrite() async throws {
        let journal = RecordingJournal()
        let (engine, _) = try await makeEngine(journal: journal)
        let kept = try await engine.book(user: 9, seat: 11, start: testNow + hour, end: testNow + 2 * hour)
        journal.failWaits(true)
        #expect(
            await refusal { try await engine.book(user: 1, seat: 10, start: testNow + hour, end: testNow + 2 * hour) }
                == .unavailable("storage failed"))
        // The journal works again, but the engine does not trust its memory any more: every write
        // is refused (fail-stop; recovery at the next start rebuilds the durable state).
        journal.failWaits(false)
        let count = journal.records.count
        #expect(engine.writeFailure == .unavailable("storage failed"))
        #expect(
            await refusal { try await engine.book(user: 2, seat: 12, start: testNow + hour, end: testNow + 2 * hour) }
                == .unavailable("storage failed"))
        #expect(
            await refusal { try await engine.cancel(id: kept.id, requester: Requester(userID: 9)) }
                == .unavailable("storage failed"))
        #expect(
            await refusal { try await engine.register(studentID: "S9", name: "x", passwordHash: "h") }
                == .unavailable("storage failed"))
        #expect(
            await refusal {
                try await engine.joinWaitlist(user: 3, target: .seat(11), desired: testNow + hour)
            } == .unavailable("storage failed"))
        #expect(await refusal { try await engine.setMaintenance(seat: 12, true) } == .unavailable("storage failed"))
        #expect(await engine.sweep(now: testNow + 3 * hour).isEmpty)
        #expect(journal.records.count == count)  // nothing more was even appended
        // Reads go on.
        #expect(try await engine.reservation(id: kept.id, requester: Requester(userID: 9)).status == .confirmed)
    }

    /// A search of one area looks up that area's seats (an index kept per shard); it must answer
    /// exactly what a scan of the whole catalog would, also after seats move between areas and
    /// branches and after a seat is inserted below others.
    @Test func anAreaSearchAnswersWhatAScanWould() async throws {
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 3), clock: ManualClock(testNow))
        _ = try await engine.register(studentID: "U1", name: "User 1", passwordHash: "")
        try await engine.define(branch: Branch(name: "B", areas: ["A", "C", "D"]))
        try await engine.define(branch: Branch(name: "E", areas: ["A"]))
        for s in stride(from: 200, through: 2, by: -1) {  // descending: every define inserts below the others
            try await engine.define(
                seat: Seat(
                    id: SeatID(s), branch: s % 7 == 0 ? "E" : "B", area: ["A", "C", "D"][s % 3], hasPower: s % 2 == 0,
                    hasMonitor: false))
        }
        _ = try await engine.book(user: 1, seat: 9, start: testNow + hour, end: testNow + 2 * hour)
        func check(_ when: String) async {
            let all = await engine.searchSeats(
                SeatFilter(availableOnly: false), start: testNow + hour, end: testNow + 2 * hour)
            for (branch, area) in [("B", "A"), ("B", "C"), ("B", "D"), ("E", "A"), ("E", "C"), ("X", "A")] {
                for power: Bool? in [nil, true] {
                    let found = await engine.searchSeats(
                        SeatFilter(branch: branch, area: area, hasPower: power, availableOnly: false),
                        start: testNow + hour, end: testNow + 2 * hour)
                    let expected = all.filter {
                        $0.seat.branch == branch && $0.seat.area == area && (power == nil || $0.seat.hasPower == power)
                    }
                    #expect(found == expected, "\(when): \(branch)/\(area) power \(String(describing: power))")
                }
            }
        }
        await check("after the seats were defined")
        // Seats move: to another area, to another branch, back.
        for id in [9, 10, 14, 15] {
            var seat = try #require(
                await engine.searchSeats(SeatFilter(availableOnly: false)).first { $0.seat.id == SeatID(id) }?.seat)
            seat.area = seat.area == "A" ? "C" : "A"
            if id == 14 { seat.branch = "B" }
            try await engine.define(seat: seat)
        }
        await check("after seats moved")
        #expect(
            await engine.searchSeats(
                SeatFilter(branch: "B", area: "A", availableOnly: true), start: testNow + hour, end: testNow + 2 * hour
            )
            .contains { $0.seat.id == 9 } == false, "the booked seat is taken wherever it moved")
    }

    @Test func aRefusedAppendStopsEveryWrite() async throws {
        let journal = RecordingJournal()
        let (engine, _) = try await makeEngine(journal: journal)
        let r = try await engine.book(user: 9, seat: 10, start: testNow + hour, end: testNow + 2 * hour)
        journal.failAppends(true)
        #expect(
            await refusal { try await engine.cancel(id: r.id, requester: Requester(userID: 9)) }
                == .unavailable("storage failed"))
        journal.failAppends(false)
        #expect(
            await refusal { try await engine.book(user: 8, seat: 12, start: testNow + hour, end: testNow + 2 * hour) }
                == .unavailable("storage failed"))
    }

    @Test func aRefusalNeverCitesABookingThatIsNotDurable() async throws {
        let journal = GatedJournal()
        let (engine, _) = try await makeEngine(journal: journal)
        journal.hold()
        // A's booking is in memory, its sync is held.
        let first = Task {
            await refusal { try await engine.book(user: 1, seat: 10, start: testNow + hour, end: testNow + 2 * hour) }
        }
        while journal.waiting == 0 { await Task.yield() }
        // B's conflicting booking must not be told "seat_conflict" before A's record is durable...
        let second = Task {
            await refusal { try await engine.book(user: 2, seat: 10, start: testNow + hour, end: testNow + 2 * hour) }
        }
        while journal.waiting < 2 { await Task.yield() }
        // ...and when A's sync fails, B is told the truth: the storage failed, not a conflict.
        journal.release(failing: true)
        #expect(await first.value == .unavailable("storage failed"))
        #expect(await second.value == .unavailable("storage failed"))
    }

    @Test func aRefusalWaitsForTheBookingItCites() async throws {
        let journal = GatedJournal()
        let (engine, _) = try await makeEngine(journal: journal)
        journal.hold()
        let first = Task { try await engine.book(user: 1, seat: 10, start: testNow + hour, end: testNow + 2 * hour) }
        while journal.waiting == 0 { await Task.yield() }
        let second = Task {
            await refusal { try await engine.book(user: 2, seat: 10, start: testNow + hour, end: testNow + 2 * hour) }
        }
        while journal.waiting < 2 { await Task.yield() }
        journal.release(failing: false)
        #expect(try await first.value.seatID == 10)
        #expect(await second.value == .seatConflict)
    }
}

extension Result {
    var failureValue: Failure? {
        if case .failure(let e) = self { return e }
        return nil
    }
}
