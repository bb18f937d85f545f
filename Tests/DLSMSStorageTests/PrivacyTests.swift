import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Synchronization
import Testing

/// Retention that forgets people, and erasure: the statistics stay exactly as they were, and after
/// compaction no file of the data directory holds the link or the person (`docs/privacy.md`).
@Suite struct PrivacyTests {
    /// Everything a utilisation report says, over `from`…`to`, by day and by hour.
    static func reports(_ engine: SeatEngine, from: Timestamp, to: Timestamp) async throws -> [String] {
        var out: [String] = []
        for granularity in [UtilisationQuery.Granularity.day, .hour] {
            let span = granularity == .hour ? 30 * Seconds.day : to - from
            let r = try await engine.utilisation(
                UtilisationQuery(branch: nil, from: to - span, to: to, granularity: granularity))
            out.append("\(r.rows)")
            out.append("\(r.heatmap)")
        }
        return out
    }

    /// A seeded history of `count` finished reservations of 50 students over 300 days before
    /// `now`, on 20 seats: completed (checked in), no-shows, cancellations.
    static func history(count: Int, now: Timestamp, seed: UInt64) -> [JournalRecord] {
        var random = SplitMix64(seed: seed)
        let span = 300 * Seconds.day
        return (0..<count).map { i in
            let start = now - span + Int64(i) * span / Int64(count)
            let end = start + Int64.random(in: 1...3, using: &random) * Seconds.hour
            let status = [ReservationStatus.completed, .completed, .noShow, .cancelled].randomElement(using: &random)!
            var r = Reservation(
                id: ReservationID(i + 1), seatID: SeatID.random(in: 1...20, using: &random),
                userID: UserID.random(in: 1...50, using: &random), start: start, end: end, status: status,
                createdAt: start - Seconds.day)
            if status == .completed { r.checkedInAt = start + Int64.random(in: 0...900, using: &random) }
            return .reservationCreated(r)
        }
    }

    @Test func anonymisingOneHundredThousandReservationsKeepsTheReportsIdentical() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        var rules = BookingRules.default
        rules.anonymiseAfter = 100 * Seconds.day
        rules.retention = 400 * Seconds.day  // all of it stays in memory, for the reports
        rules.historyPerUser = 1_000_000
        let config = PersistenceConfiguration(directory: dir, fsync: .none)
        let engineConfig = EngineConfiguration(shardCount: 4, rules: rules)
        let (durable, _) = try await DurableEngine.open(
            config, engine: engineConfig, clock: clock, seed: { try await seedSmall($0, seats: 20, users: 50) })
        let engine = durable.engine
        let records = Self.history(count: 100_000, now: t0, seed: 20_261_207)
        await engine.apply(batch: records)
        _ = try await durable.snapshot()
        let before = try await Self.reports(engine, from: t0 - 320 * Seconds.day, to: t0)
        let cutoff = t0 - rules.anonymiseAfter
        let expected = records.filter { if case .reservationCreated(let r) = $0 { r.end < cutoff } else { false } }
        let mine = await engine.reservations(of: 7, limit: .max).total

        let anonymised = try await durable.anonymiseExpired()
        #expect(anonymised.memory == expected.count && expected.count > 60_000)
        #expect(try await Self.reports(engine, from: t0 - 320 * Seconds.day, to: t0) == before)
        // The old ones belong to no one; the recent ones still to their students.
        let all = await engine.allReservations(limit: .max).items
        #expect(all.count == 100_000)
        #expect(all.allSatisfy { ($0.end < cutoff) == ($0.userID == .anonymous) })
        #expect(await engine.reservations(of: 7, limit: .max).total < mine)
        // A second pass has nothing to do; compaction leaves no snapshot or log that holds a link.
        #expect(try await durable.anonymiseExpired(every: 0).memory == 0)
        #expect(durable.compactionDue)
        let compacted = try await durable.compact()
        #expect(!durable.compactionDue && compacted.removedFiles.contains { $0.hasPrefix("snapshot-") })
        #expect(try DataDirectory(path: dir).snapshots().count == 1)
        await durable.close(finalSnapshot: false)

