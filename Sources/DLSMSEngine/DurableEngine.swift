import DLSMSCore
import DLSMSStorage
import Dispatch
import Foundation
import Synchronization

public struct PersistenceConfiguration: Sendable {
    /// The data directory (default `snapshots/`).
    public var directory: String
    public var fsync: FsyncPolicy
    /// A snapshot is taken this often…
    public var snapshotInterval: Duration
    /// …or once the WAL has grown by this many bytes since the last one.
    public var snapshotAfterBytes: UInt64
    /// Snapshots kept; WAL segments that the oldest kept one covers are deleted.
    public var keepSnapshots: Int
    public var segmentBytes: Int

    public init(
        directory: String, fsync: FsyncPolicy = .always, snapshotInterval: Duration = .seconds(60),
        snapshotAfterBytes: UInt64 = 64 << 20, keepSnapshots: Int = 3, segmentBytes: Int = 64 << 20
    ) {
        self.directory = directory
        self.fsync = fsync
        self.snapshotInterval = snapshotInterval
        self.snapshotAfterBytes = snapshotAfterBytes
        self.keepSnapshots = max(1, keepSnapshots)
        self.segmentBytes = segmentBytes
    }
}

/// What opening a data directory did.
public struct OpenReport: Sendable {
    public var seeded = false
    public var snapshot: String?
    public var damagedSnapshots: [String] = []
    public var replayedRecords = 0
    public var tornTail: String?
    public var reservations = 0
    public var seconds = 0.0
    /// Of `seconds`: reading and checking the files (snapshot and WAL), before the engine is built.
    public var readSeconds = 0.0
    /// Webhook spools opened, and the bytes of their segments read to open them (each one's last
    /// segment at most: the backlog is not read).
    public var outboxSpools = 0
    public var outboxBytesRead = 0
}

/// The figures of one snapshot.
public struct SnapshotReport: Sendable {
    public var name: String
    public var coveredLSN: UInt64
    public var bytes: Int
    public var reservations: Int
    public var captureSeconds: Double
    public var totalSeconds: Double
}

/// A ``SeatEngine`` made durable: its journal is the WAL of a data directory, and it can write
/// snapshots. Opening recovers the state (newest valid snapshot + WAL replay) or, for an empty
/// directory, seeds it.
public final class DurableEngine: Sendable {
    public let engine: SeatEngine
    public let wal: WriteAheadLog
    public let configuration: PersistenceConfiguration
    private let directory: DataDirectory
    private let snapshotState = Mutex<(lastBytes: UInt64, lastTime: Timestamp, lastName: String?)>((0, 0, nil))
    private let snapshotLock = SnapshotLock()
    /// What a snapshot covers: the log's head, since every change is applied before it is
    /// appended; a standby, which appends the primary's frames before it applies them, says
    /// what it has applied instead.
    private let coverage = Mutex<(@Sendable () -> (lsn: UInt64, checksum: UInt32))?>(nil)
    /// What compaction has dealt with: the engine's ``SeatEngine/privacyChanges`` then, and
    /// whether the archive changed since; when the archive's anonymisation pass last ran.
    /// Serialises appends to the archive file with its rewrite.
    private let archiveLock = NSLock()
    private let compaction = Mutex<
        (handled: Int, archiveChanged: Bool, archivePass: Timestamp?, compactedAt: Timestamp?)
    >(
        (0, false, nil, nil))

    /// Sets what snapshots cover (a standby's applied position), or the log's head (`nil`).
    public func setSnapshotCoverage(_ covered: (@Sendable () -> (lsn: UInt64, checksum: UInt32))?) {
        coverage.withLock { $0 = covered }
    }

    /// Serialises snapshot writers.
    private actor SnapshotLock {
        private var busy = false
        private var waiting: [CheckedContinuation<Void, Never>] = []

        func acquire() async {
            if !busy {
                busy = true
                return
            }
            await withCheckedContinuation { waiting.append($0) }
        }

        func release() {
            if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
        }
    }

    private init(
        engine: SeatEngine, wal: WriteAheadLog, configuration: PersistenceConfiguration, directory: DataDirectory
    ) {
        self.engine = engine
        self.wal = wal
        self.configuration = configuration
        self.directory = directory
    }

