import DLSMSCore
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Storage whose appends fail while `full` is set, after writing part of the bytes (a disk that
/// fills in the middle of a write); everything else is the real thing.
final class FillingIO: StorageIO {
    let real = PosixIO()
    let full = Mutex(false)
    let bytesRead = Mutex<[String: Int]>([:])

    final class Handle: AppendHandle {
        let inner: any AppendHandle
        let io: FillingIO
        init(inner: any AppendHandle, io: FillingIO) {
            self.inner = inner
            self.io = io
        }
        var path: String { inner.path }
        func write(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
            if io.full.withLock({ $0 }) {
                try inner.write(UnsafeRawBufferPointer(rebasing: bytes[..<(bytes.count / 2)]))
                throw StorageError("write", path, errno: ENOSPC)
            }
            try inner.write(bytes)
        }
        func sync() throws(StorageError) { try inner.sync() }
        func truncate(to size: Int) throws(StorageError) { try inner.truncate(to: size) }
        func close() { inner.close() }
    }

    func counted(_ path: String, _ n: Int) { bytesRead.withLock { $0[path, default: 0] += n } }
    var totalRead: Int { bytesRead.withLock { $0.values.reduce(0, +) } }

    func openForAppend(_ path: String) throws(StorageError) -> any AppendHandle {
        Handle(inner: try real.openForAppend(path), io: self)
    }
    func read(_ path: String) throws(StorageError) -> [UInt8] {
        let bytes = try real.read(path)
        counted(path, bytes.count)
        return bytes
    }
    func read(_ path: String, offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        let bytes = try real.read(path, offset: offset, count: count)
        counted(path, bytes.count)
        return bytes
    }
    func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(StorageError) {
        try real.writeAtomically(path, bytes)
    }
    func list(_ directory: String) throws(StorageError) -> [String] { try real.list(directory) }
    func remove(_ path: String) throws(StorageError) { try real.remove(path) }
    func truncate(_ path: String, to size: Int) throws(StorageError) { try real.truncate(path, to: size) }
    func syncDirectory(_ directory: String) throws(StorageError) { try real.syncDirectory(directory) }
    func syncFile(_ path: String) throws(StorageError) { try real.syncFile(path) }
    func makeDirectory(_ path: String) throws(StorageError) { try real.makeDirectory(path) }
    func removeDirectory(_ path: String) throws(StorageError) { try real.removeDirectory(path) }
    func fileSize(_ path: String) throws(StorageError) -> Int { try real.fileSize(path) }
}

/// The spool: an append-only, bounded, durable queue with one consumer (the webhook outbox's,
/// and the mail outbox's to come).
@Suite struct SpoolTests {
    /// 200 bytes of payload: with 4 KiB segments, about 17 records a segment.
    func payload(_ key: UInt64) -> [UInt8] { Array(repeating: UInt8(truncatingIfNeeded: key), count: 200) }

    func segments(_ dir: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".spool") }.sorted()
    }

    /// Records come back in order across segments; consuming deletes the segments left behind;
    /// the figures count records and bytes.
    @Test func appendsAndConsumesInOrderAcrossSegments() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let limits = SpoolLimits(maxRecords: 1_000, maxBytes: 1 << 20, segmentBytes: 4_096)
        let spool = Spool.create(directory: dir, io: PosixIO(), limits: limits)
        for key in UInt64(1)...100 { #expect(spool.offer(key: key * 10, payload: payload(key), time: 7) == .appended) }
        #expect(spool.offer(key: 1_000, payload: [], time: 7) == .duplicate)  // not above the last key
        var f = spool.figures
        #expect(f.pending == 100 && f.pendingBytes == 100 * (32 + 16 + 200) && f.dropped == 0 && f.considered == 1_000)
        spool.flush()
        let before = try segments(dir)
        #expect(before.count >= 5)
        for key in UInt64(1)...60 {
            let r = try #require(spool.peek())
            #expect(r.key == key * 10 && r.payload == payload(key) && r.time == 7)
            #expect(spool.peek()?.key == key * 10)  // peeking does not consume
            #expect(spool.consume(through: r.key) == 1)
        }
        f = spool.figures
        #expect(f.pending == 40 && f.pendingBytes == 40 * 248)
        let after = try segments(dir)
        #expect(after.count < before.count && after.last == before.last, "consumed segments are deleted")
        // Consuming through a key passes every record up to it, without a peek.
        #expect(spool.consume(through: 855) == 25)
        #expect(spool.peek()?.key == 860)
        #expect(spool.consume(through: .max) == 15)
        #expect(spool.peek() == nil && spool.figures.pending == 0 && spool.figures.pendingBytes == 0)
        // After everything was consumed, appends continue.
        #expect(spool.offer(key: 2_000, payload: [1, 2, 3], time: 8) == .appended)
        #expect(spool.peek()?.payload == [1, 2, 3])
    }

    /// Beyond its bound in records or in bytes a spool drops new records, and counts each one;
    /// consuming makes room again.
    @Test func boundsInRecordsAndBytesDropAndCountExactly() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let byRecords = Spool.create(
            directory: dir + "/a", io: PosixIO(), limits: SpoolLimits(maxRecords: 10, maxBytes: 1 << 20))
        var outcomes: [Spool.Offer] = []
        for key in UInt64(1)...25 { outcomes.append(byRecords.offer(key: key, payload: payload(key), time: 0)) }
        #expect(outcomes.filter { $0 == .appended }.count == 10 && outcomes.suffix(15).allSatisfy { $0 == .dropped })
        #expect(byRecords.figures.pending == 10 && byRecords.figures.dropped == 15)
        byRecords.consume(through: 3)
        for key in UInt64(26)...30 { byRecords.offer(key: key, payload: payload(key), time: 0) }
        #expect(byRecords.figures.pending == 10 && byRecords.figures.dropped == 17)
        // Bytes: room for exactly four records of 248 bytes.
        let byBytes = Spool.create(
            directory: dir + "/b", io: PosixIO(), limits: SpoolLimits(maxRecords: 1_000, maxBytes: 4 * 248 + 247))
        for key in UInt64(1)...9 { byBytes.offer(key: key, payload: payload(key), time: 0) }
        #expect(byBytes.figures.pending == 4 && byBytes.figures.dropped == 5)
        #expect(byBytes.offer(key: 10, payload: [], time: 0) == .appended)  // a small one still fits
    }

    /// The count is exact across a crash: what was synced is read back, later records carry the
    /// count before them, and the caller offers again what its log holds after the highest key
    /// the spool considered (a replay), which drops (and counts) just what it dropped before.
    @Test func theDropCountIsExactAcrossAReopen() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let limits = SpoolLimits(maxRecords: 20, maxBytes: 1 << 20, segmentBytes: 4_096)
        // The reference: one spool that never crashes.
        let reference = Spool.create(directory: dir + "/ref", io: PosixIO(), limits: limits)
        let crashing = Spool.create(directory: dir + "/crash", io: PosixIO(), limits: limits)
        func run(_ spool: Spool, _ keys: ClosedRange<UInt64>) {
            for key in keys {
                spool.offer(key: key, payload: payload(key), time: 0)
                if key % 7 == 0 && key > 20 { spool.consume(through: key - 20) }  // a slow consumer
            }
        }
        run(reference, 1...100)
        run(crashing, 1...60)
        try crashing.sync(crashing.checkpoint())  // a snapshot: the log before key 60 may go
        run(crashing, 61...100)
        crashing.flush()  // part of what follows reached the file, the buffer after it did not
        for key in UInt64(101)...110 { crashing.offer(key: key, payload: payload(key), time: 0) }
        // Crash: the buffer is lost. Reopen, and replay the log after the checkpoint: offers of
        // keys the spool considered are duplicates, the consumer's moves are made again.
        // The log holds keys up to 100 durably: a record written after that is cut.
        let (reopened, report) = try Spool.open(
            directory: dir + "/crash", io: PosixIO(), limits: limits, keepThrough: 100)
        #expect(report.tornBytes == 0)
        let considered = reopened.figures.considered
        #expect(considered > 60 && considered <= 100)
        run(reopened, 61...100)
        #expect(reopened.figures.dropped == reference.figures.dropped)
        #expect(reopened.figures.pending == reference.figures.pending)
        #expect(reference.figures.dropped > 0)
        var left: [UInt64] = []
        while let r = reopened.peek() {
            left.append(r.key)
            reopened.consume(through: r.key)
        }
        var expected: [UInt64] = []
        while let r = reference.peek() {
            expected.append(r.key)
            reference.consume(through: r.key)
        }
        #expect(left == expected)
    }

    /// A torn record at the end of the last segment (a crash in the middle of a write) is cut;
    /// appends continue the sequence.
    @Test func aTornTailIsCut() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let limits = SpoolLimits(segmentBytes: 4_096)
        let spool = Spool.create(directory: dir, io: PosixIO(), limits: limits)
        for key in UInt64(1)...5 { spool.offer(key: key, payload: payload(key), time: 0) }
        spool.flush()
        let last = try #require(try segments(dir).last)
        let handle = try #require(FileHandle(forWritingAtPath: dir + "/" + last))
        handle.seekToEndOfFile()
        handle.write(Data([1, 0x80, 0, 0, 200, 0, 0, 0, 6, 0, 0]))  // the start of a sixth frame
        handle.closeFile()
        let (reopened, report) = try Spool.open(directory: dir, io: PosixIO(), limits: limits)
        #expect(report.tornBytes == 11)
        #expect(reopened.figures.pending == 5 && reopened.figures.considered == 5)
        #expect(reopened.offer(key: 6, payload: payload(6), time: 0) == .appended)
        var keys: [UInt64] = []
        while let r = reopened.peek() {
            keys.append(r.key)
            reopened.consume(through: r.key)
        }
        #expect(keys == Array(1...6))
    }

    /// A damaged record in the middle is skipped and counted as dropped (its sequence number
    /// says how many were lost); the ones after it are read.
    @Test func aCorruptRecordIsSkippedAndCounted() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let limits = SpoolLimits(segmentBytes: 4_096)
        let spool = Spool.create(directory: dir, io: PosixIO(), limits: limits)
        for key in UInt64(1)...40 { spool.offer(key: key, payload: payload(key), time: 0) }
        spool.flush()
        // Flip a payload byte of the third record of the first segment, and of the whole second segment's first.
        let names = try segments(dir)
        #expect(names.count >= 3)
        for (name, record) in [(names[0], 2), (names[1], 0)] {
            let path = dir + "/" + name
            var bytes = try #require(FileManager.default.contents(atPath: path))
            bytes[record * 248 + 100] ^= 0xFF
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        let firstOfSecond = try #require(Spool.segmentFirst(names[1]))
        var keys: [UInt64] = []
        while let r = spool.peek() {
            keys.append(r.key)
            spool.consume(through: r.key)
        }
        #expect(keys.count == 38 && !keys.contains(3) && !keys.contains(firstOfSecond))
        #expect(spool.figures.dropped == 2 && spool.figures.pending == 0)
    }

    /// Records whose keys lie beyond what the caller's log holds durably (written before their
    /// record was) are cut at opening, unless the state file, written after they were durable,
    /// covers them.
    @Test func recordsBeyondTheDurableKeyAreCut() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let limits = SpoolLimits(segmentBytes: 4_096)
        let spool = Spool.create(directory: dir, io: PosixIO(), limits: limits)
        for key in UInt64(1)...30 { spool.offer(key: key, payload: payload(key), time: 0) }
        try spool.sync(spool.checkpoint())
        for key in UInt64(31)...60 { spool.offer(key: key, payload: payload(key), time: 0) }
        spool.flush()
        let (reopened, report) = try Spool.open(directory: dir, io: PosixIO(), limits: limits, keepThrough: 12)
        #expect(report.cutRecords == 30)  // 31…60; 13…30 stay: the state file had them
        #expect(reopened.figures.pending == 30 && reopened.figures.considered == 30)
        #expect(reopened.offer(key: 31, payload: [9], time: 0) == .appended)
    }

    /// Opening reads the state file and the last segment only, however long the backlog.
    @Test func openingReadsTheLastSegmentOnly() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let limits = SpoolLimits(maxRecords: 100_000, maxBytes: 64 << 20, segmentBytes: 8_192)
        var reads: [Int] = []
        for backlog in [1_000, 4_000] {
            let path = dir + "/\(backlog)"
            let spool = Spool.create(directory: path, io: PosixIO(), limits: limits)
            for key in UInt64(1)...UInt64(backlog) { spool.offer(key: key, payload: payload(key), time: 0) }
            try spool.sync(spool.checkpoint())
            let io = FillingIO()
            let (reopened, report) = try Spool.open(directory: path, io: io, limits: limits, keepThrough: .max)
            #expect(reopened.figures.pending == backlog)
            #expect(report.bytesRead <= 8_192 + 248 && io.totalRead <= 8_192 + 248 + 92)
            reads.append(io.totalRead)
        }
        #expect(reads[0] == reads[1] || abs(reads[0] - reads[1]) <= 8_192)
    }

    /// A full disk: the write that fails is cut back and its records counted as dropped; once
    /// there is room, appends go on, and nothing in the file is left half-written.
    @Test func aFailedWriteDropsAndCountsItsRecords() throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let io = FillingIO()
        let limits = SpoolLimits(segmentBytes: 4_096)
        let spool = Spool.create(directory: dir, io: io, limits: limits)
        for key in UInt64(1)...3 { spool.offer(key: key, payload: payload(key), time: 0) }
        spool.flush()
        io.full.withLock { $0 = true }
        for key in UInt64(4)...6 { spool.offer(key: key, payload: payload(key), time: 0) }
        spool.flush()
        #expect(spool.figures.dropped == 3 && spool.figures.pending == 3)
        #expect(spool.figures.failure?.contains("No space left") == true)
        io.full.withLock { $0 = false }
        spool.offer(key: 7, payload: payload(7), time: 0)
        spool.flush()
        #expect(spool.figures.failure == nil && spool.figures.pending == 4)
        let (reopened, report) = try Spool.open(directory: dir, io: PosixIO(), limits: limits)
        #expect(report.tornBytes == 0)
        var keys: [UInt64] = []
        while let r = reopened.peek() {
            keys.append(r.key)
            reopened.consume(through: r.key)
        }
        #expect(keys == [1, 2, 3, 7])
    }

    /// A copy (a backup, a new standby) opens as the same queue; removing a spool deletes it.
    @Test func aCopyOpensAsTheSameQueueAndRemovalDeletesEverything() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let limits = SpoolLimits(maxRecords: 30, segmentBytes: 4_096)
        let spool = Spool.create(directory: dir + "/a", io: PosixIO(), limits: limits)
        for key in UInt64(1)...50 { spool.offer(key: key, payload: payload(key), time: 0) }
        spool.consume(through: 12)
        try FileManager.default.createDirectory(atPath: dir + "/b", withIntermediateDirectories: true)
        try await spool.export(at: spool.checkpoint()) { name, bytes in
            try Data(bytes).write(to: URL(fileURLWithPath: dir + "/b/" + name))
        }
        spool.offer(key: 51, payload: [1], time: 0)  // after the checkpoint: not in the copy
        let (copy, _) = try Spool.open(directory: dir + "/b", io: PosixIO(), limits: limits)
        #expect(copy.figures.pending == 18 && copy.figures.dropped == 20 && copy.figures.considered == 50)
        #expect(copy.peek()?.key == 13)
        spool.remove()
        #expect(!FileManager.default.fileExists(atPath: dir + "/a"))
        #expect(spool.offer(key: 52, payload: [1], time: 0) == .duplicate)
    }
}
