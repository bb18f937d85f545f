import DLSMSCore

/// Why a data directory cannot be opened as it is.
public enum RecoveryError: Error, Sendable, CustomStringConvertible {
    /// An invalid record with valid records after it: not a torn write. Repair cuts the log there.
    case corruption(file: String, offset: Int, reason: String)
    /// The log skips LSNs: a segment file is missing.
    case missingRecords(after: UInt64, nextFound: UInt64, file: String)
    case storage(StorageError)
    case undecodable(file: String, offset: Int, reason: String)
    /// Snapshots are there but none is valid: what the oldest one held (the seed data, what came
    /// before the oldest log segment) is not in the log.
    case noValidSnapshot(damaged: [String])

    public var description: String {
        switch self {
        case .corruption(let file, let offset, let reason):
            return "corrupt WAL record in \(file) at offset \(offset) (\(reason)), with valid records after it. "
                + "This is not a torn write. Inspect with `dlsms snapshot verify`; "
                + "`dlsms snapshot repair` cuts the log at that record, losing what follows it."
        case .missingRecords(let after, let next, let file):
            return "the WAL jumps from LSN \(after) to \(next) at \(file): a segment is missing. "
                + "`dlsms snapshot repair` cuts the log before the gap."
        case .storage(let e): return "storage: \(e)"
        case .undecodable(let file, let offset, let reason):
            return "WAL record in \(file) at offset \(offset) has a valid checksum but cannot be decoded (\(reason))"
        case .noValidSnapshot(let damaged):
            return "every snapshot is damaged (\(damaged.joined(separator: ", "))): starting from the log alone "
                + "would lose what they held. Restore a backup (`dlsms snapshot restore`), or move the damaged "
                + "snapshots out of the data directory to start from the log alone, knowingly."
        }
    }
}

/// Where replay stops (point-in-time restore).
public enum StopPoint: Sendable, Hashable {
    case lsn(UInt64)
    /// The last record appended at or before this time (seconds since the epoch).
    case time(Timestamp)
}

/// A WAL record as recovery hands it over.
public struct LoggedRecord: Sendable {
    public var lsn: UInt64
    public var time: Timestamp
    public var checksum: UInt32
    public var record: JournalRecord
}

/// What a data directory holds, read and checked, ready to be applied.
public struct RecoveredState: Sendable {
    public var snapshotName: String?
    public var snapshot: SnapshotHeader?
    public var snapshotRecords: [JournalRecord] = []
    /// Newer snapshots that failed verification, newest first, with the reason.
    public var damagedSnapshots: [(name: String, reason: String)] = []
    /// WAL records after the snapshot, in LSN order.
    public var records: [LoggedRecord] = []
    /// A torn tail that was (or, read-only, would be) cut: file, offset, bytes.
    public var tornTail: (file: String, offset: Int, bytes: Int)?
    /// The LSN and checksum of the last record, and the segment appends continue in.
    public var lastLSN: UInt64 = 0
    public var lastChecksum: UInt32 = 0
    public var currentSegment: String?
}

/// Lists and reads the files of a data directory.
public struct DataDirectory: Sendable {
    public let path: String
    public let io: any StorageIO

    public init(path: String, io: any StorageIO = PosixIO()) {
        self.path = path
        self.io = io
    }

    public func file(_ name: String) -> String { path + "/" + name }

    /// Snapshot files, newest (highest covered LSN) first.
    public func snapshots() throws(StorageError) -> [(name: String, coveredLSN: UInt64)] {
        try io.list(path).compactMap { n in SnapshotFile.coveredLSN(ofName: n).map { (n, $0) } }.sorted { $0.1 > $1.1 }
    }

    /// WAL segments, oldest first.
    public func segments() throws(StorageError) -> [(name: String, firstLSN: UInt64)] {
        try io.list(path).compactMap { n in segmentFirstLSN(n).map { (n, $0) } }.sorted { $0.1 < $1.1 }
    }

    /// What the segments hold after `lsn` (for a standby catching up): whole frames up to `durable`
    /// and about `maxBytes`, with the checksum of the frame at `lsn` when a segment still has it.
    /// `nil` when the segments no longer reach back to `lsn + 1` (a snapshot must be sent first).
    public func frames(after lsn: UInt64, upTo durable: UInt64, maxBytes: Int) throws(StorageError) -> (
        bytes: [UInt8], last: UInt64, checksumAtLSN: UInt32?
    )? {
        let segments = try segments()
        guard let index = segments.lastIndex(where: { $0.firstLSN <= lsn + 1 }) else { return nil }
        var out: [UInt8] = []
        var last = lsn
        var checksumAt: UInt32?
        for segment in segments[index...] {
            let scan = SegmentScan.scan(try io.read(file(segment.name)))
            for frame in scan.frames where frame.lsn <= durable {
                if frame.lsn == lsn { checksumAt = frame.checksum }
                guard frame.lsn > lsn, frame.lsn == last + 1 else { continue }
                out += frame.bytes
                last = frame.lsn
                if out.count >= maxBytes { return (out, last, checksumAt) }
            }
        }
        return (out, last, checksumAt)
    }

