import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Testing

@Suite struct WaitlistTests {
    @Test func freedTimeIsOfferedToTheFirstMatchingEntryInJoiningOrder() async throws {
        let (engine, _) = try await makeBareEngine(seats: 2, users: 4)
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 3 * hour)
        let a = try await engine.joinWaitlist(user: 2, target: .seat(1), desired: testNow + hour)
        let b = try await engine.joinWaitlist(user: 3, target: .branch("B"), desired: testNow + hour)
        let c = try await engine.joinWaitlist(user: 4, target: .seat(1), desired: testNow + 2 * hour)
        #expect(a.position == 1 && b.position == 1 && c.position == 2)
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        // One entry per freed seat window: the earliest joiner.
        #expect(engine.waitlistEntry(a.entry.id)?.entry.status == .offered)
        #expect(engine.waitlistEntry(a.entry.id)?.entry.offer?.seatID == 1)
        #expect(engine.waitlistEntry(a.entry.id)?.position == nil)
        #expect(engine.waitlistEntry(b.entry.id)?.entry.status == .waiting)
        #expect(engine.waitlistEntry(c.entry.id)?.position == 1)
        let n = engine.notifications.list(user: 2)
        #expect(n.count == 1 && n[0].kind == .seatOffered && n[0].seatID == 1 && n[0].start == testNow + hour)
        #expect(engine.notifications.list(user: 3).isEmpty)
    }

    @Test func branchEntryIsServedByAnySeatOfTheBranchAndOnlyWhenFullyFree() async throws {
        let (engine, _) = try await makeBareEngine(seats: 2, users: 3)
        let short = try await engine.book(user: 1, seat: 2, start: testNow + hour, end: testNow + 90 * minute)
        _ = try await engine.book(user: 2, seat: 2, start: testNow + 90 * minute, end: testNow + 2 * hour)
        let w = try await engine.joinWaitlist(user: 3, target: .branch("B"), desired: testNow + hour)
        // Freeing [1h, 1.5h) of seat 2 does not serve [1h, 2h): the rest is still taken.
        _ = try await engine.cancel(id: short.id, requester: Requester(userID: 1))
        #expect(engine.waitlistEntry(w.entry.id)?.entry.status == .waiting)
        let other = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        _ = try await engine.cancel(id: other.id, requester: Requester(userID: 1))
        #expect(engine.waitlistEntry(w.entry.id)?.entry.status == .offered)
        #expect(engine.notifications.list(user: 3).first?.seatID == 1)
    }

    @Test func noShowOffersTheWaitlist() async throws {
        // One shard: the sweep's order (no-shows, then free time) is deterministic.
        let (engine, _) = try await makeEngine(shards: 1)
        // Seed: user 1 holds seat 1 from +1 h to +3 h; user 6 waits for seat 1 at +3 h (not served by
        // that freeing) and user 8 (entry 3) for any Main Library seat at +2 h. A later seat waiter for
        // +2 h loses to the earlier branch entry.
        let w = try await engine.joinWaitlist(user: 9, target: .seat(1), desired: testNow + 2 * hour)
        let report = await engine.sweep(now: testNow + hour + 15 * minute)
        #expect(report.noShows.contains { $0.seatID == 1 })
        #expect(report.notified.contains { $0.userID == 8 })
        #expect(engine.notifications.list(user: 8).first?.seatID == 1)
        #expect(engine.waitlistEntry(w.entry.id)?.entry.status == .waiting)
        // The same sweep offers free time to other waiters (user 7 waits for seat 2, which is free).
        #expect(report.notified.contains { $0.userID == 7 })
    }

    @Test func joinValidatesAndLeaveCancels() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 1, users: 2)
        #expect(
            await refusal { try await engine.joinWaitlist(user: 1, target: .seat(7), desired: testNow + hour) }
                == .seatNotFound(7))
        #expect(
            await refusal { try await engine.joinWaitlist(user: 1, target: .branch("Nope"), desired: testNow + hour) }
                == .branchNotFound("Nope"))
        #expect(
            await refusal { try await engine.joinWaitlist(user: 1, target: .seat(1), desired: testNow - hour) }
                == .inThePast)
        #expect(
            await refusal {
                try await engine.joinWaitlist(user: 1, target: .seat(1), desired: testNow + hour, end: testNow)
            } == .invalidTimeRange)
        let e = try await engine.joinWaitlist(user: 1, target: .seat(1), desired: testNow + hour)
        #expect(e.entry.endTime == testNow + 2 * hour)
        #expect(
            await refusal { try await engine.leaveWaitlist(id: e.entry.id, requester: Requester(userID: 2)) }
                == .waitlistEntryNotFound(e.entry.id))
        let left = try await engine.leaveWaitlist(id: e.entry.id, requester: Requester(userID: 1))
        #expect(left.status == .cancelled && engine.waitlist(of: 1).first?.position == nil)
        #expect(
            await refusal { try await engine.leaveWaitlist(id: e.entry.id, requester: Requester(userID: 1)) }?.code
                == "invalid_state")
        // Expiry: a waiting entry whose desired time is past the grace expires at the sweep.
        let late = try await engine.joinWaitlist(user: 2, target: .seat(1), desired: testNow + hour)
        clock.set(testNow + hour + 15 * minute)
        let report = await engine.sweep(now: testNow + hour + 15 * minute)
        #expect(report.expired.map(\.id) == [late.entry.id] && report.expired[0].status == .expired)
    }

    @Test func waitingEntriesPerStudentAreLimited() async throws {
        var rules = BookingRules.default
        rules.maxWaitingPerUser = 2
        let (engine, _) = try await makeBareEngine(seats: 1, users: 1, rules: rules)
        for k in 1...2 {
            _ = try await engine.joinWaitlist(user: 1, target: .seat(1), desired: testNow + Int64(k) * hour)
        }
        #expect(
            await refusal { try await engine.joinWaitlist(user: 1, target: .seat(1), desired: testNow + 3 * hour) }
                == .limitReached(limit: 2))
    }
}
