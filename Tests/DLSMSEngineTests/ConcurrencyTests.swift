import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Testing

@Suite struct ConcurrencyTests {
    @Test func aThousandBookingsOfOneSeatAndSlotHaveExactlyOneWinner() async throws {
        let (engine, _) = try await makeBareEngine(
            seats: 1, users: 1_000,
            rules: {
                var r = BookingRules.default
                r.maxUpcomingPerUser = 10
                return r
            }())
        let wins = await withTaskGroup(of: Bool.self) { group in
            for u in 1...1_000 {
                group.addTask {
                    (try? await engine.book(user: UserID(u), seat: 1, start: testNow + hour, end: testNow + 2 * hour))
                        != nil
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(wins == 1)
        #expect(await engine.allReservations().total == 1)
    }

    @Test func randomConcurrentBookingsNeverOverlapAndExactlyTheSuccessesAreStored() async throws {
        let seed = testSeed("ConcurrencyTests random bookings")
        var rules = BookingRules.default
        rules.maxUpcomingPerUser = 1_000
        let (engine, _) = try await makeBareEngine(seats: 50, users: 100, rules: rules)
        var rng = SplitMix64(seed: seed)
        let requests: [BookingRequest] = (0..<10_000).map { _ in
            let start = testNow + Int64.random(in: 0..<96, using: &rng) * 15 * minute
            return BookingRequest(
                userID: UserID.random(in: 1...100, using: &rng), seatID: SeatID.random(in: 1...50, using: &rng),
                start: start, end: start + Int64.random(in: 1...16, using: &rng) * 15 * minute)
        }
        let successes = await withTaskGroup(of: Reservation?.self) { group in
            for q in requests {
                group.addTask { try? await engine.book(user: q.userID, seat: q.seatID, start: q.start, end: q.end) }
            }
            return await group.reduce(into: [Reservation]()) { if let r = $1 { $0.append(r) } }
        }
        let stored = await engine.allReservations(limit: .max).items
        #expect(Set(stored) == Set(successes), "seed \(seed)")
        #expect(stored.count == successes.count)
        for (_, rs) in Dictionary(grouping: stored, by: \.seatID) {
            let sorted = rs.sorted { $0.start < $1.start }
            for (x, y) in zip(sorted, sorted.dropFirst()) {
                #expect(x.end <= y.start, "overlap on seat \(x.seatID), seed \(seed)")
            }
        }
        #expect(successes.count > 100)  // the load really booked something
        #expect(await engine.checkInvariants())
    }

    @Test func perStudentLimitHoldsAcrossShardsUnderConcurrency() async throws {
        let (engine, _) = try await makeBareEngine(seats: 100, users: 1, shards: 8)
        let wins = await bookEverySeatAtOnce(engine, seats: 100)
        #expect(wins == 3)
        #expect(await engine.reservations(of: 1).total == 3)

        var rules = BookingRules.default
        rules.maxConcurrentPerUser = 1
        rules.maxUpcomingPerUser = 100
        let (strict, _) = try await makeBareEngine(seats: 100, users: 1, shards: 8, rules: rules)
        let overlapping = await bookEverySeatAtOnce(strict, seats: 100)
        #expect(overlapping == 1)
    }

    @Test func concurrentCancelsOfOneReservationSucceedOnce() async throws {
        let (engine, _) = try await makeBareEngine(seats: 1, users: 1)
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        let ok = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<50 {
                group.addTask { (try? await engine.cancel(id: r.id, requester: Requester(userID: 1))) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(ok == 1)
    }
}

/// Student 1 books seats 1…`seats` for the same hour, all at once; returns how many succeeded.
private func bookEverySeatAtOnce(_ engine: SeatEngine, seats: Int) async -> Int {
    await withTaskGroup(of: Bool.self) { group in
        for s in 1...seats {
            group.addTask {
                (try? await engine.book(user: 1, seat: SeatID(s), start: testNow + hour, end: testNow + 2 * hour))
                    != nil
            }
        }
        return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
    }
}
