import DLSMSCore
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

/// What a primary serves its standbys from (the memory feed, then the segments) and how a standby
/// appends what it receives: byte for byte the primary's log.
@Suite struct ReplicationFeedTests {
    static func record(_ i: Int) -> JournalRecord {
        .reservationCreated(
            Reservation(
                id: ReservationID(i), seatID: SeatID(1 + i % 7), userID: 1, start: t0 + Int64(i) * 3_600,
                end: t0 + Int64(i) * 3_600 + 900, createdAt: t0))
    }

    /// A log of `n` records, each its own batch; the log stays open.
    static func primary(_ dir: String, _ n: Int, feedBytes: Int, segmentBytes: Int = 64 << 20) async throws
        -> WriteAheadLog
    {
        let wal = try WriteAheadLog(
            configuration: WALConfiguration(directory: dir, segmentBytes: segmentBytes), nextLSN: 1, lastChecksum: 0,
            now: { t0 })
        wal.enableFeed(keepBytes: feedBytes)
        for i in 1...n { try await wal.append(record(i)).wait() }
        return wal
    }

    static func segmentBytes(_ dir: String) throws -> [UInt8] {
        try DataDirectory(path: dir).segments().flatMap { try PosixIO().read(dir + "/" + $0.name) }
    }

    @Test func theFeedServesTheSegmentsBytesFromAnyLSN() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let wal = try await Self.primary(dir, 50, feedBytes: 1 << 20)
        let disk = try Self.segmentBytes(dir)
        let frames = SegmentScan.scan(disk).frames
        for after in [0, 1, 17, 49] {
            guard case .frames(let bytes, let last) = wal.feedFrames(after: UInt64(after), maxBytes: 1 << 20) else {
                Issue.record("no frames after \(after)")
                continue
            }
            let offset = frames[..<after].reduce(0) { $0 + $1.size }
            #expect(bytes == Array(disk[offset...]))
            #expect(last == 50)
        }
        guard case .caughtUp = wal.feedFrames(after: 50, maxBytes: 1 << 20) else {
            Issue.record("frames after the last LSN")
            return
        }
        // A small limit still gives whole frames, at least one.
        if case .frames(let bytes, let last) = wal.feedFrames(after: 10, maxBytes: 1) {
            #expect(last == 11 && bytes == frames[10].bytes)
        } else {
            Issue.record("no frame with a small limit")
        }
        await wal.close()
    }

    @Test func framesThatLeftTheFeedAreReadFromTheSegmentsUntilTheyArePruned() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        // The feed keeps about one batch; segments rotate every ~1 KiB.
        let wal = try await Self.primary(dir, 60, feedBytes: 100, segmentBytes: 1_024)
        guard case .notInMemory = wal.feedFrames(after: 3, maxBytes: 1 << 20) else {
            Issue.record("an old frame is still in memory")
            return
        }
        let directory = DataDirectory(path: dir)
        let found = try #require(try directory.frames(after: 3, upTo: 60, maxBytes: 1 << 30))
        let frames = SegmentScan.scan(found.bytes).frames
        #expect(frames.map(\.lsn) == Array(4...60))
        #expect(found.last == 60)
        #expect(found.checksumAtLSN == SegmentScan.scan(try Self.segmentBytes(dir)).frames[2].checksum)
        // Not past what is durable.
        #expect(
            SegmentScan.scan(try #require(try directory.frames(after: 3, upTo: 10, maxBytes: 1 << 30)).bytes).frames
                .map(\.lsn) == Array(4...10))
        // Once the segment holding LSN 4 is gone, only a snapshot can bring a standby there.
        try PosixIO().remove(dir + "/" + segmentName(firstLSN: 1))
        #expect(try directory.frames(after: 3, upTo: 60, maxBytes: 1 << 30) == nil)
        await wal.close()
    }

    @Test func aStandbysLogIsThePrimarysByteForByte() async throws {
        let primaryDir = temporaryDirectory("primary")
        let standbyDir = temporaryDirectory("standby")
        defer {
            cleanup(primaryDir)
            cleanup(standbyDir)
        }
        let primary = try await Self.primary(primaryDir, 40, feedBytes: 1 << 20)
        let standby = try WriteAheadLog(
            configuration: WALConfiguration(directory: standbyDir), nextLSN: 1, lastChecksum: 0, now: { t0 + 999 })
        var after: UInt64 = 0
        while case .frames(let bytes, let last) = primary.feedFrames(after: after, maxBytes: 300) {
            let frames = SegmentScan.scan(bytes).frames
            var ends: [Int] = []
            var end = 0
            for f in frames {
                end += f.size
                ends.append(end)
            }
            try standby.appendReplicated(bytes, frameEnds: ends, lastLSN: last, lastChecksum: frames.last!.checksum)
            after = last
        }
        try await standby.waitLocallyDurable(40)
        #expect(standby.head.lsn == 40 && standby.head.checksum == primary.head.checksum)
        // Frames that do not follow the log are refused.
        let stray = WALFrame.encode(Self.record(99), lsn: 45, time: t0, previousChecksum: 0)
        #expect(throws: EngineError.self) {
            try standby.appendReplicated(stray.bytes, frameEnds: [stray.bytes.count], lastLSN: 45, lastChecksum: 1)
        }
        await standby.close()
        await primary.close()
        #expect(try Self.segmentBytes(standbyDir) == Self.segmentBytes(primaryDir))
        // And it recovers as a log of its own.
        #expect(try DataDirectory(path: standbyDir).recover().records.map(\.record) == (1...40).map(Self.record))
    }

    @Test func subscribersHearOfEachDurableBatchAndTheEndOfTheLog() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let wal = try await Self.primary(dir, 3, feedBytes: 1 << 20)
        let (_, stream) = wal.subscribe()
        var iterator = stream.makeAsyncIterator()
        #expect(await iterator.next() == 3)
        try await wal.append(Self.record(4)).wait()
        #expect(await iterator.next() == 4)
        await wal.close()
        #expect(await iterator.next() == nil)
    }
}
