import DLSMSCore
import DLSMSEngine
import Foundation
import Testing

/// The email outbox: what is queued, in the journal step of its cause; reminders once each, on
/// the injected clock; the bounds; replay and snapshots; an erased account's messages dropped.
@Suite struct MailOutboxTests {
    /// Three students: 1 has an address from the identity source, 2 has none, 3 set one.
    func engine(limits: MailOutbox.Limits = .init()) async throws -> (SeatEngine, ManualClock) {
        let clock = ManualClock(testNow)
        var rules = BookingRules.default
        rules.maxUpcomingPerUser = 100
        let engine = SeatEngine(
            configuration: EngineConfiguration(shardCount: 2, rules: rules, mailQueue: limits), clock: clock)
        try await engine.define(branch: Branch(name: "B", areas: ["A"]))
        for s in 1...20 {
            try await engine.define(
                seat: Seat(id: SeatID(s), branch: "B", area: "A", hasPower: false, hasMonitor: false))
        }
        for u in 1...3 { _ = try await engine.register(studentID: "U\(u)", name: "User \(u)", passwordHash: "") }
        _ = try await engine.updateUser(id: 1) { $0.email = "one@example.edu" }
        _ = try await engine.updateUser(id: 3) {
            $0.mail.address = "three@example.edu"
            $0.language = "de"
        }
        engine.mail.enable()
        return (engine, clock)
    }

    @Test func aBookingQueuesItsConfirmationToTheStudentsAddressInTheirLanguage() async throws {
        let (engine, _) = try await engine()
        let r1 = try await engine.book(user: 1, seat: 1, start: testNow + 2 * hour, end: testNow + 3 * hour)
        _ = try await engine.book(user: 2, seat: 2, start: testNow + 2 * hour, end: testNow + 3 * hour)
        let r3 = try await engine.book(user: 3, seat: 3, start: testNow + 2 * hour, end: testNow + 3 * hour)
        let pending = engine.mail.pending()
        #expect(pending.map(\.kind) == [.confirmed, .confirmed])
        #expect(pending.map(\.to) == ["one@example.edu", "three@example.edu"])
        #expect(pending.map(\.reference) == [r1.id, r3.id])
        #expect(pending.map(\.language) == ["", "de"])
        #expect(pending[0].start == r1.start && pending[0].end == r1.end && pending[0].seatID == 1)
        // A kind turned off is not queued; an address is the student's own over the identity's.
        _ = try await engine.updateUser(id: 1) {
            $0.mail.set(.confirmed, on: false)
            $0.mail.address = "mine@example.edu"
        }
        _ = try await engine.book(user: 1, seat: 4, start: testNow + 2 * hour, end: testNow + 3 * hour)
        #expect(engine.mail.pending().count == 2)
        _ = try await engine.updateUser(id: 1) { $0.mail.set(.confirmed, on: true) }
        _ = try await engine.book(user: 1, seat: 5, start: testNow + 4 * hour, end: testNow + 5 * hour)
        #expect(engine.mail.pending().last?.to == "mine@example.edu")
    }