    /// Opens (recovering) or creates a data directory. `seed` fills a new, empty one.
    public static func open(
        _ configuration: PersistenceConfiguration, engine engineConfiguration: EngineConfiguration = .init(),
        clock: any WallClock = SystemClock(), io: any StorageIO = PosixIO(),
        log: @escaping @Sendable (String) -> Void = { _ in },
        replica: Bool = false,
        seed: @Sendable (SeatEngine) async throws -> Void = { _ in }
    ) async throws -> (DurableEngine, OpenReport) {
        let started = DispatchTime.now()
        let directory = DataDirectory(path: configuration.directory, io: io)
        try io.makeDirectory(configuration.directory)
        var state = try directory.recover()
        var report = OpenReport()
        if state.snapshot == nil && state.records.isEmpty && replica {
            throw StorageError(
                "open a standby's data directory (it has no snapshot to follow from)", configuration.directory,
                errno: ENOENT)
        }
        if state.snapshot == nil && state.records.isEmpty {
            // First start: the seed is built in memory and written as one snapshot (covering LSN
            // 0) by an atomic rename, so a crash part-way through seeding leaves an empty
            // directory that the next start seeds again, never a half-seeded one.
            let seeding = SeatEngine(configuration: engineConfiguration, clock: clock)
            try await seed(seeding)
            let image = await seeding.capture()
            let (bytes, _) = try SnapshotFile.encode(
                image, coveredLSN: 0, chainChecksum: 0, createdAt: clock.now(),
                sizeHint: 64 + image.reservationCount * 24)
            try io.writeAtomically(directory.file(SnapshotFile.name(coveredLSN: 0)), bytes)
            report.seeded = true
            state = try directory.recover()
        }
        for (name, reason) in state.damagedSnapshots {
            log("WARNING: snapshot \(name) is damaged (\(reason)); falling back to an older one")
            report.damagedSnapshots.append(name)
        }
        if let torn = state.tornTail {
            let text = "WAL: cut a torn record at the end of \(torn.file), offset \(torn.offset) (\(torn.bytes) bytes)"
            log(text)
            report.tornTail = text
        }
        report.readSeconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        let wal = try WriteAheadLog(
            configuration: WALConfiguration(
                directory: configuration.directory, fsync: configuration.fsync, segmentBytes: configuration.segmentBytes
            ),
            io: io, nextLSN: state.lastLSN + 1, lastChecksum: state.lastChecksum, currentSegment: state.currentSegment,
            now: { clock.now() })
        let engine = SeatEngine(configuration: engineConfiguration, clock: clock, journal: wal)
        let durable = DurableEngine(engine: engine, wal: wal, configuration: configuration, directory: directory)
        // The webhook spools, before replay: each reads its last segment only, and cuts events
        // the recovered files do not hold durably.
        let floor = max(
            WebhookOutbox.durableEventFloor(state.snapshotRecords),
            WebhookOutbox.durableEventFloor(state.records.lazy.map(\.record)))
        let outbox = try engine.webhooks.attach(dataDirectory: configuration.directory, io: io, keepThrough: floor)
        for line in outbox.lines { log(line) }
        report.outboxSpools = outbox.spools
        report.outboxBytesRead = outbox.bytesRead
        await engine.apply(batch: state.snapshotRecords)
        await engine.apply(batch: state.records.lazy.map(\.record))
        engine.webhooks.finishRecovery()
        report.snapshot = state.snapshotName
        report.replayedRecords = state.records.count
        // Invariants that stay checked in release builds: no overlap of seat-holding reservations,
        // and every id below the next one to be handed out, found where the directory says.
        let consistent = await engine.checkInvariants()
        precondition(consistent, "recovered state breaks an invariant (overlapping reservations or ids)")
        // A crash between a closure's record and its cancellations: finish them (on a primary; a
        // standby follows the primary's log, which does it).
        if !replica, let n = try? await engine.enforceClosures(), n > 0 {
            log("closures: cancelled \(n) reservations and waitlist entries left inside closures")
        }
        // A crash part-way through an erasure: finish it.
        if !replica, case let n = await engine.finishPendingErasures(), n > 0 {
            log("erasures: finished \(n) that a crash had interrupted")
        }
        report.reservations = engine.counts.reservations
        durable.snapshotState.withLock {
            $0 = (wal.statistics.appendedBytes, clock.now(), state.snapshotName)
        }
        report.seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        return (durable, report)
    }

