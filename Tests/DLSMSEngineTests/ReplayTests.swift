import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Testing

@Suite struct ReplayTests {
    /// Replay restores the shards in parallel, so one student's ids reach the ledger out of order,
    /// and a later record of a reservation (its cancellation) names its id again: the student's
    /// list still has each id once, newest first.
    @Test func aStudentsListAfterReplayHasEachIdOnceNewestFirst() async throws {
        let (engine, _) = try await makeBareEngine(seats: 12, users: 2)
        func reservation(_ id: ReservationID, status: ReservationStatus = .confirmed) -> Reservation {
            var r = Reservation(
                id: id, seatID: SeatID(id), userID: 1, start: testNow + hour, end: testNow + 2 * hour,
                createdAt: testNow)
            r.status = status
            return r
        }
        let order: [ReservationID] = [5, 2, 9, 1, 12, 7]
        await engine.apply(
            batch: order.map { JournalRecord.reservationCreated(reservation($0)) } + [
                .reservationChanged(reservation(9, status: .cancelled)),
                .reservationChanged(reservation(2, status: .cancelled)),
                .reservationCreated(reservation(3)),
            ])
        #expect(await engine.checkInvariants())
        let mine = await engine.reservations(of: 1)
        #expect(mine.total == 7)
        #expect(mine.items.map(\.id) == [12, 9, 7, 5, 3, 2, 1])
        #expect(mine.items.filter { $0.status == .cancelled }.map(\.id) == [9, 2])
        let page = await engine.reservations(of: 1, limit: 2, offset: 1)
        #expect(page.items.map(\.id) == [9, 7] && page.total == 7)
    }

    /// Random operations, recorded by the journal, applied to a fresh engine: the same state.
    @Test func replayingTheJournalRebuildsTheSameState() async throws {
        let seed = testSeed("ReplayTests")
        var rng = SplitMix64(seed: seed)
        let journal = RecordingJournal()
        let (engine, clock) = try await makeEngine(journal: journal)
        for step in 0..<600 {
            let user = UserID.random(in: 1...10, using: &rng)
            let me = Requester(userID: user)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                let start = testNow + Int64.random(in: -1...40, using: &rng) * 15 * minute + (clock.now() - testNow)
                _ = try? await engine.book(
                    user: user, seat: SeatID.random(in: 1...50, using: &rng), start: start,
                    end: start + Int64.random(in: 1...8, using: &rng) * 15 * minute)
            case 5:
                let mine = await engine.reservations(of: user).items
                if let r = mine.randomElement(using: &rng) { _ = try? await engine.cancel(id: r.id, requester: me) }
            case 6:
                let mine = await engine.reservations(of: user).items
                if let r = mine.randomElement(using: &rng) { _ = try? await engine.checkIn(id: r.id, requester: me) }
            case 7:
                _ = try? await engine.joinWaitlist(
                    user: user, target: .seat(SeatID.random(in: 1...50, using: &rng)), desired: clock.now() + hour)
            default:
                clock.advance(by: 5 * minute)
                _ = await engine.sweep(now: clock.now())
            }
            _ = step
        }
        let copy = SeatEngine(configuration: .init(shardCount: 3), clock: clock)
        for record in journal.records { await copy.apply(record) }
        #expect(await copy.checkInvariants())
        let a = await engine.allReservations(limit: .max).items
        let b = await copy.allReservations(limit: .max).items
        #expect(a == b, "seed \(seed)")
        #expect(engine.allWaitlistEntries == copy.allWaitlistEntries, "seed \(seed)")
        #expect(engine.allUsers == copy.allUsers)
        for u in UserID(1)...11 {
            #expect(engine.notifications.list(user: u) == copy.notifications.list(user: u), "seed \(seed)")
            let live = await engine.reservations(of: u).items
            let replayed = await copy.reservations(of: u).items
            #expect(
                live == replayed,
                "seed \(seed) user \(u): live \(live.map { "\($0.id) \($0.status)" }) replayed \(replayed.map { "\($0.id) \($0.status)" })"
            )
        }
        // Replaying again from any earlier point over a state that already has later records (what a
        // snapshot taken while writes flow needs) gives the same state.
        let records = journal.records
        let k = Int.random(in: 0...records.count, using: &rng)
        let j = Int.random(in: 0...k, using: &rng)
        let fuzzy = SeatEngine(configuration: .init(shardCount: 2), clock: clock)
        for record in records[..<k] { await fuzzy.apply(record) }
        for record in records[j...] { await fuzzy.apply(record) }
        #expect(await fuzzy.allReservations(limit: .max).items == a, "seed \(seed) k \(k) j \(j)")
        #expect(fuzzy.allWaitlistEntries == engine.allWaitlistEntries, "seed \(seed) k \(k) j \(j)")
        #expect(await fuzzy.checkInvariants())
    }
}
