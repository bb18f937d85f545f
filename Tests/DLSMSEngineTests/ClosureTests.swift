import DLSMSCore
import DLSMSStorage
import DLSMSTestSupport
import Synchronization
import Testing

@testable import DLSMSEngine

/// Closures of a branch or an area: refused bookings, cancelled reservations and waitlist
/// entries, notified holders, atomicity under concurrent bookings, stays that a closure ends.
@Suite struct ClosureTests {
    /// A branch with two areas: seats 1–4 in "Quiet", 5–8 in "Group"; many students.
    func makeLibrary(users: Int = 20, shards: Int = 4) async throws -> (SeatEngine, ManualClock) {
        var rules = BookingRules.default
        rules.maxUpcomingPerUser = 1_000
        let clock = ManualClock(testNow)
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: shards, rules: rules), clock: clock)
        try await engine.define(branch: Branch(name: "Lib", areas: ["Quiet", "Group"]))
        for s in 1...8 {
            try await engine.define(
                seat: Seat(
                    id: SeatID(s), branch: "Lib", area: s <= 4 ? "Quiet" : "Group", hasPower: true, hasMonitor: false))
        }
        for u in 1...users { _ = try await engine.register(studentID: "U\(u)", name: "User \(u)", passwordHash: "") }
        return (engine, clock)
    }

    @Test func anAreaClosureCancelsWhatItOverlapsNotifiesAndRefusesNewBookings() async throws {
        let (engine, _) = try await makeLibrary()
        let inside = try await engine.book(user: 1, seat: 1, start: testNow + 2 * hour, end: testNow + 3 * hour)
        let straddling = try await engine.book(user: 2, seat: 2, start: testNow + 3 * hour, end: testNow + 5 * hour)
        let before = try await engine.book(user: 3, seat: 3, start: testNow + hour, end: testNow + 2 * hour)
        let otherArea = try await engine.book(user: 4, seat: 5, start: testNow + 2 * hour, end: testNow + 3 * hour)

        let outcome = try await engine.declareClosure(
            branch: "Lib", area: "Quiet", start: testNow + 2 * hour, end: testNow + 4 * hour, reason: "exam")
        #expect(outcome.cancelled.map(\.id) == [inside.id, straddling.id])
        #expect(outcome.cancelled.allSatisfy { $0.status == .cancelled })
        let admin = Requester(userID: 0, isAdmin: true)
        // `before` ends as the closure starts: untouched.
        #expect(try await engine.reservation(id: before.id, requester: admin).status == .confirmed)
        #expect(try await engine.reservation(id: otherArea.id, requester: admin).status == .confirmed)
        // Each holder is told, with the reason.
        for user: UserID in [1, 2] {
            let told = engine.notifications.list(user: user).filter { $0.kind == .reservationCancelled }
            #expect(told.count == 1)
            #expect(told.first?.message.contains("exam") == true)
        }
        #expect(engine.notifications.list(user: 3).isEmpty)

        // Inside: refused with `closed` and the reason; outside and in the other area: booked.
        let refused = await refusal {
            try await engine.book(user: 5, seat: 4, start: testNow + 3 * hour, end: testNow + 3 * hour + 30 * minute)
        }
        #expect(refused == .closed(reason: "exam"))
        #expect(refused?.code == "closed" && refused?.kind == .conflict)
        _ = try await engine.book(user: 5, seat: 4, start: testNow + 4 * hour, end: testNow + 5 * hour)
        _ = try await engine.book(user: 6, seat: 6, start: testNow + 3 * hour, end: testNow + 4 * hour)

        // Search: closed seats are not available for the window.
        let free = await engine.searchSeats(
            SeatFilter(branch: "Lib", availableOnly: true), start: testNow + 3 * hour, end: testNow + 3 * hour + 900)
        #expect(free.allSatisfy { $0.seat.area == "Group" })
        #expect(await engine.checkInvariants())
    }

    @Test func waitlistEntriesInsideAClosureAreCancelledAndOffersReleased() async throws {
        let (engine, clock) = try await makeLibrary()
        let window = (testNow + 2 * hour, testNow + 3 * hour)
        // Seat 1 is taken; 7 waits for it, 8 for any seat of the branch.
        let taken = try await engine.book(user: 1, seat: 1, start: window.0, end: window.1)
        let forSeat = try await engine.joinWaitlist(user: 7, target: .seat(1), desired: window.0, end: window.1).entry
        let forBranch = try await engine.joinWaitlist(user: 8, target: .branch("Lib"), desired: window.0, end: window.1)
            .entry
        let later = try await engine.joinWaitlist(
            user: 9, target: .seat(1), desired: testNow + 6 * hour, end: testNow + 7 * hour
        ).entry

        // An area closure cancels the seat's entry, not the branch's (other areas stay open).
        let area = try await engine.declareClosure(
            branch: "Lib", area: "Quiet", start: window.0, end: window.1, reason: "exam")
        #expect(area.cancelled.map(\.id) == [taken.id])
        #expect(area.waitlistCancelled.map(\.id) == [forSeat.id])
        #expect(engine.waitlistEntry(forSeat.id)?.entry.status == .cancelled)
        #expect(engine.waitlistEntry(later.id)?.entry.status == .waiting)
        #expect(engine.notifications.list(user: 7).contains { $0.kind == .reservationCancelled })
        // Joining inside the closure is refused.
        #expect(
            await refusal {
                try await engine.joinWaitlist(user: 10, target: .seat(2), desired: window.0, end: window.1)
            }
                == .closed(reason: "exam"))

        // The branch entry: a Group seat frees and is held for it; a whole-branch closure then
        // cancels the entry and releases the hold.
        let group = try await engine.book(user: 2, seat: 5, start: window.0, end: window.1)
        for s: SeatID in 6...8 {
            _ = try await engine.book(user: UserID(s + 5), seat: s, start: window.0, end: window.1)
        }
        clock.advance(by: minute)
        _ = try await engine.cancel(id: group.id, requester: Requester(userID: 2))
        let offered = try #require(engine.waitlistEntry(forBranch.id)?.entry)
        #expect(offered.status == .offered)
        let whole = try await engine.declareClosure(
            branch: "Lib", area: "", start: window.0, end: window.1, reason: "holiday")
        #expect(whole.waitlistCancelled.map(\.id) == [forBranch.id])
        #expect(engine.waitlistEntry(forBranch.id)?.entry.status == .cancelled)
        let hold = try await engine.reservation(
            id: try #require(offered.offer?.reservationID), requester: Requester(userID: 0, isAdmin: true))
        #expect(hold.status == .cancelled)
        #expect(
            await refusal {
                try await engine.joinWaitlist(user: 10, target: .branch("Lib"), desired: window.0, end: window.1)
            } == .closed(reason: "holiday"))
        #expect(await engine.checkInvariants())
    }

    /// Bookings race the closure on every seat of the area; once it returns, no reservation of
    /// the area overlaps it, and every acknowledged booking outside it is untouched.
    @Test func aClosureIsAtomicUnderConcurrentBookings() async throws {
        let seed = testSeed("ClosureTests atomic")
        var raced = (cancelled: 0, refused: 0)
        for round in 0..<20 {
            let (engine, _) = try await makeLibrary(users: 50, shards: 4)
            let closure = (testNow + 4 * hour, testNow + 8 * hour)
            var rng = SplitMix64(seed: seed &+ UInt64(round))
            let requests: [BookingRequest] = (0..<400).map { _ in
                let start = testNow + Int64.random(in: 0..<48, using: &rng) * 15 * minute
                return BookingRequest(
                    userID: UserID.random(in: 1...50, using: &rng), seatID: SeatID.random(in: 1...8, using: &rng),
                    start: start, end: start + Int64.random(in: 1...8, using: &rng) * 15 * minute)
            }
            // Each task books 8 requests before the closure, 8 while it is being declared, and the
            // last 4 after it returned.
            let firstPartsDone = Counter()
            let closureStarted = Counter()
            let closureDone = Counter()
            let chunks = stride(from: 0, to: requests.count, by: 20).map { requests[$0..<min($0 + 20, requests.count)] }
            let (acknowledged, outcome) = try await withThrowingTaskGroup(
                of: ([Reservation], Int, ClosureOutcome?).self
            ) { group in
                for part in chunks {
                    group.addTask {
                        var made: [Reservation] = []
                        var closed = 0
                        for (k, q) in part.enumerated() {
                            if k == 8 {
                                firstPartsDone.add()
                                while closureStarted.value == 0 { await Task.yield() }
                            } else if k == 16 {
                                while closureDone.value == 0 { await Task.yield() }
                            }
                            do {
                                made.append(
                                    try await engine.book(user: q.userID, seat: q.seatID, start: q.start, end: q.end))
                            } catch let e as EngineError {
                                if case .closed = e { closed += 1 }
                            }
                        }
                        return (made, closed, nil)
                    }
                }
                group.addTask {
                    while firstPartsDone.value < chunks.count { await Task.yield() }
                    closureStarted.add()
                    let outcome = try await engine.declareClosure(
                        branch: "Lib", area: "Quiet", start: closure.0, end: closure.1, reason: "exam")
                    closureDone.add()
                    return ([], 0, outcome)
                }
                var all: [Reservation] = []
                var outcome: ClosureOutcome?
                for try await (made, closed, o) in group {
                    all += made
                    raced.refused += closed
                    outcome = outcome ?? o
                }
                return (all, try #require(outcome))
            }
            raced.cancelled += outcome.cancelled.count
            let stored = Dictionary(
                uniqueKeysWithValues: await engine.allReservations(limit: .max).items.map { ($0.id, $0) })
            let cancelledIDs = Set(outcome.cancelled.map(\.id))
            for r in acknowledged {
                let now = try #require(stored[r.id])
                let overlaps = r.seatID <= 4 && r.start < closure.1 && closure.0 < r.end
                if overlaps {
                    #expect(now.status == .cancelled, "round \(round): \(r) survived inside the closure")
                    #expect(cancelledIDs.contains(r.id))
                } else {
                    #expect(now.status == .confirmed, "round \(round): \(r) outside the closure was touched")
                }
            }
            #expect(acknowledged.count > 20)
            #expect(await engine.checkInvariants())
        }
        // Bookings inside the area came both before the closure (and were cancelled) and after
        // it (and were refused).
        #expect(raced.cancelled > 0 && raced.refused > 0, "\(raced)")
    }

    @Test func aStayAClosureInterruptsEndsWhenTheClosureBegins() async throws {
        let (engine, clock) = try await makeLibrary()
        let me = Requester(userID: 1)
        let r = try await engine.book(user: 1, seat: 1, start: testNow, end: testNow + 3 * hour)
        _ = try await engine.checkIn(id: r.id, requester: me)
        let outcome = try await engine.declareClosure(
            branch: "Lib", area: "", start: testNow + hour, end: testNow + 2 * hour, reason: "fire drill")
        #expect(outcome.cancelled.isEmpty)  // the stay goes on until the closure begins…
        #expect(try await engine.reservation(id: r.id, requester: me).status == .checkedIn)
        #expect(engine.notifications.list(user: 1).contains { $0.message.contains("fire drill") })
        clock.advance(by: hour - minute)
        _ = await engine.sweep(now: clock.now())
        #expect(try await engine.reservation(id: r.id, requester: me).status == .checkedIn)
        clock.advance(by: minute)
        let report = await engine.sweep(now: clock.now())  // …and ends when it does
        let ended = try await engine.reservation(id: r.id, requester: me)
        #expect(ended.status == .completed)
        #expect(ended.end == testNow + hour)
        #expect(report.completed.map(\.id) == [r.id])
        #expect(engine.notifications.list(user: 1).filter { $0.message.contains("fire drill") }.count == 2)

        // A closure that has begun ends a stay at once.
        let s = try await engine.book(user: 2, seat: 6, start: testNow + 2 * hour, end: testNow + 4 * hour)
        clock.advance(by: hour)
        _ = try await engine.checkIn(id: s.id, requester: Requester(userID: 2))
        clock.advance(by: 10 * minute)
        let now = try await engine.declareClosure(
            branch: "Lib", area: "Group", start: clock.now() - minute, end: clock.now() + hour, reason: "flood")
        #expect(now.cancelled.map(\.id) == [s.id])
        #expect(now.cancelled.first?.status == .completed)
        #expect(now.cancelled.first?.end == clock.now())
    }

    @Test func changingWidensRemovingReopensAndBadClosuresAreRefused() async throws {
        let (engine, _) = try await makeLibrary()
        let c = try await engine.declareClosure(
            branch: "Lib", area: "", start: testNow + hour, end: testNow + 2 * hour, reason: "exam")
        let later = try await engine.book(user: 1, seat: 3, start: testNow + 2 * hour, end: testNow + 3 * hour)
        let widened = try await engine.changeClosure(
            branch: "Lib", id: c.closure.id, start: nil, end: testNow + 3 * hour, reason: "exam, longer")
        #expect(widened.cancelled.map(\.id) == [later.id])
        #expect(widened.closure.reason == "exam, longer")
        #expect(try engine.closures(branch: "Lib", includingPast: false).map(\.end) == [testNow + 3 * hour])

        let removed = try await engine.removeClosure(branch: "Lib", id: c.closure.id)
        #expect(removed.id == c.closure.id)
        #expect(try engine.closures(branch: "Lib", includingPast: true).isEmpty)
        _ = try await engine.book(user: 2, seat: 3, start: testNow + 2 * hour, end: testNow + 3 * hour)
        // What it cancelled stays cancelled.
        #expect(
            try await engine.reservation(id: later.id, requester: Requester(userID: 1)).status == .cancelled)

        let bad: [(String, Timestamp, Timestamp, String, String)] = [
            ("Lib", testNow + 2 * hour, testNow + hour, "x", "invalid_time_range"),
            ("Lib", testNow - 3 * hour, testNow - hour, "x", "bad_request"),  // over already
            ("Lib", testNow, testNow + 400 * Seconds.day, "x", "bad_request"),  // too long
            ("Lib", testNow, testNow + hour, "", "bad_request"),  // no reason
            ("Lib", testNow, testNow + hour, String(repeating: "r", count: 201), "bad_request"),
            ("Nope", testNow, testNow + hour, "x", "not_found"),
        ]
        for (branch, start, end, reason, code) in bad {
            let e = await refusal {
                try await engine.declareClosure(branch: branch, area: "", start: start, end: end, reason: reason)
            }
            #expect(e?.code == code, "\(branch) \(start)–\(end) '\(reason.prefix(10))'")
        }
        #expect(
            await refusal {
                try await engine.declareClosure(
                    branch: "Lib", area: "Attic", start: testNow, end: testNow + hour, reason: "x")
            }?.code == "bad_request")
        #expect(await refusal { try await engine.removeClosure(branch: "Lib", id: 99) } == .closureNotFound(99))
        #expect(
            await refusal {
                try await engine.changeClosure(branch: "Lib", id: 99, start: nil, end: nil, reason: "y")
            } == .closureNotFound(99))
    }

    @Test func aBranchHasAtMostItsLimitOfClosuresAndEndedOnesAreDropped() async throws {
        let (engine, clock) = try await makeLibrary()
        for i in 0..<Closure.maxPerBranch {
            let start = testNow + Int64(i) * hour
            _ = try await engine.declareClosure(
                branch: "Lib", area: "", start: start, end: start + 1800, reason: "c\(i)")
        }
        #expect(
            await refusal {
                try await engine.declareClosure(branch: "Lib", area: "", start: testNow, end: testNow + 60, reason: "x")
            } == .limitReached(limit: Closure.maxPerBranch))
        // Long after the first ones ended, declaring drops them.
        clock.advance(by: Closure.keptAfterEnd + 10 * hour)
        _ = try await engine.declareClosure(
            branch: "Lib", area: "", start: clock.now(), end: clock.now() + hour, reason: "new")
        #expect(try engine.closures(branch: "Lib", includingPast: true).count < Closure.maxPerBranch)
    }

    /// Concurrent changes of one branch reach the shards in any order; a shard keeps the newest
    /// copy, so every closure listed is enforced on every seat, and a removed one on none.
    @Test func concurrentClosureChangesLeaveEverySeatWithTheNewestCopy() async throws {
        for round in 0..<10 {
            let (engine, _) = try await makeLibrary(users: 2, shards: 4)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<40 {
                    group.addTask {
                        let start = testNow + Int64(i) * hour
                        let made = try await engine.declareClosure(
                            branch: "Lib", area: i % 2 == 0 ? "" : "Quiet", start: start, end: start + 30 * minute,
                            reason: "c\(i)")
                        if i % 5 == 0 { _ = try await engine.removeClosure(branch: "Lib", id: made.closure.id) }
                    }
                }
                group.addTask {
                    _ = try await engine.setHours(branch: "Lib", timeZone: "UTC", hours: .alwaysOpen)
                }
                try await group.waitForAll()
            }
            // A copy of the branch from before all that, arriving late (as a slow request's would):
            // the shards keep the newer one.
            if round == 0 {
                let stale = BranchCopy(branch: Branch(name: "Lib", areas: ["Quiet", "Group"]), version: 1)
                await engine.propagate(stale, to: [1, 2, 3, 4, 5, 6, 7, 8])
            }
            let listed = try engine.closures(branch: "Lib", includingPast: true)
            #expect(listed.count == 32)
            for i in 0..<40 {
                let start = testNow + Int64(i) * hour
                let closure = listed.first { $0.start == start }
                for seat: SeatID in [1, 2, 5, 6] {
                    let e = await refusal {
                        try await engine.book(user: 1, seat: seat, start: start, end: start + 15 * minute)
                    }
                    let closed = closure.map { $0.applies(to: seat <= 4 ? "Quiet" : "Group") } ?? false
                    #expect(
                        (e == .closed(reason: closure?.reason ?? "")) == closed,
                        "round \(round), closure \(i), seat \(seat): \(String(describing: e))")
                    if e == nil {
                        let mine = await engine.allReservations(matching: ReservationFilter(userID: 1)).items
                        for r in mine where r.status == .confirmed {
                            _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
                        }
                    }
                }
            }
        }
    }

    /// An offer whose seat a closure reaches before its waitlist entry is cancelled cannot be
    /// accepted: it is declined with `closed`, and the hold is released.
    @Test func anOfferInsideAClosureCannotBeAccepted() async throws {
        let (engine, _) = try await makeLibrary()
        let window = (testNow + 2 * hour, testNow + 3 * hour)
        let taken = try await engine.book(user: 1, seat: 1, start: window.0, end: window.1)
        let entry = try await engine.joinWaitlist(user: 7, target: .seat(1), desired: window.0, end: window.1).entry
        _ = try await engine.cancel(id: taken.id, requester: Requester(userID: 1))
        let offered = try #require(engine.waitlistEntry(entry.id)?.entry)
        #expect(offered.status == .offered)
        // The closure's record is applied (its waitlist pass has not come yet).
        var branch = try #require(engine.branch(named: "Lib"))
        branch.closures = [Closure(id: 1, area: "Quiet", start: window.0, end: window.1, reason: "exam")]
        await engine.apply(.branchDefined(branch))
        let refused = await refusal { try await engine.acceptOffer(id: entry.id, requester: Requester(userID: 7)) }
        #expect(refused == .closed(reason: "exam"))
        let hold = try await engine.reservation(
            id: try #require(offered.offer?.reservationID), requester: Requester(userID: 0, isAdmin: true))
        #expect(hold.status == .cancelled)
        #expect(await engine.checkInvariants())
    }

    /// A seat moved into a closed area loses what the closure overlaps, its holder told why.
    @Test func aSeatMovedIntoAClosedAreaLosesWhatTheClosureOverlaps() async throws {
        let (engine, _) = try await makeLibrary()
        _ = try await engine.declareClosure(
            branch: "Lib", area: "Group", start: testNow + hour, end: testNow + 3 * hour, reason: "exam")
        let r = try await engine.book(user: 1, seat: 2, start: testNow + hour, end: testNow + 2 * hour)
        let moved = try await engine.update(seat: 2) { $0.area = "Group" }
        #expect(moved.area == "Group")
        #expect(try await engine.reservation(id: r.id, requester: Requester(userID: 1)).status == .cancelled)
        #expect(engine.notifications.list(user: 1).contains { $0.message.contains("exam") })
    }

    /// Closure ids are per branch and never given twice, even after a removal and a restart
    /// (the serial travels in the branch record).
    @Test func closureIdsAreNeverGivenTwice() async throws {
        let (engine, _) = try await makeLibrary()
        let first = try await engine.declareClosure(
            branch: "Lib", area: "", start: testNow + hour, end: testNow + 2 * hour, reason: "a")
        _ = try await engine.removeClosure(branch: "Lib", id: first.closure.id)
        let record = JournalRecord.branchDefined(try #require(engine.branch(named: "Lib")))
        let replayed = try RecordCodec.decode(RecordCodec.encode(record))
        guard case .branchDefined(let b) = replayed else { throw EngineError.invalidState("not a branch") }
        #expect(b.closures.isEmpty && b.closureSerial == first.closure.id)
        let fresh = SeatEngine(configuration: EngineConfiguration(shardCount: 2), clock: ManualClock(testNow))
        await fresh.apply(replayed)
        let next = try await fresh.declareClosure(
            branch: "Lib", area: "", start: testNow + hour, end: testNow + 2 * hour, reason: "b")
        #expect(next.closure.id == first.closure.id + 1)
        // Far ahead: refused, not kept for years.
        #expect(
            await refusal {
                try await engine.declareClosure(
                    branch: "Lib", area: "", start: testNow + 800 * Seconds.day, end: testNow + 801 * Seconds.day,
                    reason: "far")
            }?.code == "bad_request")
    }

    /// A crash between a closure's record and its cancellations leaves reservations inside it:
    /// replay keeps them, and ``SeatEngine/enforceClosures()`` (run at every start) cancels them.
    @Test func aClosureReplayedWithoutItsCancellationsIsFinishedAtStart() async throws {
        let (engine, _) = try await makeLibrary()
        let r = try await engine.book(user: 1, seat: 2, start: testNow + hour, end: testNow + 2 * hour)
        var branch = try #require(engine.branch(named: "Lib"))
        branch.closures = [Closure(id: 7, area: "Quiet", start: testNow, end: testNow + 3 * hour, reason: "exam")]
        await engine.apply(.branchDefined(branch))  // the record, replayed; the cancellations were lost
        #expect(try await engine.reservation(id: r.id, requester: Requester(userID: 1)).status == .confirmed)
        #expect(try await engine.enforceClosures() == 1)
        #expect(try await engine.reservation(id: r.id, requester: Requester(userID: 1)).status == .cancelled)
        #expect(engine.notifications.list(user: 1).contains { $0.message.contains("exam") })
        #expect(try await engine.enforceClosures() == 0)  // nothing twice
        // The serial goes on past replayed ids.
        let next = try await engine.declareClosure(
            branch: "Lib", area: "", start: testNow + 5 * hour, end: testNow + 6 * hour, reason: "later")
        #expect(next.closure.id == 8)
    }
}

/// A count shared by concurrent tasks.
final class Counter: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add() { count.add(1, ordering: .relaxed) }
}
