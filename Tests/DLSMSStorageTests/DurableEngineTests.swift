import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Synchronization
import Testing

@Suite struct DurableEngineTests {
    /// The data directory holds password hashes, webhook secrets and who sat where: only its
    /// owner reads it (files 0600, the directory 0700), whatever the umask lets through.
    @Test func theDataIsReadableByItsOwnerOnly() async throws {
        let dir = temporaryDirectory() + "/data"
        defer { cleanup(dir) }
        let (durable, _) = try await DurableEngine.open(
            PersistenceConfiguration(directory: dir), engine: .init(shardCount: 2), clock: ManualClock(t0),
            seed: { try await seedSmall($0) })
        _ = try await durable.engine.book(user: 1, seat: 1, start: t0 + 3_600, end: t0 + 7_200)
        try await durable.snapshot()
        await durable.close(finalSnapshot: true)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(files.count >= 3)
        for name in files + ["."] {
            let attributes = try FileManager.default.attributesOfItem(atPath: dir + "/" + name)
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0o777
            #expect(mode & 0o077 == 0, "\(name): \(String(mode, radix: 8))")
        }
    }

    /// Random operations, snapshots taken at random moments while writes run, then recovery: the
    /// same state.
    @Test func recoveryRebuildsExactlyTheStateIncludingSnapshotsMidSequence() async throws {
        let seed = testSeed("DurableEngineTests.recovery")
        var rng = SplitMix64(seed: seed)
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let config = PersistenceConfiguration(directory: dir, keepSnapshots: 2, segmentBytes: 8_192)
        let (durable, report) = try await DurableEngine.open(
            config, engine: .init(shardCount: 3), clock: clock, seed: { try await seedSmall($0) })
        #expect(report.seeded)
        let engine = durable.engine
        var snapshots = 0
        for step in 0..<800 {
            let user = UserID.random(in: 1...10, using: &rng)
            let me = Requester(userID: user)
            switch Int.random(in: 0..<16, using: &rng) {
            case 0..<5:
                let start = clock.now() + Int64.random(in: 0...40, using: &rng) * 900
                _ = try? await engine.book(
                    user: user, seat: SeatID.random(in: 1...20, using: &rng), start: start,
                    end: start + Int64.random(in: 1...8, using: &rng) * 900)
            case 5:
                if let r = await engine.reservations(of: user).items.randomElement(using: &rng) {
                    _ = try? await engine.cancel(id: r.id, requester: me)
                }
            case 6:
                if let r = await engine.reservations(of: user).items.randomElement(using: &rng) {
                    _ = try? await engine.checkIn(id: r.id, requester: me)
                }
            case 7:
                _ = try? await engine.joinWaitlist(
                    user: user,
                    target: Bool.random(using: &rng) ? .seat(SeatID.random(in: 1...20, using: &rng)) : .branch("B"),
                    desired: clock.now() + 3_600)
            case 8:
                _ = try? await engine.setMaintenance(
                    seat: SeatID.random(in: 1...20, using: &rng), Bool.random(using: &rng))
            case 9:
                // A snapshot while other writes are in flight.
                async let snap = durable.snapshot()
                async let writes: Void = {
                    for k in 0..<5 {
                        _ = try? await engine.book(
                            user: UserID(k + 1), seat: SeatID(k + 1), start: clock.now() + Int64(step % 40) * 900,
                            end: clock.now() + Int64(step % 40 + 1) * 900)
                    }
                }()
                _ = try await (snap, writes)
                snapshots += 1
            case 12:
                if let r = await engine.reservations(of: user).items.randomElement(using: &rng) {
                    _ = try? await engine.extend(id: r.id, to: r.end + 900, requester: me)
                }
            case 13:
                if let r = await engine.reservations(of: user).items.randomElement(using: &rng) {
                    _ = try? await engine.move(id: r.id, to: SeatID.random(in: 1...20, using: &rng), requester: me)
                }
            case 14:
                if let r = await engine.reservations(of: user).items.first(where: { $0.status == .checkedIn }) {
                    if r.extras.awayUntil == nil {
                        _ = try? await engine.stepAway(id: r.id, requester: me)
                    } else {
                        _ = try? await engine.comeBack(id: r.id, requester: me)
                    }
                }
            case 15:
                let start = clock.now() + Int64.random(in: 0...40, using: &rng) * 900
                let first = SeatID.random(in: 1...19, using: &rng)
                let other = user % 10 + 1
                _ = try? await engine.bookTogether(
                    [
                        TogetherItem(seatID: first, userID: user, start: start, end: start + 1_800),
                        TogetherItem(seatID: first + 1, userID: other, start: start, end: start + 1_800),
                    ], extras: { ReservationExtras(groupID: $0) })
            default:
                clock.advance(by: 5 * 60)
                _ = await engine.sweep(now: clock.now())
            }
        }
        let before = await Observed(engine)
        await durable.close(finalSnapshot: Bool.random(using: &rng))
        #expect(snapshots > 0)
        #expect(try DataDirectory(path: dir).snapshots().count <= 2)
        let (reopened, again) = try await DurableEngine.open(config, engine: .init(shardCount: 2), clock: clock)
        #expect(!again.seeded)
        let after = await Observed(reopened.engine)
        #expect(after == before, "seed \(seed)")
        #expect(await reopened.engine.checkInvariants())
        // New ids continue above the old ones.
        _ = try await reopened.engine.setMaintenance(seat: 1, false)
        let fresh = try await reopened.engine.register(studentID: "fresh", name: "Fresh", passwordHash: "")
        #expect(fresh.id == UserID(before.users.count + 1))
        let next = try await reopened.engine.book(
            user: fresh.id, seat: 1, start: clock.now() + 30 * 86_400 / 3, end: clock.now() + 30 * 86_400 / 3 + 900)
        #expect(next.id > (before.reservations.map(\.id).max() ?? 0))
        await reopened.close()
    }