    public var isEmpty: Bool { ((try? snapshots().isEmpty) ?? true) && ((try? segments().isEmpty) ?? true) }

    /// Reads the newest valid snapshot and the WAL after it, checking every checksum and the chain.
    ///
    /// - A damaged newest snapshot is skipped (reported in `damagedSnapshots`) for an older one;
    ///   when none is valid, recovery refuses (``RecoveryError/noValidSnapshot(damaged:)``).
    /// - An invalid last record with nothing valid after it is a torn write: it is cut off when
    ///   `repairTornTail` is set (and reported either way).
    /// - An invalid record followed by valid ones, or a gap in the LSNs, is corruption: an error.
    public func recover(until stop: StopPoint? = nil, repairTornTail: Bool = true) throws(RecoveryError)
        -> RecoveredState
    {
        var state = RecoveredState()
        do {
            try readSnapshot(until: stop, into: &state)
            if state.snapshot == nil && !state.damagedSnapshots.isEmpty {
                throw RecoveryError.noValidSnapshot(damaged: state.damagedSnapshots.map(\.name))
            }
            let segments = try segments()
            // Segments that may hold records after the snapshot: from the last one starting at or before it.
            let startIndex = segments.lastIndex { $0.firstLSN <= state.lastLSN + 1 } ?? 0
            var expectChain = state.snapshot != nil || state.lastLSN == 0
            for (i, segment) in segments.enumerated() where i >= startIndex {
                let bytes = try io.read(file(segment.name))
                let scan = SegmentScan.scan(bytes)
                let isLast = i == segments.count - 1
                if let first = scan.frames.first {
                    if first.lsn > state.lastLSN + 1 {
                        throw RecoveryError.missingRecords(
                            after: state.lastLSN, nextFound: first.lsn, file: segment.name)
                    }
                }
                try readFrames(of: scan, in: segment.name, until: stop, expectChain: &expectChain, into: &state)
                if let problem = scan.problem {
                    let laterValid = segments[(i + 1)...].contains { s in
                        guard let b = try? io.read(file(s.name)) else { return false }
                        return !SegmentScan.scan(b).frames.isEmpty
                    }
                    if !isLast && laterValid || scan.validAfterProblem {
                        throw RecoveryError.corruption(
                            file: segment.name, offset: problem.offset, reason: problem.reason)
                    }
                    state.tornTail = (segment.name, problem.offset, bytes.count - problem.offset)
                    if repairTornTail && stop == nil { try io.truncate(file(segment.name), to: problem.offset) }
                    if !isLast { break }
                }
                if isLast { state.currentSegment = segment.name }
            }
        } catch let e as RecoveryError {
            throw e
        } catch let e as StorageError {
            throw .storage(e)
        } catch {
            throw .storage(StorageError("recover", path, errno: 0))
        }
        return state
    }

    /// The newest snapshot that is valid and not past `stop`, into `state` (with the damaged ones
    /// skipped for it).
    private func readSnapshot(until stop: StopPoint?, into state: inout RecoveredState) throws(StorageError) {
        for (name, covered) in try snapshots() {
            if case .lsn(let n) = stop, covered > n { continue }
            do throws(SnapshotError) {
                let bytes: [UInt8]
                do { bytes = try io.read(file(name)) } catch { throw SnapshotError.damaged("\(error)") }
                let (header, records) = try SnapshotFile.decode(bytes)
                if case .time(let t) = stop, header.createdAt > t { continue }
                state.snapshotName = name
                state.snapshot = header
                state.snapshotRecords = records
                state.lastLSN = header.coveredLSN
                state.lastChecksum = header.chainChecksum
                break
            } catch {
                state.damagedSnapshots.append((name, error.description))
            }
        }
    }

    /// The records of one segment after `state.lastLSN`, up to `stop`, into `state`: each must
    /// follow the one before it, chain to its checksum (once `expectChain`) and decode.
    private func readFrames(
        of scan: SegmentScan, in segment: String, until stop: StopPoint?, expectChain: inout Bool,
        into state: inout RecoveredState
    ) throws(RecoveryError) {
        for (k, frame) in scan.frames.enumerated() where frame.lsn > state.lastLSN {
            if case .lsn(let n) = stop, frame.lsn > n { break }
            if case .time(let t) = stop, frame.time > t { break }
            if frame.lsn != state.lastLSN + 1 {
                throw RecoveryError.missingRecords(after: state.lastLSN, nextFound: frame.lsn, file: segment)
            }
            if expectChain && frame.previousChecksum != state.lastChecksum {
                let offset = scan.frames[..<k].reduce(0) { $0 + $1.size }
                throw RecoveryError.corruption(
                    file: segment, offset: offset, reason: "hash chain broken at LSN \(frame.lsn)")
            }
            expectChain = true
            let record: JournalRecord
            do {
                record = try frame.record()
            } catch {
                let offset = scan.frames[..<k].reduce(0) { $0 + $1.size }
                throw RecoveryError.undecodable(file: segment, offset: offset, reason: error.reason)
            }
            state.records.append(
                LoggedRecord(lsn: frame.lsn, time: frame.time, checksum: frame.checksum, record: record))
            state.lastLSN = frame.lsn
            state.lastChecksum = frame.checksum
        }
    }
}
