import DLSMSCore
import DLSMSEngine
import Foundation
import Testing

/// Extend, step away, move, seats together and weekly series in the engine.
@Suite struct StayTests {
    let me = Requester(userID: 1)

    @Test func extendTakesFreeTimeWithinTheRules() async throws {
        let (engine, _) = try await makeBareEngine(seats: 2, users: 2)
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        let longer = try await engine.extend(id: r.id, to: testNow + 3 * hour, requester: me)
        #expect(longer.end == testNow + 3 * hour && longer.start == r.start && longer.id == r.id)
        // The extended time is taken: someone else cannot book it, the time after it they can.
        #expect(
            await refusal {
                try await engine.book(user: 2, seat: 1, start: testNow + 2 * hour, end: testNow + 3 * hour)
            }
                == .seatConflict)
        _ = try await engine.book(user: 2, seat: 1, start: testNow + 3 * hour, end: testNow + 4 * hour)
        #expect(
            await refusal { try await engine.extend(id: r.id, to: testNow + 4 * hour, requester: me) } == .seatConflict)
        // Not shorter, not past the maximum duration (4 h), not someone else's.
        #expect(
            await refusal { try await engine.extend(id: r.id, to: testNow + 2 * hour, requester: me) }?.kind
                == .badRequest)
        let other = try await engine.book(user: 1, seat: 2, start: testNow + hour, end: testNow + 2 * hour)
        #expect(
            await refusal { try await engine.extend(id: other.id, to: testNow + 6 * hour, requester: me) }
                == .tooLong(maximumSeconds: 4 * hour))
        #expect(
            await refusal {
                try await engine.extend(id: other.id, to: testNow + 3 * hour, requester: Requester(userID: 2))
            }
                == .reservationNotFound(other.id))
        _ = try await engine.cancel(id: other.id, requester: me)
        #expect(
            await refusal { try await engine.extend(id: other.id, to: testNow + 3 * hour, requester: me) }?.kind
                == .badRequest)
        #expect(await engine.checkInvariants())
    }

    @Test func extendCountsAgainstTheHoursPerDay() async throws {
        var rules = BookingRules.default
        rules.maxPerDay = 3 * hour
        let (engine, _) = try await makeBareEngine(seats: 2, users: 1, rules: rules)
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 3 * hour)
        #expect(
            await refusal { try await engine.extend(id: r.id, to: testNow + 5 * hour, requester: me) }
                == .hoursLimit(rule: "hours_per_day", hours: 3))
        _ = try await engine.extend(id: r.id, to: testNow + 4 * hour, requester: me)
        // The extension took the day's last hour.
        #expect(
            await refusal {
                try await engine.book(user: 1, seat: 2, start: testNow + 5 * hour, end: testNow + 6 * hour)
            }
                == .hoursLimit(rule: "hours_per_day", hours: 3))
    }

    @Test func stepAwayKeepsTheSeatUntilTheLimitThenTheSweepEndsTheStay() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 1, users: 2)
        let r = try await engine.book(user: 1, seat: 1, start: testNow, end: testNow + 3 * hour)
        // Not checked in yet.
        #expect(await refusal { try await engine.stepAway(id: r.id, requester: me) }?.kind == .badRequest)
        _ = try await engine.checkIn(id: r.id, requester: me)
        let away = try await engine.stepAway(id: r.id, requester: me)
        #expect(away.extras.awayUntil == testNow + 30 * minute && away.extras.awayCount == 1)
        // Away already.
        #expect(await refusal { try await engine.stepAway(id: r.id, requester: me) }?.kind == .badRequest)
        let back = try await engine.comeBack(id: r.id, requester: me)
        #expect(back.extras.awayUntil == nil && back.extras.awayCount == 1)
        // Back by scanning the seat's code (the check-in at the seat ends the away time).
        _ = try await engine.stepAway(id: r.id, requester: me)
        let scanned = try await engine.checkIn(atSeat: 1, user: 1)
        #expect(scanned.id == r.id && scanned.status == .checkedIn && scanned.extras.awayUntil == nil)
        _ = try await engine.stepAway(id: r.id, requester: me)
        _ = try await engine.comeBack(id: r.id, requester: me)
        #expect(await refusal { try await engine.stepAway(id: r.id, requester: me) } == .awayLimit(times: 3))
        // Another stay: away, not back in time.
        let (engine2, clock2) = try await makeBareEngine(seats: 1, users: 2)
        let s = try await engine2.book(user: 1, seat: 1, start: testNow, end: testNow + 3 * hour)
        _ = try await engine2.checkIn(id: s.id, requester: me)
        clock2.set(testNow + 10 * minute)
        _ = try await engine2.stepAway(id: s.id, requester: me)
        _ = await engine2.sweep(now: testNow + 39 * minute)  // still away, not due
        #expect(try await engine2.reservation(id: s.id, requester: me).status == .checkedIn)
        clock2.set(testNow + 41 * minute)
        _ = await engine2.sweep(now: testNow + 41 * minute)
        let ended = try await engine2.reservation(id: s.id, requester: me)
        #expect(ended.status == .completed && ended.end == testNow + 40 * minute)
        #expect(engine2.notifications.list(user: 1).contains { $0.kind == .awayEnded })
        // The rest of the window is free again.
        _ = try await engine2.book(user: 2, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        #expect(await engine2.checkInvariants())
        _ = clock
    }

    /// Moving does not end a step away, and coming back late is refused (the stay has ended).
    @Test func awayMovesWithTheStayAndALateReturnIsRefused() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 4, users: 1, shards: 4)
        let r = try await engine.book(user: 1, seat: 1, start: testNow, end: testNow + 3 * hour)
        _ = try await engine.checkIn(id: r.id, requester: me)
        let away = try await engine.stepAway(id: r.id, requester: me)
        let moved = try await engine.move(id: r.id, to: 2, requester: me)
        #expect(moved.new.extras.awayUntil == away.extras.awayUntil && moved.new.extras.awayCount == 1)
        clock.set(testNow + 31 * minute)
        #expect(await refusal { try await engine.comeBack(id: moved.new.id, requester: me) }?.kind == .badRequest)
        _ = await engine.sweep(now: clock.now())
        let ended = try await engine.reservation(id: moved.new.id, requester: me)
        #expect(ended.status == .completed && ended.end == testNow + 30 * minute)
    }

    @Test func seatsTogetherAreFoundQuicklyAmongThousandsAndAtTheMapsEdges() {
        // A 4 x 4 block: the tightest set of 4 is a 2 x 2 square (spread 2), the first at seats 1, 2, 5, 6.
        var block: [Seat] = []
        for i in 0..<16 {
            block.append(
                Seat(
                    id: SeatID(i + 1), branch: "B", area: "A", hasPower: false, hasMonitor: false, x: Int32(i % 4),
                    y: Int32(i / 4)))
        }
        let best: [[Seat]] = SeatNeighbourhood.groups(of: block, count: 4, limit: 5)
        let firstIDs: [SeatID] = best.first?.map { (s: Seat) in s.id } ?? []
        #expect(best.count == 5 && firstIDs == [1, 2, 5, 6])
        // 6,000 seats, some at the extremes of the coordinates: bounded work, no overflow.
        var rng = SplitMix64(seed: 7)
        var many: [Seat] = []
        let extremes: [Int32] = [Int32.min, Int32.max]
        for i in 1...6_000 {
            let x: Int32? = i % 3 == 0 ? nil : (i % 3 == 1 ? extremes[i % 2] : Int32(truncatingIfNeeded: rng.next()))
            let y: Int32? = i % 5 == 0 ? nil : Int32(truncatingIfNeeded: rng.next())
            many.append(Seat(id: SeatID(i), branch: "B", area: "Hall", hasPower: false, hasMonitor: false, x: x, y: y))
        }
        let sets: [[Seat]] = SeatNeighbourhood.groups(of: many, count: 20, limit: 5)
        #expect(sets.count == 5)
        for set in sets { #expect(Set(set.map { (s: Seat) in s.id }).count == 20) }
    }

    @Test func moveSwapsSeatsAcrossShardsInOneStep() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 8, users: 2, shards: 4)
        // Three upcoming (the limit): a move replaces one, so it is not refused for the limit.
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        _ = try await engine.book(user: 1, seat: 5, start: testNow + 3 * hour, end: testNow + 4 * hour)
        _ = try await engine.book(user: 1, seat: 6, start: testNow + 5 * hour, end: testNow + 6 * hour)
        let moved = try await engine.move(id: r.id, to: 2, requester: me)
        #expect(moved.old.status == .cancelled && moved.old.id == r.id)
        #expect(moved.new.seatID == 2 && moved.new.start == r.start && moved.new.end == r.end)
        #expect(moved.new.status == .confirmed && moved.new.extras.movedFrom == r.id)
        // The old seat is free, the new one taken.
        _ = try await engine.book(user: 2, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        #expect(
            await refusal { try await engine.book(user: 2, seat: 2, start: testNow + hour, end: testNow + 2 * hour) }
                == .seatConflict)
        // Into a taken seat: refused, nothing changed, no placeholder left behind.
        #expect(await refusal { try await engine.move(id: moved.new.id, to: 1, requester: me) } == .seatConflict)
        #expect(try await engine.reservation(id: moved.new.id, requester: me).status == .confirmed)
        #expect(await engine.checkInvariants())
        // A stay under way moves checked in, for the rest of its window.
        clock.set(testNow + hour + 10 * minute)
        _ = try await engine.checkIn(id: moved.new.id, requester: me)
        let onward = try await engine.move(id: moved.new.id, to: 3, requester: me)
        #expect(onward.old.status == .completed && onward.old.end == testNow + hour + 10 * minute)
        #expect(onward.new.status == .checkedIn && onward.new.start == testNow + hour + 10 * minute)
        #expect(onward.new.end == r.end)
        #expect(await refusal { try await engine.move(id: onward.new.id, to: 99, requester: me) } == .seatNotFound(99))
        #expect(await refusal { try await engine.move(id: onward.new.id, to: 3, requester: me) }?.kind == .badRequest)
        #expect(await engine.checkInvariants())
    }

    @Test func seatsTogetherAreAllOrNothing() async throws {
        let (engine, _) = try await makeBareEngine(seats: 6, users: 4, shards: 4)
        let items = (1...3).map {
            TogetherItem(seatID: SeatID($0), userID: UserID($0), start: testNow + hour, end: testNow + 2 * hour)
        }
        let made = try await engine.bookTogether(items) { ReservationExtras(groupID: $0) }
        #expect(made.map(\.seatID) == [1, 2, 3] && made.map(\.userID) == [1, 2, 3])
        #expect(Set(made.compactMap(\.extras.groupID)) == [made.map(\.id).min()!])
        // One seat taken: none of the group is booked, and the free seats stay free.
        let clash = [4, 5, 1].map {
            TogetherItem(seatID: SeatID($0), userID: 4, start: testNow + hour, end: testNow + 2 * hour)
        }
        let distinct = zip(clash, [UserID(4), 1, 2]).map { item, user in
            TogetherItem(seatID: item.seatID, userID: user, start: item.start, end: item.end)
        }
        #expect(await refusal { try await engine.bookTogether(distinct) { _ in .none } } == .seatConflict)
        for seat in [SeatID(4), 5] {
            _ = try await engine.book(user: 4, seat: seat, start: testNow + 3 * hour, end: testNow + 4 * hour)
        }
        _ = try await engine.book(user: 3, seat: 6, start: testNow + hour, end: testNow + 2 * hour)
        // A member's limit: none booked, and the others' limits are as before.
        var limited = BookingRules.default
        limited.maxUpcomingPerUser = 1
        let (small, _) = try await makeBareEngine(seats: 4, users: 2, shards: 2, rules: limited)
        _ = try await small.book(user: 2, seat: 4, start: testNow + 5 * hour, end: testNow + 6 * hour)
        let pair = [
            TogetherItem(seatID: 1, userID: 1, start: testNow + hour, end: testNow + 2 * hour),
            TogetherItem(seatID: 2, userID: 2, start: testNow + hour, end: testNow + 2 * hour),
        ]
        #expect(await refusal { try await small.bookTogether(pair) { _ in .none } } == .limitReached(limit: 1))
        _ = try await small.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        #expect(await small.checkInvariants())
        #expect(await engine.checkInvariants())
    }

    @Test func aSeriesKeepsItsLocalTimeAcrossTheClockChange() async throws {
        var rules = BookingRules.default
        rules.maxAdvance = 60 * Seconds.day
        let clock = ManualClock(testNow)
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 2, rules: rules), clock: clock)
        try await engine.define(branch: Branch(name: "Berlin", areas: ["A"], timeZone: "Europe/Berlin"))
        try await engine.define(seat: Seat(id: 1, branch: "Berlin", area: "A", hasPower: false, hasMonitor: false))
        _ = try await engine.register(studentID: "U1", name: "U", passwordHash: "")
        _ = try await engine.register(studentID: "U2", name: "V", passwordHash: "")
        // Mondays 10:00–12:00 Berlin from 2025-10-20 (CEST, UTC+2) to 2025-11-03 (CET, UTC+1).
        let first: Timestamp = 1_760_947_200  // 2025-10-20T08:00:00Z
        let blocker = try await engine.book(
            user: 2, seat: 1, start: first + 7 * Seconds.day + hour, end: first + 7 * Seconds.day + 2 * hour)
        let q = SeriesRequest(
            seatID: 1, start: first, end: first + 2 * hour, weekdays: [1], until: first + 15 * Seconds.day,
            allOrNothing: false)
        let out = try await engine.bookSeries(user: 1, q)
        #expect(out.map(\.date) == ["2025-10-20", "2025-10-27", "2025-11-03"])
        #expect(out.map(\.start) == [first, first + 7 * Seconds.day + hour, first + 14 * Seconds.day + hour])
        // 2025-10-27 10:00 CET is 09:00Z, which the blocker holds: refused, the others booked.
        #expect((try? out[1].outcome.get()) == nil)
        let booked = out.compactMap { try? $0.outcome.get() }
        #expect(booked.count == 2 && Set(booked.compactMap(\.extras.seriesID)) == [booked[0].id])
        // All or nothing: refused as a whole while the blocker holds one date.
        // A window no date could have is a 400, not a 409 with every date refused; a year at most.
        var long = q
        long.end = long.start + 5 * hour
        #expect(await refusal { try await engine.bookSeries(user: 1, long) } == .tooLong(maximumSeconds: 4 * hour))
        var far = q
        far.until = far.start + 400 * Seconds.day
        #expect(await refusal { try await engine.bookSeries(user: 1, far) }?.kind == .badRequest)
        var whole = q
        whole.start = first + 21 * Seconds.day + hour
        whole.end = whole.start + 2 * hour
        whole.until = whole.start + 14 * Seconds.day
        _ = try await engine.book(
            user: 2, seat: 1, start: whole.start + 7 * Seconds.day, end: whole.start + 7 * Seconds.day + hour)
        whole.allOrNothing = true
        #expect(await refusal { try await engine.bookSeries(user: 1, whole) } == .seatConflict)
        // Cancelling the series from a date on.
        let cancelled = try await engine.cancelSeries(
            booked[0].id, from: first + Seconds.day, requester: Requester(userID: 1))
        #expect(cancelled.map(\.id) == [booked[1].id])
        #expect(try await engine.reservation(id: booked[0].id, requester: Requester(userID: 1)).status == .confirmed)
        _ = blocker
    }

    @Test func togetherAndMovesReplayFromTheirRecords() async throws {
        let journal = RecordingJournal()
        let (engine, clock) = try await makeEngineRecording(journal)
        let items = (1...2).map {
            TogetherItem(seatID: SeatID($0), userID: UserID($0), start: testNow + hour, end: testNow + 2 * hour)
        }
        let made = try await engine.bookTogether(items) { ReservationExtras(groupID: $0) }
        let moved = try await engine.move(id: made[0].id, to: 3, requester: me)
        let r = try await engine.book(user: 2, seat: 4, start: testNow, end: testNow + 2 * hour)
        _ = try await engine.checkIn(id: r.id, requester: Requester(userID: 2))
        _ = try await engine.stepAway(id: r.id, requester: Requester(userID: 2))
        _ = try await engine.extend(id: moved.new.id, to: testNow + 3 * hour, requester: me)
        #expect(
            journal.records.contains { if case .together(let p) = $0 { return p.count == 2 } else { return false } })
        let replica = SeatEngine(configuration: EngineConfiguration(shardCount: 3), clock: clock)
        await replica.apply(batch: journal.records)
        for id in [made[0].id, made[1].id, moved.new.id, r.id] {
            #expect(
                try await replica.reservation(id: id, requester: Requester(userID: 0, isAdmin: true))
                    == engine.reservation(id: id, requester: Requester(userID: 0, isAdmin: true)))
        }
        #expect(await replica.checkInvariants())
    }
}

/// A bare engine (4 seats, 2 students) whose records `journal` keeps.
func makeEngineRecording(_ journal: RecordingJournal) async throws -> (SeatEngine, ManualClock) {
    let clock = ManualClock(testNow)
    let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 4), clock: clock, journal: journal)
    try await engine.define(branch: Branch(name: "B", areas: ["A"]))
    for s in 1...4 {
        try await engine.define(seat: Seat(id: SeatID(s), branch: "B", area: "A", hasPower: false, hasMonitor: false))
    }
    for u in 1...2 { _ = try await engine.register(studentID: "U\(u)", name: "U", passwordHash: "") }
    return (engine, clock)
}
