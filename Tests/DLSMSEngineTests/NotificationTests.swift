import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Testing

@Suite struct NotificationTests {
    @Test func liveStreamAndSince() async throws {
        let (engine, _) = try await makeBareEngine(seats: 1, users: 2)
        let stream = try #require(engine.notifications.subscribe(user: 2))
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        _ = try await engine.joinWaitlist(user: 2, target: .seat(1), desired: testNow + hour)
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        var iterator = stream.makeAsyncIterator()
        let live = await iterator.next()
        #expect(live?.kind == .seatOffered && live?.userID == 2)
        #expect(engine.notifications.list(user: 2).map(\.id) == [live!.id])
        #expect(engine.notifications.list(user: 2, since: live!.id).isEmpty)
    }

    @Test func streamsPerStudentAreBoundedAndTheOldestMakesRoom() async throws {
        let center = NotificationHub(streamsPerUser: 3)
        let streams = (0..<3).compactMap { _ in center.subscribe(user: 1) }
        #expect(streams.count == 3 && center.streamCount == 3)
        // A fourth closes the oldest (its iteration ends), so a student whose closed tabs were not
        // yet noticed is never locked out.
        let fourth = try #require(center.subscribe(user: 1))
        #expect(center.streamCount == 3)
        var oldest = streams[0].makeAsyncIterator()
        #expect(await oldest.next() == nil)
        #expect(center.subscribe(user: 2) != nil)
        center.finishAll()
        #expect(center.streamCount == 0)
        var last = fourth.makeAsyncIterator()
        #expect(await last.next() == nil)
        #expect(center.subscribe(user: 1) == nil)  // after shutdown began: no new streams
    }

    @Test func revokingAStudentsTokensEndsTheirStreams() async throws {
        let (engine, _) = try await makeEngine()
        let mine = try #require(engine.notifications.subscribe(user: 4))
        let other = try #require(engine.notifications.subscribe(user: 5))
        try await engine.updateUser(id: 4) { $0.name = "renamed" }  // tokens still good: stream stays
        #expect(engine.notifications.streamCount == 2)
        try await engine.updateUser(id: 4) { $0.tokenGeneration += 1 }
        var it = mine.makeAsyncIterator()
        #expect(await it.next() == nil)
        #expect(engine.notifications.streamCount == 1)
        try await engine.updateUser(id: 5) { $0.disabled = true }
        var it5 = other.makeAsyncIterator()
        #expect(await it5.next() == nil)
    }

    @Test func aReaderThatFallsBehindIsClosedNotThinned() async throws {
        let clock = ManualClock(testNow)
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 2, streamQueue: 2), clock: clock)
        try await engine.define(branch: Branch(name: "B", areas: ["A"]))
        for s in 1...3 {
            try await engine.define(
                seat: Seat(id: SeatID(s), branch: "B", area: "A", hasPower: false, hasMonitor: false))
        }
        let user = try await engine.register(studentID: "U1", name: "U1", passwordHash: "").id
        for s in 1...3 {
            _ = try await engine.book(user: user, seat: SeatID(s), start: testNow + hour, end: testNow + 2 * hour)
        }
        let stream = try #require(engine.notifications.subscribe(user: user))
        // Three no-shows for a stream that holds two, nobody reading: the stream ends after the
        // two it holds instead of dropping one, and all seven (three no-shows, their three
        // strikes, the suspension they make) are there to replay.
        clock.advance(by: hour + engine.rules.grace + 1)
        #expect(await engine.sweep(now: clock.now()).noShows.count == 3)
        var received: [NotificationID] = []
        for await n in stream { received.append(n.id) }
        let kept = engine.notifications.list(user: user).map(\.id)
        #expect(received.count == 2 && kept.count == 7 && Array(kept.prefix(2)) == received)
        #expect(engine.notifications.streamCount == 0)
    }
}