        // After a restart (the new snapshot and the log after it): the same reports, the same owners.
        let (reopened, _) = try await DurableEngine.open(config, engine: engineConfig, clock: clock)
        #expect(try await Self.reports(reopened.engine, from: t0 - 320 * Seconds.day, to: t0) == before)
        let again = await reopened.engine.allReservations(limit: .max).items
        #expect(again.map(\.userID) == all.map(\.userID))
        await reopened.close(finalSnapshot: false)
    }

    @Test func erasureLeavesNoTraceInAnyFileAndTheSeatUseStillCounts() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let config = PersistenceConfiguration(directory: dir, keepSnapshots: 3)
        let (durable, _) = try await DurableEngine.open(
            config, engine: EngineConfiguration(shardCount: 2), clock: clock,
            seed: { try await seedSmall($0, seats: 6, users: 3) })
        let engine = durable.engine
        let erin = try await engine.register(
            studentID: "S-ERASE-ME", name: "Erin Erasable", passwordHash: "$2b$04$erinshashisthisone")
        _ = try await engine.updateUser(id: erin.id) {
            $0.email = "erin@example.org"
            $0.groups = ["erin-group"]
        }
        _ = try await engine.setGroups(user: erin.id, groups: ["night-owls"])
        let me = Requester(userID: erin.id)
        // History: a stay checked in and out, a cancellation, a no-show (a strike and a notification),
        // a reservation of someone else on the same seat.
        let stay = try await engine.book(user: erin.id, seat: 1, start: t0 + 600, end: t0 + 4_200)
        clock.advance(by: 900)
        _ = try await engine.checkIn(id: stay.id, requester: me)
        let cancelled = try await engine.book(user: erin.id, seat: 2, start: t0 + 7_200, end: t0 + 9_000)
        _ = try await engine.cancel(id: cancelled.id, requester: me)
        _ = try await engine.book(user: erin.id, seat: 3, start: t0 + 3_600, end: t0 + 7_200)
        _ = try await engine.book(user: 2, seat: 1, start: t0 + 4_200, end: t0 + 7_200)
        clock.advance(by: 3 * Seconds.hour)
        _ = await engine.sweep(now: clock.now())
        #expect(!engine.strikes(of: erin.id).isEmpty)
        _ = try await durable.snapshot()
        // Much later: the early ones move to the archive; a new booking and a waitlist entry.
        clock.advance(by: 100 * Seconds.day)
        #expect(try await durable.archiveFinished() >= 3)
        let underWay = try await engine.book(user: erin.id, seat: 5, start: clock.now() + 300, end: clock.now() + 3_900)
        clock.advance(by: 600)
        _ = try await engine.checkIn(id: underWay.id, requester: me)
        let now = clock.now()
        _ = try await engine.book(user: erin.id, seat: 4, start: now + 600, end: now + 3_600)
        _ = try await engine.book(user: 1, seat: 6, start: now + 600, end: now + 3_600)
        _ = try await engine.joinWaitlist(user: erin.id, target: .seat(6), desired: now + 600, end: now + 3_600)
        _ = try await durable.snapshot()
        // Up to now: what is still to come is cancelled by the erasure, as the student would.
        func report() async throws -> [String] { try await Self.reports(engine, from: t0 - Seconds.day, to: now) }
        let reportBefore = try await report()
        let archivedBefore = try ArchiveFile.read(directory: dir, io: PosixIO()).reservations

        let anonymised = try await engine.eraseAccount(erin.id)
        #expect(anonymised >= 2)
        // At once, in memory: signs in no more, nothing of theirs is listed.
        let gone = try #require(engine.user(id: erin.id))
        #expect(gone.isErased && gone.disabled && gone.name.isEmpty && gone.email.isEmpty && gone.passwordHash.isEmpty)
        #expect(engine.user(studentID: "S-ERASE-ME") == nil)
        #expect(await engine.reservations(of: erin.id, limit: .max).total == 0)
        #expect(engine.waitlist(of: erin.id).isEmpty && engine.strikes(of: erin.id).isEmpty)
        #expect(engine.notifications.list(user: erin.id).isEmpty && engine.assignedGroups(of: erin.id).isEmpty)
        do {
            _ = try await engine.eraseAccount(erin.id)
            Issue.record("erased twice")
        } catch {
            guard case .invalidState = error else {
                Issue.record("\(error)")
                return
            }
        }
        // The upcoming one was cancelled (its seat free again); the one under way ended.
        #expect(try await engine.book(user: 2, seat: 4, start: now + 600, end: now + 3_600).status == .confirmed)

        // Compaction: then no file holds the name, email, student id, password hash or a link.
        #expect(durable.compactionDue)
        let compacted = try await durable.compact()
        #expect(compacted.archiveAnonymised == archivedBefore.filter { $0.userID == erin.id }.count)
        #expect(try await report() == reportBefore)
        let archived = try ArchiveFile.read(directory: dir, io: PosixIO()).reservations
        #expect(archived.map(\.id) == archivedBefore.map(\.id) && !archived.contains { $0.userID == erin.id })
        #expect(archived.map(\.status) == archivedBefore.map(\.status))
        Self.expectNoTrace(of: ["S-ERASE-ME", "Erin Erasable", "erin@example.org", "erinshashisthisone"], in: dir)
        for case .reservationCreated(let r) in try Self.snapshotRecords(dir) { #expect(r.userID != erin.id) }
        await durable.close(finalSnapshot: false)

        // A restart keeps it so.
        let (reopened, _) = try await DurableEngine.open(
            config, engine: EngineConfiguration(shardCount: 2), clock: clock)
        #expect(reopened.engine.user(id: erin.id)?.isErased == true)
        #expect(await reopened.engine.reservations(of: erin.id, limit: .max).total == 0)
        await reopened.close(finalSnapshot: false)
    }

    /// Retention in the archive: reservations archived after 90 days are anonymised in place once
    /// they pass --anonymise-after-days, the recent ones keep their students, and after the
    /// compaction no file links an old reservation to a student.
    @Test func theArchiveIsAnonymisedInPlaceAndNoFileLinksOldReservations() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        var rules = BookingRules.default
        rules.retention = 2 * Seconds.day
        rules.anonymiseAfter = 10 * Seconds.day
        let config = PersistenceConfiguration(directory: dir)
        let (durable, _) = try await DurableEngine.open(
            config, engine: EngineConfiguration(shardCount: 2, rules: rules), clock: clock,
            seed: { try await seedSmall($0, seats: 4, users: 3) })
        let engine = durable.engine
        // One cancelled reservation a day for 20 days, by students 1-3.
        var made: [Reservation] = []
        for day in 0..<20 {
            let start = clock.now() + 3_600
            let r = try await engine.book(
                user: UserID(1 + day % 3), seat: SeatID(1 + day % 4), start: start, end: start + 3_600)
            made.append(try await engine.cancel(id: r.id, requester: Requester(userID: r.userID)))
            clock.advance(by: Seconds.day)
            _ = try await durable.archiveFinished()
        }
        let now = clock.now()
        let archived = try ArchiveFile.read(directory: dir, io: PosixIO()).reservations
        #expect(archived.count >= 17 && archived.allSatisfy { $0.userID != .anonymous })
        let anonymised = try await durable.anonymiseExpired()
        let old = made.filter { $0.end < now - rules.anonymiseAfter }
        #expect(anonymised.archive == old.count && old.count >= 9)
        let after = try ArchiveFile.read(directory: dir, io: PosixIO()).reservations
        #expect(after.map(\.id) == archived.map(\.id))
        for r in after {
            #expect((r.userID == .anonymous) == (r.end < now - rules.anonymiseAfter), "\(r)")
            let was = archived.first { $0.id == r.id }
            #expect(
                was.map {
                    Reservation(
                        id: r.id, seatID: $0.seatID, userID: r.userID, start: $0.start, end: $0.end, status: $0.status,
                        createdAt: $0.createdAt)
                } == r)
        }
        // Compaction: no snapshot or log segment holds an old reservation with its student.
        #expect(durable.compactionDue)
        _ = try await durable.compact()
        let state = try DataDirectory(path: dir).recover()
        for record in state.snapshotRecords + state.records.map(\.record) {
            if case .reservationCreated(let r) = record, r.end < now - rules.anonymiseAfter {
                #expect(r.userID == .anonymous, "\(r)")
            }
            if case .reservationChanged(let r) = record, r.end < now - rules.anonymiseAfter {
                #expect(r.userID == .anonymous, "\(r)")
            }
        }
        #expect(try DataDirectory(path: dir).segments().count == 1)
        await durable.close(finalSnapshot: false)
    }

    /// A crash after an erasure began (its first record durable, nothing after): the next start
    /// finishes it — the upcoming reservation cancelled, everything anonymised, the history gone.
    @Test func anErasureACrashInterruptedIsFinishedAtTheNextStart() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let durable = try await Self.small(dir, clock: clock)
        let upcoming = try await durable.engine.book(user: 2, seat: 1, start: t0 + 3_600, end: t0 + 7_200)
        let past = try await durable.engine.book(user: 2, seat: 2, start: t0 + 600, end: t0 + 1_800)
        _ = try await durable.engine.cancel(id: past.id, requester: Requester(userID: 2))
        _ = try await durable.engine.joinWaitlist(user: 2, target: .seat(1), desired: t0 + 3_600)
        // The erasure's first record, and then the process dies.
        try await durable.wal.append(.accountErased(AccountErasure(userID: 2, at: t0, done: false))).wait()
        await durable.close(finalSnapshot: false)

        let collected = Mutex<[String]>([])
        let (reopened, _) = try await DurableEngine.open(
            PersistenceConfiguration(directory: dir), engine: EngineConfiguration(shardCount: 2), clock: clock,
            log: { line in collected.withLock { $0.append(line) } })
        let lines = collected.withLock { $0 }
        let engine = reopened.engine
        #expect(lines.contains { $0.contains("erasures: finished 1") }, "\(lines)")
        #expect(engine.user(id: 2)?.isErased == true && engine.user(studentID: "U2") == nil)
        #expect(await engine.reservations(of: 2, limit: .max).total == 0 && engine.waitlist(of: 2).isEmpty)
        let mine = await engine.allReservations(limit: .max).items.filter { [upcoming.id, past.id].contains($0.id) }
        #expect(mine.count == 2 && mine.allSatisfy { $0.userID == .anonymous && $0.status == .cancelled }, "\(mine)")
        // The seat is free again, and nothing is left to finish.
        #expect(try await engine.book(user: 3, seat: 1, start: t0 + 3_600, end: t0 + 7_200).status == .confirmed)
        #expect(await engine.finishPendingErasures() == 0)
        await reopened.close(finalSnapshot: false)
    }

    /// An erasure replayed from the log (no compaction yet, a crash): the same state.
    @Test func anErasureReplaysFromTheLog() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let durable = try await Self.small(dir, clock: clock)
        let r = try await durable.engine.book(user: 2, seat: 1, start: t0 + 600, end: t0 + 3_600)
        let done = try await durable.engine.book(user: 2, seat: 2, start: t0 + 600, end: t0 + 1_800)
        _ = try await durable.engine.cancel(id: done.id, requester: Requester(userID: 2))
        _ = try await durable.engine.eraseAccount(2)
        let state = await Observed(durable.engine)
        await durable.close(finalSnapshot: false)
        let (reopened, report) = try await DurableEngine.open(
            PersistenceConfiguration(directory: dir), engine: EngineConfiguration(shardCount: 2), clock: clock)
        #expect(report.replayedRecords > 0)
        #expect(await Observed(reopened.engine) == state)
        let seen = await reopened.engine.allReservations(limit: .max).items.filter { [r.id, done.id].contains($0.id) }
        #expect(seen.count == 2 && seen.allSatisfy { $0.userID == .anonymous && $0.status == .cancelled })
        await reopened.close(finalSnapshot: false)
    }

    /// A data directory of 4 seats and 3 students (U1…U3), 2 shards.
    static func small(_ dir: String, clock: ManualClock) async throws -> DurableEngine {
        try await DurableEngine.open(
            PersistenceConfiguration(directory: dir), engine: EngineConfiguration(shardCount: 2), clock: clock,
            seed: { try await seedSmall($0, seats: 4, users: 3) }
        ).0
    }

    static func snapshotRecords(_ dir: String) throws -> [JournalRecord] {
        var all: [JournalRecord] = []
        for s in try DataDirectory(path: dir).snapshots() {
            all += try SnapshotFile.decode(try PosixIO().read(dir + "/" + s.name)).records
        }
        return all
    }

    /// No file under `dir` holds any of `needles`: raw bytes, and each snapshot's decoded content.
    static func expectNoTrace(of needles: [String], in dir: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let files = FileManager.default.enumerator(atPath: dir)?.compactMap { $0 as? String } ?? []
        var searched = 0
        for name in files {
            let path = dir + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            searched += 1
            var texts = [String(decoding: data, as: UTF8.self)]
            if name.hasSuffix(".dlsnap"), let decoded = try? SnapshotFile.decode([UInt8](data)) {
                texts.append("\(decoded.records)")
            }
            for needle in needles where texts.contains(where: { $0.contains(needle) }) {
                Issue.record("\(name) holds \(needle)", sourceLocation: sourceLocation)
            }
        }
        #expect(searched >= 3, "searched \(files)", sourceLocation: sourceLocation)
    }
}