    /// A student who stepped away when the server stopped, and was not back: the first sweep after
    /// the restart ends the stay at the moment the away time ran out.
    @Test func aStepAwayRunsOutAcrossARestart() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let config = PersistenceConfiguration(directory: dir)
        let (durable, _) = try await DurableEngine.open(
            config, engine: .init(shardCount: 2), clock: clock, seed: { try await seedSmall($0) })
        let me = Requester(userID: 1)
        let r = try await durable.engine.book(user: 1, seat: 3, start: t0, end: t0 + 3 * 3_600)
        _ = try await durable.engine.checkIn(id: r.id, requester: me)
        let away = try await durable.engine.stepAway(id: r.id, requester: me)
        await durable.close(finalSnapshot: false)  // the away state is in the WAL only
        clock.advance(by: 45 * 60)
        let (reopened, _) = try await DurableEngine.open(config, engine: .init(shardCount: 3), clock: clock)
        #expect(
            try await reopened.engine.reservation(id: r.id, requester: me).extras.awayUntil == away.extras.awayUntil)
        _ = await reopened.engine.sweep(now: clock.now())
        let ended = try await reopened.engine.reservation(id: r.id, requester: me)
        #expect(ended.status == .completed && ended.end == t0 + 30 * 60)
        #expect(reopened.engine.notifications.list(user: 1).contains { $0.kind == .awayEnded })
        _ = try await reopened.engine.book(user: 2, seat: 3, start: t0 + 3_600, end: t0 + 7_200)  // freed
        await reopened.close()
    }

    @Test func snapshotsAreDueByTimeAndByWALGrowth() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let config = PersistenceConfiguration(directory: dir, snapshotInterval: .seconds(60), snapshotAfterBytes: 2_048)
        let (durable, _) = try await DurableEngine.open(config, clock: clock, seed: { try await seedSmall($0) })
        try await durable.snapshot()
        #expect(!durable.snapshotDue())
        clock.advance(by: 120)
        #expect(!durable.snapshotDue())  // time alone: nothing new to cover
        _ = try await durable.engine.book(user: 1, seat: 1, start: clock.now() + 3_600, end: clock.now() + 7_200)
        #expect(durable.snapshotDue())  // time passed and the log grew
        try await durable.snapshot()
        #expect(!durable.snapshotDue())
        for k in 0..<60 {  // about 3 KiB of log, without the clock moving
            _ = try await durable.engine.joinWaitlist(
                user: UserID(k % 9 + 2), target: .branch("B"), desired: clock.now() + 3_600 + Int64(k))
        }
        #expect(durable.snapshotDue())
        await durable.close(finalSnapshot: false)
    }

    /// Flips a byte in the middle of `path`; answers the damaged bytes.
    @discardableResult
    static func damage(_ path: String) throws -> [UInt8] {
        var bytes = try PosixIO().read(path)
        bytes[bytes.count / 2] ^= 0xFF
        try PosixIO().writeAtomically(path, bytes)
        return bytes
    }

    /// A new data directory with the small seed and one booking of user 1.
    static func seededWithABooking(_ dir: String, clock: ManualClock) async throws -> (
        DurableEngine, PersistenceConfiguration
    ) {
        let config = PersistenceConfiguration(directory: dir, keepSnapshots: 3)
        let (durable, _) = try await DurableEngine.open(config, clock: clock, seed: { try await seedSmall($0) })
        _ = try await durable.engine.book(user: 1, seat: 1, start: t0 + 3_600, end: t0 + 7_200)
        return (durable, config)
    }

    @Test func aDamagedNewestSnapshotFallsBackToAnOlderOneLoudly() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let (durable, config) = try await Self.seededWithABooking(dir, clock: clock)
        try await durable.snapshot()
        _ = try await durable.engine.book(user: 2, seat: 2, start: t0 + 3_600, end: t0 + 7_200)
        let newest = try await durable.snapshot()
        _ = try await durable.engine.book(user: 3, seat: 3, start: t0 + 3_600, end: t0 + 7_200)
        let before = await Observed(durable.engine)
        await durable.close(finalSnapshot: false)
        try Self.damage(dir + "/" + newest.name)
        let lines = LogLines()
        let (reopened, report) = try await DurableEngine.open(config, clock: clock, log: { lines.add($0) })
        #expect(report.damagedSnapshots == [newest.name])
        #expect(lines.all.contains { $0.contains("WARNING") && $0.contains(newest.name) })
        #expect(await Observed(reopened.engine) == before)
        await reopened.close(finalSnapshot: false)
    }

    /// The only snapshot damaged (the seed's, at LSN 0): the seed data is in no log record, so
    /// the server must not start from the log alone — it would serve an empty library (and let
    /// anyone register the admin's student id).
    @Test func everySnapshotDamagedRefusesToStart() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let (durable, config) = try await Self.seededWithABooking(dir, clock: clock)
        await durable.close(finalSnapshot: false)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("snapshot-") }
        #expect(names.count == 1)
        let bytes = try Self.damage(dir + "/" + names[0])
        do {
            let (opened, _) = try await DurableEngine.open(config, clock: clock)
            await opened.close(finalSnapshot: false)
            Issue.record("opened with every snapshot damaged")
        } catch {
            #expect("\(error)".contains("every snapshot is damaged") && "\(error)".contains(names[0]), "\(error)")
        }
        // The data directory is as it was: nothing was written over it.
        #expect(try PosixIO().read(dir + "/" + names[0]) == bytes)
    }

    @Test func aFailedRolloverFailsTheLogAndClosesEachSegmentOnce() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let io = FaultyIO()
        let wal = try WriteAheadLog(
            configuration: WALConfiguration(directory: dir, segmentBytes: 1_024), io: io, nextLSN: 1, lastChecksum: 0,
            now: { t0 })
        func record(_ i: Int) -> JournalRecord {
            .reservationCreated(
                Reservation(
                    id: ReservationID(i), seatID: 1, userID: 1, start: t0 + Int64(i) * 3_600,
                    end: t0 + Int64(i) * 3_600 + 900, createdAt: t0))
        }
        var acknowledged = 0
        while try io.real.fileSize(dir + "/" + segmentName(firstLSN: 1)) < 1_024 {
            acknowledged += 1
            try await wal.append(record(acknowledged)).wait()
        }
        // The next batch needs a new segment, and the disk refuses it.
        io.failOpensFromNowOn()
        await #expect(throws: EngineError.unavailable(WriteAheadLog.failedMessage)) {
            try await wal.append(record(acknowledged + 1)).wait()
        }
        #expect(wal.failureDetail?.hasPrefix("open ") == true)
        #expect(throws: EngineError.self) { try wal.append(record(acknowledged + 2)) }
        await wal.close()
        #expect(io.closes.withLock { $0 } == [dir + "/" + segmentName(firstLSN: 1): 1])
        // What was acknowledged is all there, and nothing else.
        let state = try DataDirectory(path: dir).recover()
        #expect(state.lastLSN == UInt64(acknowledged))
    }

    @Test func aFailedFsyncRefusesWritesAndNothingUnacknowledgedSurvives() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let io = FaultyIO()
        let clock = ManualClock(t0)
        let config = PersistenceConfiguration(directory: dir)
        let (durable, _) = try await DurableEngine.open(config, clock: clock, io: io, seed: { try await seedSmall($0) })
        let engine = durable.engine
        let kept = try await engine.book(user: 1, seat: 1, start: t0 + 3_600, end: t0 + 7_200)
        io.failFromNowOn()
        await #expect(throws: EngineError.self) {
            try await engine.book(user: 2, seat: 2, start: t0 + 3_600, end: t0 + 7_200)
        }
        // From now on every write is refused at once, with a message that names no path; the
        // detail (file and system error) is kept for the operator's log.
        await #expect(throws: EngineError.unavailable(WriteAheadLog.failedMessage)) {
            try await engine.cancel(id: kept.id, requester: Requester(userID: 1))
        }
        #expect(!WriteAheadLog.failedMessage.contains("/"))
        #expect(
            durable.wal.failureDetail == "fdatasync \(dir)/\(segmentName(firstLSN: 1)): Input/output error")
        #expect(try await engine.reservation(id: kept.id, requester: Requester(userID: 1)).status == .confirmed)
        // Fail-stop: the refused booking is not undone in memory (the engine takes no more
        // writes, and recovery rebuilds the durable state); it never comes back from disk.
        #expect(engine.writeFailure != nil)
        await #expect(throws: (any Error).self) { try await durable.snapshot() }
        await durable.close()
        // After a restart: the acknowledged booking is there, the refused ones are not.
        let (reopened, _) = try await DurableEngine.open(config, clock: clock)
        let all = await reopened.engine.allReservations(limit: .max).items
        #expect(all.contains { $0.id == kept.id && $0.status == .confirmed })
        #expect(!all.contains { $0.userID == 2 && $0.seatID == 2 })
        await reopened.close(finalSnapshot: false)
    }
}
