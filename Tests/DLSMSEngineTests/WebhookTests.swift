import DLSMSApp
import DLSMSCore
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

@testable import DLSMSEngine

/// The webhook outbox: events made from journal records, right after them; per-endpoint cursors;
/// replay and snapshot images.
@Suite struct WebhookTests {
    func makeLibrary(journal: RecordingJournal, queue: SpoolLimits = .init()) async throws -> (SeatEngine, ManualClock)
    {
        var rules = BookingRules.default
        rules.maxUpcomingPerUser = 100
        let clock = ManualClock(testNow)
        let engine = SeatEngine(
            configuration: EngineConfiguration(
                shardCount: 2, rules: rules, webhookPayload: Render.webhookPayload, webhookQueue: queue),
            clock: clock,
            journal: journal)
        try await engine.define(branch: Branch(name: "Lib", areas: ["Quiet"]))
        for s in 1...4 {
            try await engine.define(
                seat: Seat(id: SeatID(s), branch: "Lib", area: "Quiet", hasPower: true, hasMonitor: false))
        }
        for u in 1...4 { _ = try await engine.register(studentID: "U\(u)", name: "U\(u)", passwordHash: "") }
        return (engine, clock)
    }

    func events(_ journal: RecordingJournal) -> [WebhookEvent] {
        journal.records.compactMap { if case .webhookEvent(let e) = $0 { e } else { nil } }
    }

    @Test func withoutEndpointsNoEventIsMade() async throws {
        let journal = RecordingJournal()
        let (engine, _) = try await makeLibrary(journal: journal)
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        #expect(events(journal).isEmpty)
    }

    @Test func eventsFollowTheirChangesInTheJournalAndReachTheirEndpoints() async throws {
        let journal = RecordingJournal()
        let (engine, clock) = try await makeLibrary(journal: journal)
        let all = try await engine.registerWebhook(url: "http://x/all", secret: "s", events: WebhookEvent.types)
        let some = try await engine.registerWebhook(url: "http://x/c", secret: "s", events: ["reservation.cancelled"])
        let r = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        let s = try await engine.book(user: 2, seat: 2, start: testNow, end: testNow + hour)
        _ = try await engine.checkIn(id: s.id, requester: Requester(userID: 2))
        clock.advance(by: hour)
        _ = await engine.sweep(now: clock.now())
        _ = try await engine.declareClosure(
            branch: "Lib", area: "", start: testNow + 5 * hour, end: testNow + 6 * hour, reason: "exam")

        let made = events(journal)
        #expect(
            made.map(\.type) == [
                "reservation.created", "reservation.cancelled", "reservation.created", "reservation.checked_in",
                "reservation.completed", "closure.created",
            ])
        #expect(made.map(\.id) == Array(1...6))
        // Each event comes right after the record of its change.
        let records = journal.records
        for e in made {
            let i = try #require(records.firstIndex(of: .webhookEvent(e)))
            switch records[i - 1] {
            case .reservationCreated, .reservationChanged, .branchDefined: break
            default: Issue.record("event \(e.id) after \(records[i - 1])")
            }
        }
        let payload = try JSONSerialization.jsonObject(with: Data(made[1].payload.utf8)) as? [String: Any]
        let reservation = (payload?["data"] as? [String: Any])?["reservation"] as? [String: Any]
        #expect(reservation?["id"] as? Int == Int(r.id) && reservation?["status"] as? String == "CANCELLED")
        #expect(made[5].payload.contains(#""reason":"exam""#))

