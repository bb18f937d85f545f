import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Synchronization
import Testing

@Suite struct WALTests {
    /// Appends `n` reservation records to a fresh log in `dir` and closes it.
    /// With `waitEach`, every record is its own batch (so segments rotate at their size).
    static func writeLog(_ dir: String, _ n: Int, segmentBytes: Int = 64 << 20, waitEach: Bool = false) async throws
        -> [JournalRecord]
    {
        let wal = try WriteAheadLog(
            configuration: WALConfiguration(directory: dir, segmentBytes: segmentBytes), nextLSN: 1, lastChecksum: 0,
            now: { t0 })
        var records: [JournalRecord] = []
        var last = JournalTicket.durable
        for i in 1...n {
            let r = JournalRecord.reservationCreated(
                Reservation(
                    id: ReservationID(i), seatID: 1, userID: 1, start: t0 + Int64(i) * 3_600,
                    end: t0 + Int64(i) * 3_600 + 900, createdAt: t0))
            records.append(r)
            last = try wal.append(r)
            if waitEach { try await last.wait() }
        }
        try await last.wait()
        await wal.close()
        return records
    }

    @Test func appendedRecordsComeBackInOrderWithAnUnbrokenChain() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let written = try await Self.writeLog(dir, 500, segmentBytes: 4_096, waitEach: true)
        let state = try DataDirectory(path: dir).recover()
        #expect(state.records.map(\.record) == written)
        #expect(state.records.map(\.lsn) == Array(1...500))
        #expect(state.tornTail == nil && state.lastLSN == 500)
        #expect(try DataDirectory(path: dir).segments().count > 5)  // rotation happened
    }

    @Test func tornLastRecordAtEveryByteOffsetIsCutOff() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let written = try await Self.writeLog(dir, 20)
        let segment = dir + "/" + segmentName(firstLSN: 1)
        let full = try PosixIO().read(segment)
        let lastSize = WALFrame.headerSize + RecordCodec.encode(written.last!).count
        let boundary = full.count - lastSize
        for cut in boundary..<full.count {
            let copy = temporaryDirectory("torn\(cut)")
            defer { cleanup(copy) }
            try PosixIO().writeAtomically(copy + "/" + segmentName(firstLSN: 1), Array(full[..<cut]))
            let state = try DataDirectory(path: copy).recover()
            #expect(state.records.count == 19, "cut at \(cut)")
            if cut > boundary {
                #expect(
                    state.tornTail?.offset == boundary && state.tornTail?.file == segmentName(firstLSN: 1),
                    "cut at \(cut)")
            } else {
                #expect(state.tornTail == nil)
            }
            #expect(try PosixIO().fileSize(copy + "/" + segmentName(firstLSN: 1)) == boundary)
            // Appending continues the chain where the valid records end.
            let wal = try WriteAheadLog(
                configuration: WALConfiguration(directory: copy), nextLSN: state.lastLSN + 1,
                lastChecksum: state.lastChecksum,
                currentSegment: state.currentSegment, now: { t0 })
            try await wal.append(written.last!).wait()
            await wal.close()
            #expect(try DataDirectory(path: copy).recover().records.map(\.record) == written, "cut at \(cut)")
        }
    }

    @Test func aBitFlipInTheMiddleIsCorruptionNamingFileAndOffset() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let written = try await Self.writeLog(dir, 30)
        let name = segmentName(firstLSN: 1)
        var bytes = try PosixIO().read(dir + "/" + name)
        let offset = written[..<10].reduce(0) { $0 + WALFrame.headerSize + RecordCodec.encode($1).count }
        bytes[offset + 40] ^= 0x01  // inside record 11's payload
        try PosixIO().writeAtomically(dir + "/" + name, bytes)
        #expect {
            try DataDirectory(path: dir).recover()
        } throws: { error in
            guard case RecoveryError.corruption(let file, let at, _) = error else { return false }
            return file == name && at == offset
        }
        // A flip in the last record only is indistinguishable from a torn write: cut, not refused.
        var tail = try PosixIO().read(dir + "/" + name)
        tail[offset + 40] ^= 0x01
        tail[tail.count - 3] ^= 0x01
        try PosixIO().writeAtomically(dir + "/" + name, tail)
        #expect(try DataDirectory(path: dir).recover().records.count == 29)
    }

    @Test func aMissingSegmentIsRefused() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        _ = try await Self.writeLog(dir, 300, segmentBytes: 2_048, waitEach: true)
        let segments = try DataDirectory(path: dir).segments()
        #expect(segments.count >= 3)
        try PosixIO().remove(dir + "/" + segments[1].name)
        #expect {
            try DataDirectory(path: dir).recover()
        } throws: { error in
            guard case RecoveryError.missingRecords(let after, let next, _) = error else { return false }
            return after == segments[1].firstLSN - 1 && next == segments[2].firstLSN
        }
        // The first segment missing with no snapshot to start from is refused too.
        try PosixIO().remove(dir + "/" + segments[0].name)
        #expect(throws: RecoveryError.self) { try DataDirectory(path: dir).recover() }
    }
}