    @Test func aCancellationByTheLibraryAndANoShowAreMailedWithTheirNotice() async throws {
        let (engine, clock) = try await engine()
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 99, isAdmin: true))
        let late = try await engine.book(user: 1, seat: 2, start: testNow + hour, end: testNow + 2 * hour)
        clock.set(late.start + engine.configuration.rules.grace + 1)
        _ = await engine.sweep(now: clock.now())
        let kinds = engine.mail.pending().map(\.kind)
        #expect(kinds == [.confirmed, .cancelled, .confirmed, .noShow, .strike], "\(kinds)")
        let cancelled = try #require(engine.mail.pending().first { $0.kind == .cancelled })
        #expect(cancelled.text.contains("cancelled by the library staff") && cancelled.reference == 0)
    }

    @Test func remindersAndCheckInMessagesComeOnceEachOnTheClock() async throws {
        let (engine, clock) = try await engine()
        let start = testNow + 2 * hour
        let r = try await engine.book(user: 3, seat: 1, start: start, end: start + hour)
        // Made within its reminder time: no reminder (the confirmation says it all).
        let soon = try await engine.book(user: 1, seat: 2, start: testNow + 20 * minute, end: testNow + hour)
        #expect(try await engine.queueMailReminders(now: clock.now()) == 0)
        clock.set(start - 31 * minute)
        #expect(try await engine.queueMailReminders(now: clock.now()) == 0)
        clock.set(start - 30 * minute)
        #expect(try await engine.queueMailReminders(now: clock.now()) == 1)
        #expect(try await engine.queueMailReminders(now: clock.now()) == 0)
        clock.set(start - engine.configuration.rules.checkInOpensBefore)
        #expect(try await engine.queueMailReminders(now: clock.now()) == 1)
        #expect(try await engine.queueMailReminders(now: clock.now() + 60) == 0)
        let sent = engine.mail.pending().filter { $0.kind == .reminder || $0.kind == .checkIn }
        #expect(sent.map(\.reference) == [r.id, r.id] && sent.map(\.kind) == [.reminder, .checkIn])
        #expect(!engine.mail.pending().contains { $0.reference == soon.id && $0.kind == .reminder })

        // Sent, then the server restarts from a snapshot: still none twice.
        try await engine.settleMail(sent.map { MailSettlement(id: $0.id, outcome: .delivered, at: clock.now()) })
        let copy = SeatEngine(configuration: EngineConfiguration(shardCount: 2), clock: clock)
        for record in await engine.capture() { await copy.apply(record) }
        copy.mail.enable()
        #expect(try await copy.queueMailReminders(now: clock.now()) == 0)
        #expect(copy.mail.pending().map(\.id) == engine.mail.pending().map(\.id))
        // A student who wants no reminder gets none.
        _ = try await copy.updateUser(id: 3) { $0.mail.reminderMinutes = 0 }
        _ = try await copy.book(user: 3, seat: 5, start: clock.now() + 3 * hour, end: clock.now() + 4 * hour)
        clock.advance(by: 2 * hour + 50 * minute)
        #expect(try await copy.queueMailReminders(now: clock.now()) == 1)  // the check-in message only
        #expect(copy.mail.pending().last?.kind == .checkIn)
    }

    @Test func theOutboxIsBoundedPerStudentAndInAllAndCountsWhatItDrops() async throws {
        let (engine, _) = try await engine(limits: MailOutbox.Limits(maxPending: 5, perStudent: 3))
        for s in 1...5 {
            _ = try await engine.book(user: 1, seat: SeatID(s), start: testNow + hour, end: testNow + 2 * hour)
        }
        #expect(engine.mail.pending().count == 3 && engine.mail.figures.dropped == 2)
        for s in 6...9 {
            _ = try await engine.book(user: 3, seat: SeatID(s), start: testNow + hour, end: testNow + 2 * hour)
        }
        #expect(engine.mail.pending().count == 5 && engine.mail.figures.dropped == 4)
        // Settled ones make room.
        let first = try #require(engine.mail.pending().first)
        try await engine.settleMail([MailSettlement(id: first.id, outcome: .givenUp, at: testNow)])
        #expect(engine.mail.figures.pending == 4 && engine.mail.figures.givenUp == 1)
    }

    @Test func replayKeepsTheQueueAndAnErasureDropsTheStudentsMessages() async throws {
        let journal = RecordingJournal()
        let clock = ManualClock(testNow)
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 2), clock: clock, journal: journal)
        try await engine.define(branch: Branch(name: "B", areas: ["A"]))
        for s in 1...3 {
            try await engine.define(
                seat: Seat(id: SeatID(s), branch: "B", area: "A", hasPower: false, hasMonitor: false))
        }
        for u in 1...2 { _ = try await engine.register(studentID: "U\(u)", name: "N", passwordHash: "") }
        for u in 1...2 { _ = try await engine.updateUser(id: UserID(u)) { $0.email = "u\(u)@example.edu" } }
        engine.mail.enable()
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        _ = try await engine.book(user: 2, seat: 2, start: testNow + hour, end: testNow + 2 * hour)
        // The message is the record right after its cause, in the same step.
        let records = journal.records
        let index = try #require(
            records.firstIndex { if case .reservationCreated(let x) = $0 { x.id == r.id } else { false } })
        guard case .mailQueued(let m) = records[index + 1] else {
            Issue.record("no mail record after the booking: \(records[index + 1])")
            return
        }
        #expect(m.reference == r.id && m.kind == .confirmed)

        let replayed = SeatEngine(configuration: EngineConfiguration(shardCount: 2), clock: clock)
        for record in records { await replayed.apply(record) }
        #expect(replayed.mail.pending() == engine.mail.pending())
        await replayed.apply(.accountErased(AccountErasure(userID: 1, at: testNow)))
        #expect(replayed.mail.pending().map(\.userID) == [2])
        #expect(replayed.mail.figures.dropped == 1)
        // Live, an erasure drops the same messages as its replay does.
        #expect(engine.mail.pending().map(\.userID) == [1, 2])
        _ = try await engine.eraseAccount(1)
        #expect(engine.mail.pending().map(\.userID) == [2] && engine.mail.figures.dropped == 1)
        // A disabled outbox (no sender configured) queues nothing.
        _ = try await replayed.book(user: 2, seat: 3, start: testNow + hour, end: testNow + 2 * hour)
        #expect(replayed.mail.pending().count == 1)
    }
}