    /// Writes a snapshot of the current state while writes go on, then deletes snapshots beyond
    /// ``PersistenceConfiguration/keepSnapshots`` and the WAL segments the oldest kept one covers.
    @discardableResult
    public func snapshot() async throws -> SnapshotReport {
        await snapshotLock.acquire()
        do {
            let report = try await writeSnapshot()
            await snapshotLock.release()
            return report
        } catch {
            await snapshotLock.release()
            throw error
        }
    }

    private func writeSnapshot(keep: Int? = nil) async throws -> SnapshotReport {
        let started = DispatchTime.now()
        // Everything up to `covered` is in memory: each change is applied with its append.
        let (covered, chain) = coverage.withLock { $0 }?() ?? wal.head
        // The webhook spools: where they are now (every event up to the covered LSN included),
        // made durable below before this snapshot lets the log before it go.
        let outbox = engine.webhooks.checkpoint()
        let image = await engine.capture()
        let captured = DispatchTime.now()
        // What the capture saw may include later records; write only once they are durable, so a
        // snapshot never holds a change the log could still refuse.
        try await wal.waitLocallyDurable(wal.head.lsn)
        try engine.webhooks.sync(outbox)
        let (bytes, header) = try SnapshotFile.encode(
            image, coveredLSN: covered, chainChecksum: chain, createdAt: engine.clock.now(),
            sizeHint: 64 + image.reservationCount * 24)
        let name = SnapshotFile.name(coveredLSN: covered)
        try directory.io.writeAtomically(directory.file(name), bytes)
        snapshotState.withLock { $0 = (wal.statistics.appendedBytes, engine.clock.now(), name) }
        try prune(keep: keep)
        let end = DispatchTime.now()
        return SnapshotReport(
            name: name, coveredLSN: covered, bytes: bytes.count, reservations: header.counts.reservations,
            captureSeconds: Double(captured.uptimeNanoseconds - started.uptimeNanoseconds) / 1e9,
            totalSeconds: Double(end.uptimeNanoseconds - started.uptimeNanoseconds) / 1e9)
    }

    private func prune(keep: Int? = nil) throws {
        let keep = keep ?? configuration.keepSnapshots
        let snapshots = try directory.snapshots()
        for old in snapshots.dropFirst(keep) {
            try directory.io.remove(directory.file(old.name))
        }
        guard let oldestKept = snapshots.prefix(keep).last else { return }
        let segments = try directory.segments()
        for (i, segment) in segments.enumerated() where i + 1 < segments.count {
            // Segment i holds LSNs first_i … first_{i+1} − 1.
            if segments[i + 1].firstLSN - 1 <= oldestKept.coveredLSN {
                try directory.io.remove(directory.file(segment.name))
            }
        }
        try directory.io.syncDirectory(directory.path)
    }

    /// `true` when a snapshot is due by time or by WAL growth.
    public func snapshotDue() -> Bool {
        let (bytes, time, _) = snapshotState.withLock { $0 }
        let grown = wal.statistics.appendedBytes - bytes
        let interval = configuration.snapshotInterval.components.seconds
        return grown >= configuration.snapshotAfterBytes || (grown > 0 && engine.clock.now() - time >= interval)
    }

