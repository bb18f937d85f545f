import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

/// One student's book → cancel loop must not grow memory without bound: finished reservations
/// move to `archive.log` (by age and beyond a per-student cap), stay exportable, and ids never go
/// back even when the holders of the highest ones have left memory.
@Suite struct RetentionTests {
    func rules() -> BookingRules {
        var r = BookingRules.default
        r.historyPerUser = 5
        r.retention = 2 * Seconds.day
        r.finishedWaitlistPerUser = 2
        return r
    }

    @Test func aBookAndCancelLoopStaysBoundedAndNothingIsLost() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let config = PersistenceConfiguration(directory: dir)
        let (durable, _) = try await DurableEngine.open(
            config, engine: EngineConfiguration(shardCount: 2, rules: rules()), clock: clock,
            seed: { try await seedSmall($0, seats: 4, users: 2) })
        let engine = durable.engine
        var ids: [ReservationID] = []
        for round in 0..<3 {
            for k in 0..<40 {
                let start = t0 + 3_600 + Int64(k % 10) * 3_600
                let r = try await engine.book(user: 1, seat: SeatID(1 + k % 4), start: start, end: start + 1_800)
                _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
                ids.append(r.id)
            }
            let moved = try await durable.archiveFinished()
            #expect(moved == (round == 0 ? 35 : 40))
            // Only the newest five finished ones stay in memory, whatever the loop did.
            #expect(await engine.reservationsInMemory() == 5)
            let mine = await engine.reservations(of: 1, limit: 100)
            #expect(mine.total == 5 && mine.items.map(\.id) == Array(ids.suffix(5).reversed()))
        }
        // The archive has every other one, once, as it was.
        let archive = try ArchiveFile.read(directory: dir, io: PosixIO())
        #expect(archive.skippedBytes == 0)
        #expect(archive.reservations.map(\.id) == Array(ids.dropLast(5)))
        #expect(archive.reservations.allSatisfy { $0.status == .cancelled && $0.userID == 1 })
        // A snapshot, then a restart: the archived ones stay out of memory, and a new booking gets
        // a new id even though none of the old ones is in memory.
        _ = try await durable.snapshot()
        await durable.close(finalSnapshot: false)
        let (reopened, _) = try await DurableEngine.open(
            config, engine: EngineConfiguration(shardCount: 2, rules: rules()), clock: clock)
        #expect(await reopened.engine.reservationsInMemory() == 5)
        let next = try await reopened.engine.book(user: 2, seat: 1, start: t0 + 86_400, end: t0 + 90_000)
        #expect(next.id == ids.max()! + 1)
        await reopened.close(finalSnapshot: false)
    }

    /// A crash after a move to the archive (no snapshot since) must not bring the archived
    /// reservations back, nor archive them a second time.
    @Test func aRestartReplaysTheMoveInsteadOfArchivingAgain() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let config = PersistenceConfiguration(directory: dir)
        let engineConfig = EngineConfiguration(shardCount: 2, rules: rules())
        var (durable, _) = try await DurableEngine.open(
            config, engine: engineConfig, clock: clock, seed: { try await seedSmall($0, seats: 4, users: 2) })
        for k in 0..<30 {
            let start = t0 + 3_600 + Int64(k % 10) * 3_600
            let r = try await durable.engine.book(user: 1, seat: SeatID(1 + k % 4), start: start, end: start + 1_800)
            _ = try await durable.engine.cancel(id: r.id, requester: Requester(userID: 1))
        }
        #expect(try await durable.archiveFinished() == 25)
        let size = try PosixIO().fileSize(dir + "/" + ArchiveFile.name)
        // "Crash": the engine is abandoned without a final snapshot; only the WAL knows the move.
        for _ in 0..<2 {
            (durable, _) = try await DurableEngine.open(config, engine: engineConfig, clock: clock)
            #expect(await durable.engine.reservationsInMemory() == 5)
            #expect(try await durable.archiveFinished() == 0)
            #expect(try PosixIO().fileSize(dir + "/" + ArchiveFile.name) == size)
        }
        await durable.close(finalSnapshot: false)
    }

    @Test func oldFinishedReservationsLeaveMemoryAfterTheRetention() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let (durable, _) = try await DurableEngine.open(
            PersistenceConfiguration(directory: dir), engine: EngineConfiguration(shardCount: 2, rules: rules()),
            clock: clock, seed: { try await seedSmall($0, seats: 4, users: 2) })
        let engine = durable.engine
        let done = try await engine.book(user: 1, seat: 1, start: t0 + 3_600, end: t0 + 7_200)
        let upcoming = try await engine.book(
            user: 1, seat: 2, start: t0 + 5 * Seconds.day, end: t0 + 5 * Seconds.day + 3_600)
        clock.set(t0 + 3_600 + 60)
        _ = try await engine.checkIn(id: done.id, requester: Requester(userID: 1))
        clock.set(t0 + 7_200 + 60)
        _ = await engine.sweep(now: clock.now())  // completed
        #expect(try await durable.archiveFinished() == 0)  // finished, but not old enough
        clock.set(t0 + 7_200 + 2 * Seconds.day + 1)
        #expect(try await durable.archiveFinished() == 1)
        let left = await engine.reservations(of: 1).items
        #expect(left.map(\.id) == [upcoming.id])  // the upcoming one never leaves
        #expect(try ArchiveFile.read(directory: dir, io: PosixIO()).reservations.map(\.status) == [.completed])
        await durable.close(finalSnapshot: false)
    }

    @Test func aTornArchiveTailIsSkippedAndDuplicatesAreReadOnce() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let r = Reservation(id: 7, seatID: 1, userID: 1, start: t0, end: t0 + 60, status: .cancelled, createdAt: t0)
        try ArchiveFile.append([.reservationChanged(r)], directory: dir, io: PosixIO(), time: t0)
        // A crash in the middle of the next append, then the same reservation archived again.
        let handle = try PosixIO().openForAppend(dir + "/" + ArchiveFile.name)
        try [UInt8](repeating: 0x01, count: 17).withBytes { (raw) throws(StorageError) in try handle.write(raw) }
        handle.close()
        try ArchiveFile.append([.reservationChanged(r)], directory: dir, io: PosixIO(), time: t0)
        let read = try ArchiveFile.read(directory: dir, io: PosixIO())
        #expect(read.reservations == [r] && read.skippedBytes == 17)
    }

    @Test func finishedWaitlistEntriesAreCapped() async throws {
        let clock = ManualClock(t0)
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 1, rules: rules()), clock: clock)
        try await seedSmall(engine, seats: 2, users: 1)
        for k in 0..<30 {
            let (e, _) = try await engine.joinWaitlist(user: 1, target: .seat(1), desired: t0 + 3_600 + Int64(k) * 60)
            _ = try await engine.leaveWaitlist(id: e.id, requester: Requester(userID: 1))
        }
        let live = try await engine.joinWaitlist(user: 1, target: .seat(2), desired: t0 + 7_200).entry
        #expect(engine.waitlist(of: 1).count == 31)
        #expect(engine.pruneWaitlist(now: clock.now()) == 28)
        let kept = engine.waitlist(of: 1).map(\.entry)
        #expect(kept.count == 3 && kept.last?.id == live.id && kept.filter { $0.status == .cancelled }.count == 2)
        // Ids go on from where they were.
        let next = try await engine.joinWaitlist(user: 1, target: .seat(1), desired: t0 + 9_000).entry
        #expect(next.id == live.id + 1)
    }
}