        // Each endpoint gets what it subscribes to, in order; its cursor moves by a record.
        var seen: [Int64] = []
        while let (_, e) = await nextIfAny(engine, all.id) {
            seen.append(e.id)
            try await engine.webhookDone(endpoint: all.id, event: e, delivered: true)
        }
        #expect(seen == Array(1...6))
        let (_, first) = try #require(await nextIfAny(engine, some.id))
        #expect(first.type == "reservation.cancelled")
        #expect(engine.webhooks.endpoints.first { $0.endpoint.id == some.id }?.pending == 1)
    }

    /// The next event if one is owed now (no waiting).
    func nextIfAny(_ engine: SeatEngine, _ id: Int64) async -> (WebhookEndpoint, WebhookEvent)? {
        let pending = engine.webhooks.endpoints.first { $0.endpoint.id == id }?.pending ?? 0
        return pending > 0 ? await engine.webhooks.next(for: id) : nil
    }

    /// Replay of the journal gives the same endpoints, cursors and owed events (an event delivered
    /// before is not owed again, one not yet recorded as delivered is); a snapshot image carries
    /// the endpoints and the next event id, never the events owed (they are in the spools).
    @Test func replayKeepsWhatIsOwedAndImagesCarryNoEvents() async throws {
        let journal = RecordingJournal()
        let (engine, _) = try await makeLibrary(journal: journal)
        let hook = try await engine.registerWebhook(url: "http://x/", secret: "s", events: ["reservation.created"])
        for seat: SeatID in 1...3 {
            _ = try await engine.book(user: UserID(seat), seat: seat, start: testNow + hour, end: testNow + 2 * hour)
        }
        let (_, first) = try #require(await nextIfAny(engine, hook.id))
        try await engine.webhookDone(endpoint: hook.id, event: first, delivered: true)

        let replayed = SeatEngine(configuration: EngineConfiguration(shardCount: 2), clock: ManualClock(testNow))
        await replayed.apply(batch: journal.records)
        let state = try #require(replayed.webhooks.endpoints.first)
        #expect(state.endpoint.deliveredThrough == first.id && state.pending == 2 && state.endpoint.delivered == 1)
        let (_, next) = try #require(await nextIfAny(replayed, hook.id))
        #expect(next.id == first.id + 1)

        let image = await engine.capture()
        #expect(!image.contains { if case .webhookEvent = $0 { true } else { false } })
        #expect(image.idFloor?.webhookEvent == 4)
        let fromImage = SeatEngine(configuration: EngineConfiguration(shardCount: 3), clock: ManualClock(testNow))
        await fromImage.apply(batch: image)
        #expect(fromImage.webhooks.endpoints.first?.endpoint.deliveredThrough == first.id)
        for copy in [replayed, fromImage] {
            // New events continue the ids.
            let more = try await copy.registerWebhook(url: "http://y/", secret: "s", events: ["reservation.created"])
            #expect(more.deliveredThrough == 3)
        }
    }

    /// A full queue drops new events and counts each one; delivering makes room again, and the
    /// oldest events stay queued in order.
    @Test func aFullQueueDropsNewEventsAndCountsEachOne() async throws {
        let journal = RecordingJournal()
        let (engine, _) = try await makeLibrary(journal: journal, queue: SpoolLimits(maxRecords: 5))
        let hook = try await engine.registerWebhook(url: "http://x/", secret: "s", events: ["reservation.created"])
        for k in 0..<12 {
            let start = testNow + Int64(k + 1) * hour
            _ = try await engine.book(user: UserID(k % 4 + 1), seat: SeatID(k % 4 + 1), start: start, end: start + hour)
        }
        var queue = try #require(engine.webhooks.endpoints.first)
        #expect(queue.pending == 5 && queue.spool.dropped == 7 && engine.webhooks.droppedEvents == 7)
        for _ in 0..<2 {
            let (_, e) = try #require(await nextIfAny(engine, hook.id))
            try await engine.webhookDone(endpoint: hook.id, event: e, delivered: true)
        }
        for k in 12..<16 {
            let start = testNow + Int64(k + 1) * hour
            _ = try await engine.book(user: UserID(k % 4 + 1), seat: SeatID(k % 4 + 1), start: start, end: start + hour)
        }
        queue = try #require(engine.webhooks.endpoints.first)
        #expect(queue.pending == 5 && queue.spool.dropped == 9 && queue.endpoint.delivered == 2)
        var owed: [Int64] = []
        while let (_, e) = await nextIfAny(engine, hook.id) {
            owed.append(e.id)
            try await engine.webhookDone(endpoint: hook.id, event: e, delivered: false)
        }
        #expect(owed == [3, 4, 5, 13, 14])
        queue = try #require(engine.webhooks.endpoints.first)
        #expect(queue.endpoint.givenUp == 5 && queue.endpoint.delivered == 2 && queue.pending == 0)
    }

    /// Each endpoint has its own queue: one that takes only closures, or one that never answers,
    /// keeps nothing for the others and holds back nobody.
    @Test func eachEndpointHoldsOnlyWhatItIsOwed() async throws {
        let journal = RecordingJournal()
        let (engine, _) = try await makeLibrary(journal: journal)
        let all = try await engine.registerWebhook(url: "http://x/a", secret: "s", events: WebhookEvent.types)
        let closures = try await engine.registerWebhook(url: "http://x/c", secret: "s", events: ["closure.created"])
        for k in 0..<40 {
            let start = testNow + Int64(k) * hour
            _ = try await engine.book(user: UserID(k % 4 + 1), seat: SeatID(k % 4 + 1), start: start, end: start + hour)
        }
        var pending = Dictionary(uniqueKeysWithValues: engine.webhooks.endpoints.map { ($0.endpoint.id, $0.pending) })
        #expect(pending[all.id] == 40 && pending[closures.id] == 0)
        while let (_, e) = await nextIfAny(engine, all.id) {
            try await engine.webhookDone(endpoint: all.id, event: e, delivered: true)
        }
        pending = Dictionary(uniqueKeysWithValues: engine.webhooks.endpoints.map { ($0.endpoint.id, $0.pending) })
        #expect(pending[all.id] == 0)
        // Nothing is kept for the closures-only endpoint: a snapshot holds no event.
        let events = await engine.capture().filter { if case .webhookEvent = $0 { true } else { false } }
        #expect(events.isEmpty)
    }

    /// Seats held for waitlist offers are tracked while nobody subscribes, so that an endpoint
    /// registered later hears of the hold's acceptance as a booking.
    @Test func aHoldMadeBeforeTheEndpointBecomesABookingEvent() async throws {
        let journal = RecordingJournal()
        let (engine, clock) = try await makeLibrary(journal: journal)
        let taken = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        let entry = try await engine.joinWaitlist(user: 2, target: .seat(1), desired: testNow + hour).entry
        clock.advance(by: minute)
        _ = try await engine.cancel(id: taken.id, requester: Requester(userID: 1))
        let offered = try #require(engine.waitlistEntry(entry.id)?.entry.offer)
        _ = try await engine.registerWebhook(url: "http://x/", secret: "s", events: WebhookEvent.types)
        _ = try await engine.acceptOffer(id: entry.id, requester: Requester(userID: 2))
        let made = events(journal)
        #expect(made.map(\.type) == ["reservation.created"])
        #expect(made.first?.payload.contains(#""id":\#(offered.reservationID),"#) == true)
    }

    /// A hold survives a restart as a hold: accepted after the restart, it is the booking's
    /// creation (not nothing), and a hold released after a restart is no cancellation of a
    /// booking nobody heard of.
    @Test func aHoldAcrossARestartEndsAsBeforeIt() async throws {
        let journal = RecordingJournal()
        let (engine, clock) = try await makeLibrary(journal: journal)
        let taken = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        let other = try await engine.book(user: 1, seat: 2, start: testNow + hour, end: testNow + 2 * hour)
        let accepted = try await engine.joinWaitlist(user: 2, target: .seat(1), desired: testNow + hour).entry
        let declined = try await engine.joinWaitlist(user: 3, target: .seat(2), desired: testNow + hour).entry
        clock.advance(by: minute)
        _ = try await engine.cancel(id: taken.id, requester: Requester(userID: 1))
        _ = try await engine.cancel(id: other.id, requester: Requester(userID: 1))
        let offered = try #require(engine.waitlistEntry(accepted.id)?.entry.offer)
        #expect(engine.waitlistEntry(declined.id)?.entry.offer != nil)
        // The restart: a new engine from the log (in one batch, and record by record), or from a
        // snapshot image.
        let image = Array(await engine.capture())
        for (source, oneByOne) in [(journal.records, false), (journal.records, true), (image, false)] {
            let after = RecordingJournal()
            let restarted = SeatEngine(
                configuration: EngineConfiguration(shardCount: 2, webhookPayload: Render.webhookPayload), clock: clock,
                journal: after)
            if oneByOne {
                for record in source { await restarted.apply(record) }
            } else {
                await restarted.apply(batch: source)
            }
            _ = try await restarted.registerWebhook(url: "http://x/", secret: "s", events: WebhookEvent.types)
            _ = try await restarted.acceptOffer(id: accepted.id, requester: Requester(userID: 2))
            _ = try await restarted.declineOffer(id: declined.id, requester: Requester(userID: 3))
            let made = events(after)
            #expect(made.map(\.type) == ["reservation.created"], "\(made.map(\.type))")
            #expect(made.first?.payload.contains(#""id":\#(offered.reservationID),"#) == true)
        }
    }

    @Test func removedEndpointsStopAndAtMostTwentyAreActive() async throws {
        let journal = RecordingJournal()
        let (engine, _) = try await makeLibrary(journal: journal)
        var ids: [Int64] = []
        for i in 0..<WebhookOutbox.maxEndpoints {
            ids.append(
                try await engine.registerWebhook(url: "http://x/\(i)", secret: "s", events: ["reservation.created"]).id)
        }
        #expect(
            await refusal { try await engine.registerWebhook(url: "http://x/", secret: "s", events: []) }
                == .limitReached(limit: WebhookOutbox.maxEndpoints))
        _ = try await engine.removeWebhook(id: ids[0])
        #expect(await refusal { try await engine.removeWebhook(id: ids[0]) } == .webhookNotFound(ids[0]))
        #expect(await engine.webhooks.next(for: ids[0]) == nil)  // a removed endpoint's sender ends
        #expect(engine.webhooks.endpoints.count == WebhookOutbox.maxEndpoints - 1)
    }
}