    /// Takes a snapshot whenever one is due (``snapshotDue()``: by time or by WAL growth), checking
    /// every `poll`, until the task is cancelled. A failed snapshot is reported and retried at the
    /// next check (the WAL still holds everything). This is the snapshot service of the server.
    public func runPeriodicSnapshots(poll: Duration = .seconds(1), log: @Sendable (String) -> Void = { _ in }) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: poll)
            } catch {
                return
            }
            do {
                if let r = try await snapshotIfDue() {
                    log("snapshot \(r.name): \(r.reservations) reservations, \(r.bytes) bytes in \(r.totalSeconds) s")
                }
            } catch {
                log("snapshot failed: \(error)")
            }
        }
    }

    /// An online backup: a fresh snapshot (consistent: everything acknowledged up to its covered
    /// LSN), copied with the archive and the token secret into a new directory `destination`,
    /// which is then a data directory of its own (start a server on it, or `dlsms snapshot
    /// verify` it). The destination must not exist; it is written under a temporary name and
    /// renamed, so a backup is either complete or absent.
    public func backup(to destination: String) async throws -> SnapshotReport {
        let io = directory.io
        guard (try? io.list(destination)) == nil else {
            throw StorageError("backup", destination, errno: EEXIST)
        }
        let report = try await snapshot()
        let partial = destination + ".partial"
        func removePartial() { try? FileManager.default.removeItem(atPath: partial) }
        removePartial()
        do {
            try io.makeDirectory(partial)
            for name in [report.name, ArchiveFile.name, "jwt-secret"] {
                guard let bytes = try? io.read(directory.file(name)) else { continue }  // no archive yet: fine
                try io.writeAtomically(partial + "/" + name, bytes)
            }
            // The webhook events still owed, as the spools hold them now.
            try await exportOutbox { path, bytes in
                var made = partial
                for part in path.split(separator: "/").dropLast() {
                    made += "/" + part
                    try io.makeDirectory(made)
                }
                try io.writeAtomically(partial + "/" + path, bytes)
            }
            guard rename(partial, destination) == 0 else { throw StorageError("rename", destination, errno: errno) }
        } catch {
            removePartial()  // a failed backup leaves nothing behind
            throw error
        }
        let parent = (destination as NSString).deletingLastPathComponent
        try io.syncDirectory(parent.isEmpty ? "." : parent)
        return report
    }

    /// The files of the webhook spools as they are now, as paths relative to the data directory
    /// (a backup, or a new standby's copy): every event in them is durable in the log, so a
    /// directory made from them and a snapshot taken before is consistent (replay skips what
    /// the spools already considered).
    public func exportOutbox(_ visit: (String, [UInt8]) async throws -> Void) async throws {
        let checkpoint = engine.webhooks.checkpoint()
        try await wal.waitLocallyDurable(wal.head.lsn)
        try await engine.webhooks.export(checkpoint, visit)
    }

    /// Moves finished reservations past the retention (or beyond each student's history cap) from
    /// memory to `archive.log`: appended and synced first, then a `reservationsArchived` record in
    /// the WAL, then dropped from memory (so a restart replays the move instead of archiving them
    /// again). Also drops old finished waitlist entries. Returns how many reservations moved.
    @discardableResult
    public func archiveFinished() async throws -> Int {
        guard wal.failure == nil, engine.writeFailure == nil else { return 0 }
        let now = engine.clock.now()
        _ = engine.pruneWaitlist(now: now)
        var moved = 0
        while true {
            let batch = await engine.archiveCandidates(now: now)
            guard !batch.isEmpty else { return moved }
            try appendToArchive(batch, time: now)
            try await engine.recordArchived(batch)
            moved += batch.count
            if batch.count < 50_000 { return moved }
        }
    }

    private func appendToArchive(_ batch: [Reservation], time: Timestamp) throws {
        archiveLock.lock()
        defer { archiveLock.unlock() }
        try ArchiveFile.append(
            batch.map { .reservationChanged($0) }, directory: configuration.directory, io: directory.io, time: time)
    }

    /// One student's reservations in `archive.log` (finished ones that left memory), oldest
    /// first. Reads the whole file: for a student's export, not for a hot path.
    public func archivedReservations(of user: UserID) throws -> [Reservation] {
        try ArchiveFile.read(directory: configuration.directory, io: directory.io).reservations.filter {
            $0.userID == user
        }
    }

    // MARK: - Privacy: anonymisation of the archive, compaction

    /// The privacy pass of the sweeper, at most once per `every` (a day: so that the compaction
    /// it leads to, a full snapshot, is daily too): anonymises finished reservations past
    /// ``BookingRules/anonymiseAfter`` in memory, then rewrites the archive file with those of
    /// its reservations past it (or of erased accounts) anonymised. Returns how many reservations
    /// were anonymised in memory and in the archive.
    @discardableResult
    public func anonymiseExpired(every: Int64 = Seconds.day) async throws -> (memory: Int, archive: Int) {
        guard wal.failure == nil, engine.writeFailure == nil else { return (0, 0) }
        let now = engine.clock.now()
        let due = compaction.withLock { $0.archivePass.map { now - $0 >= every } ?? true }
        guard due else { return (0, 0) }
        let memory = try await engine.anonymiseExpired(now: now)
        let archive = try anonymiseArchive(endedBefore: now - engine.rules.anonymiseAfter)
        compaction.withLock {
            $0.archivePass = now
            if archive > 0 { $0.archiveChanged = true }
        }
        return (memory, archive)
    }

    /// Rewrites `archive.log` with every reservation that ended before `cutoff`, or whose account
    /// is erased, anonymised (a new file renamed over the old one). Returns how many changed.
    @discardableResult
    public func anonymiseArchive(endedBefore cutoff: Timestamp) throws -> Int {
        let io = directory.io
        archiveLock.lock()
        defer { archiveLock.unlock() }
        var (all, _) = try ArchiveFile.read(directory: configuration.directory, io: io)
        var changed = 0
        let erased = engine.erasedAccounts
        for i in all.indices where all[i].userID != .anonymous {
            if all[i].end < cutoff || erased.contains(all[i].userID) {
                all[i].userID = .anonymous
                changed += 1
            }
        }
        guard changed > 0 else { return 0 }
        try ArchiveFile.rewrite(
            all, directory: configuration.directory, io: io, time: engine.clock.now())
        return changed
    }

    /// `true` when an erasure or anonymisation (in memory or in the archive) has happened since
    /// the last compaction, and that was at least ``compactionInterval`` ago (erasures in a row
    /// share one compaction).
    public var compactionDue: Bool {
        let changes = engine.privacyChanges
        let now = engine.clock.now()
        return compaction.withLock {
            ($0.handled != changes || $0.archiveChanged)
                && $0.compactedAt.map { now - $0 >= Self.compactionInterval } ?? true
        }
    }

    /// The least time between two compactions, in seconds: an erasure leaves the data directory
    /// (but for backups) at most this long after it, plus the compaction's own time.
    public static let compactionInterval: Int64 = 60

    /// What a compaction did.
    public struct CompactionReport: Sendable {
        public var snapshot: SnapshotReport
        public var archiveAnonymised: Int
        public var removedFiles: [String]
    }

    /// Rewrites the data directory so that it no longer holds what an erasure or anonymisation
    /// removed from memory: the archive's reservations of erased accounts anonymised, the log cut
    /// at a new segment (a primary), a new snapshot, and every older snapshot and every log
    /// segment that snapshot covers deleted. (Backups taken before keep what they hold.)
    @discardableResult
    public func compact() async throws -> CompactionReport {
        await snapshotLock.acquire()
        do {
            let report = try await compactLocked()
            await snapshotLock.release()
            return report
        } catch {
            await snapshotLock.release()
            throw error
        }
    }

    private func compactLocked() async throws -> CompactionReport {
        let changes = engine.privacyChanges
        let archive = try anonymiseArchive(endedBefore: engine.clock.now() - engine.rules.anonymiseAfter)
        if engine.writeFailure == nil, wal.failure == nil {
            // A primary: the records before this point stay in segments the snapshot lets go.
            // A standby's log is its primary's: its next segment starts with the primary's.
            wal.requestRotation()
            do {
                try await engine.appendMarker()
            } catch {
                if engine.writeFailure != nil { throw error }  // a standby refuses writes: fine
            }
        }
        let before = Set((try directory.io.list(configuration.directory)))
        let snapshot = try await writeSnapshot(keep: 1)
        let after = Set((try directory.io.list(configuration.directory)))
        let now = engine.clock.now()
        compaction.withLock {
            $0.handled = changes
            $0.archiveChanged = false
            $0.compactedAt = now
        }
        return CompactionReport(
            snapshot: snapshot, archiveAnonymised: archive, removedFiles: before.subtracting(after).sorted())
    }

    /// Compacts if an erasure or anonymisation happened since the last compaction; otherwise
    /// takes a snapshot if one is due. The snapshot service's step.
    public func snapshotOrCompactIfDue() async throws -> (snapshot: SnapshotReport, compacted: Bool)? {
        guard wal.failure == nil else { return nil }
        if compactionDue { return (try await compact().snapshot, true) }
        return try await snapshotIfDue().map { ($0, false) }
    }

    /// Takes a snapshot if one is due (by time or WAL growth) and the log works; `nil` otherwise.
    public func snapshotIfDue() async throws -> SnapshotReport? {
        guard snapshotDue(), wal.failure == nil else { return nil }
        return try await snapshot()
    }

    /// The time and name of the last snapshot written or loaded.
    public var lastSnapshot: (time: Timestamp, name: String?) { snapshotState.withLock { ($0.lastTime, $0.lastName) } }

    /// Takes the final snapshot (unless told not to) and closes the log. Returns what went
    /// wrong, if anything: the snapshot could not be written, or the log had failed before.
    @discardableResult
    public func close(finalSnapshot: Bool = true) async -> String? {
        var problem: String?
        if let detail = wal.failureDetail {
            problem = "the WAL had failed (\(detail)); no final snapshot"
        } else if finalSnapshot {
            do { _ = try await snapshot() } catch { problem = "the final snapshot failed: \(error)" }
        }
        await wal.close()
        return problem
    }
}
