import DLSMSCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The bounds of one spool.
public struct SpoolLimits: Sendable, Hashable {
    /// Records kept at most (appended and not yet consumed); beyond it new records are dropped.
    public var maxRecords: Int
    /// Bytes on disk kept at most (the frames of the records not yet consumed).
    public var maxBytes: Int
    /// A segment file is closed and a new one started once it holds about this many bytes.
    public var segmentBytes: Int

    public init(maxRecords: Int = 100_000, maxBytes: Int = 64 << 20, segmentBytes: Int = 1 << 20) {
        self.maxRecords = max(1, maxRecords)
        self.maxBytes = max(1, maxBytes)
        self.segmentBytes = max(4_096, segmentBytes)
    }
}

/// Where a record of a spool is: its segment (named by the sequence number of the segment's first
/// record), its offset in the segment file, and its own sequence number.
public struct SpoolPosition: Sendable, Hashable {
    public var segment: UInt64
    public var offset: Int
    public var seq: UInt64

    public init(segment: UInt64, offset: Int, seq: UInt64) {
        self.segment = segment
        self.offset = offset
        self.seq = seq
    }
}

/// One record of a spool, as its reader gets it.
public struct SpoolRecord: Sendable, Hashable {
    /// The caller's key (the webhook outbox: the event id); keys only increase.
    public var key: UInt64
    public var payload: [UInt8]
    public var seq: UInt64
    /// When it was appended (seconds since the epoch).
    public var time: Int64
}

/// A spool's figures, for the staff, the metrics and the tools.
public struct SpoolFigures: Sendable, Hashable {
    /// Records appended and not yet consumed.
    public var pending = 0
    /// Their frames' bytes (on disk, or about to be written).
    public var pendingBytes = 0
    /// Records offered and not kept, ever: beyond a bound, after a failed write, or lost to damage.
    public var dropped: Int64 = 0
    /// The highest key offered (appended or dropped); an offer with a key not above it is a duplicate.
    public var considered: UInt64 = 0
    public var segments = 0
    /// Why the last write failed, until one succeeds again.
    public var failure: String?

    public init() {}
}

/// What opening a spool did: what it read, and what it cut.
public struct SpoolOpenReport: Sendable, Hashable {
    /// Bytes of segment files read: the last segment's, and more only when records had to be cut
    /// (never the whole backlog).
    public var bytesRead = 0
    /// A torn record cut from the end of the last segment (a crash in the middle of a write).
    public var tornBytes = 0
    /// Records cut because their keys lie beyond what the caller knows to be durable.
    public var cutRecords = 0
    /// The state file was missing or damaged (the spool is rebuilt from its segments).
    public var stateMissing = false

    public init() {}
}

/// Where a spool was, for a durable state file and for a copy (backup, a new standby): the cursor,
/// the counters, and the end of what was written.
public struct SpoolCheckpoint: Sendable, Hashable {
    public var cursor: SpoolPosition
    /// The highest key consumed (a consumer's move to a key not above it reads nothing).
    public var consumed: UInt64
    public var considered: UInt64
    public var dropped: Int64
    public var end: SpoolPosition
    /// Segments written since the last sync (they are synced before the state file is written).
    var unsynced: Set<UInt64>
}

/// A durable, bounded, append-only queue of records with one consumer: segment files in one
/// directory, a cursor, and counters. The webhook outbox keeps each endpoint's events in one; the
/// mail outbox can keep its messages the same way.
///
/// **Files.** `<first seq, 20 digits>.spool` segments of about ``SpoolLimits/segmentBytes``, and
/// `state`. A record is a frame in the WAL's format (``WALFrame``: CRC-32C over header and payload,
/// kind ``frameKind``, the record's sequence number in the LSN field, the previous frame's checksum),
/// whose payload is the caller's key (8 bytes), the number of records dropped before it (8 bytes)
/// and the caller's bytes. Sequence numbers are consecutive, so a count is a subtraction and a
/// record lost to damage is counted exactly. `state` (92 bytes, CRC-32C, written by an atomic
/// rename) holds the cursor, the highest keys considered and consumed, the dropped count and the end of what was
/// written, as of the last ``sync(_:)``.
///
/// **Writes.** ``offer(key:payload:time:)`` appends a record, or drops it (counted) when the
/// spool holds ``SpoolLimits/maxRecords`` records or ``SpoolLimits/maxBytes`` bytes. Records are
/// gathered in a buffer of at most ``flushBytes`` and written with one `write`; nothing is synced
/// except by ``sync(_:)`` (the caller's log holds everything until then). A failed write is cut
/// back, its records counted as dropped, and the next offer tries again; a write that cannot be
/// cut back leaves the spool dropping (and counting) everything until it is opened again.
///
/// **Reads.** ``peek()`` returns the record at the cursor, reading the file outside the lock; a
/// damaged record is skipped and counted as dropped (by its sequence numbers). ``consume(through:)``
/// moves the cursor past records with keys up to a key and deletes the segments it leaves behind.
///
/// **Opening** reads the state file, lists the segments and reads the last one only: a torn tail
/// is cut, and records with keys beyond `keepThrough` (written before the caller's log made them
/// durable) are removed. The counters come from the state file or from the newest record,
/// whichever is later: every key up to ``SpoolFigures/considered`` is accounted for (kept or
/// counted), and the caller offers again what its log holds after it.
///
/// **Durability of the cursor.** ``consume(through:)`` moves the cursor in memory; ``sync(_:)``
/// writes it. The webhook outbox journals every delivery in the WAL and moves the cursor again at
/// replay; a consumer without a log of its own (a mail outbox) syncs after it consumes, or
/// accepts sending again what it consumed since the last sync (at least once).
///
/// The type is thread-safe; its owner serialises offers with the order of its keys.
public final class Spool: Sendable {
    public static let frameKind: UInt8 = 0x80
    public static let stateName = "state"
    /// The buffer is written once it holds this much.
    public static let flushBytes = 64 << 10
    static let stateMagic: [UInt8] = Array("DLSPOOL1".utf8)
    static let stateSize = 92
    /// Key and dropped count before the caller's bytes.
    static let recordHeader = 16

    public let directory: String
    public let limits: SpoolLimits
    let io: any StorageIO
    private let state: Mutex<State>

    struct Segment: Hashable {
        var first: UInt64
        /// Bytes written to the file.
        var size: Int
    }

    struct State {
        /// Oldest first; the last one takes the writes.
        var segments: [Segment]
        var handle: (any AppendHandle)?
        var buffer: [UInt8] = []
        var buffered = 0
        var nextSeq: UInt64
        /// The checksum of the last frame appended (buffered or written), and of the last written.
        var lastChecksum: UInt32
        var writtenChecksum: UInt32
        var cursor: SpoolPosition
        /// The highest key consumed: ``consume(through:)`` up to it reads nothing.
        var consumed: UInt64
        var considered: UInt64
        var dropped: Int64
        /// Frame bytes from the cursor's segment on, written or buffered.
        var storedBytes: Int
        var unsynced: Set<UInt64> = []
        var failure: String?
        /// A write failed and could not be cut back: every offer is dropped until a reopen.
        var broken = false
        var removed = false
        /// The record ``peek()`` returned last (``consume(through:)`` moves past it without a read).
        var lastRead: (at: SpoolPosition, key: UInt64, next: SpoolPosition)?

        var pending: Int { Int(nextSeq - cursor.seq) }
        var pendingBytes: Int { storedBytes - cursor.offset }
        var end: SpoolPosition {
            let last = segments.last ?? Segment(first: nextSeq, size: 0)
            return SpoolPosition(segment: last.first, offset: last.size, seq: nextSeq - UInt64(buffered))
        }
    }

    private init(directory: String, io: any StorageIO, limits: SpoolLimits, state: State) {
        self.directory = directory
        self.io = io
        self.limits = limits
        self.state = Mutex(state)
    }

    // MARK: - Names

    public static func segmentName(first seq: UInt64) -> String {
        let digits = String(seq)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".spool"
    }

    public static func segmentFirst(_ name: String) -> UInt64? {
        guard name.hasSuffix(".spool"), name.count == 26 else { return nil }
        return UInt64(name.dropLast(6))
    }

    func path(_ segment: UInt64) -> String { directory + "/" + Self.segmentName(first: segment) }

    // MARK: - Open, create, remove

    /// A new, empty spool in `directory` (anything there is removed first); keys up to `after`
    /// count as considered. A directory that cannot be made gives a spool that drops (and counts)
    /// every offer, with the failure in its figures.
    public static func create(directory: String, io: any StorageIO, limits: SpoolLimits, after key: UInt64 = 0)
        -> Spool
    {
        removeFiles(directory, io: io)
        var failure: String?
        do throws(StorageError) { try io.makeDirectory(directory) } catch { failure = "\(error)" }
        let spool = Spool(
            directory: directory, io: io, limits: limits,
            state: State(
                segments: [], nextSeq: 1, lastChecksum: 0, writtenChecksum: 0,
                cursor: SpoolPosition(segment: 1, offset: 0, seq: 1), consumed: key, considered: key, dropped: 0,
                storedBytes: 0))
        if let failure { spool.state.withLock { $0.failure = failure } }
        return spool
    }

    /// Opens the spool in `directory` (creating it when missing), reading only its state file and
    /// its last segment: a torn tail is cut, and records whose keys lie beyond `keepThrough` (and
    /// beyond the state file's, which was written once they were durable) are removed.
    public static func open(
        directory: String, io: any StorageIO, limits: SpoolLimits, keepThrough: UInt64? = nil
    ) throws(StorageError) -> (Spool, SpoolOpenReport) {
        try io.makeDirectory(directory)
        let (state, report) = try recover(directory: directory, io: io, keepThrough: keepThrough, readOnly: false)
        return (Spool(directory: directory, io: io, limits: limits, state: state), report)
    }

    /// The figures of the spool in `directory` as its files hold them, changing nothing (the
    /// offline tools); `nil` when there is no spool there.
    public static func inspect(directory: String, io: any StorageIO) -> (SpoolFigures, SpoolOpenReport)? {
        guard let names = try? io.list(directory), !names.isEmpty,
            let (s, report) = try? recover(directory: directory, io: io, keepThrough: nil, readOnly: true)
        else { return nil }
        return (figures(s), report)
    }

    private static func recover(directory: String, io: any StorageIO, keepThrough: UInt64?, readOnly: Bool)
        throws(StorageError) -> (State, SpoolOpenReport)
    {
        var report = SpoolOpenReport()
        let names = try io.list(directory)
        let saved = names.contains(stateName) ? (try? io.read(directory + "/" + stateName)).flatMap(decodeState) : nil
        report.stateMissing = saved == nil
        var segments: [Segment] = []
        for first in names.compactMap(segmentFirst).sorted() {
            let size = try io.fileSize(directory + "/" + segmentName(first: first))
            segments.append(Segment(first: first, size: size))
        }
        let keep = keepThrough.map { max($0, saved?.considered ?? 0) }
        let newest = try readNewest(
            directory: directory, io: io, segments: &segments, saved: saved, keep: keep, readOnly: readOnly,
            report: &report)
        let chain = newest?.checksum ?? 0
        var nextSeq = newest.map { $0.seq &+ 1 } ?? segments.last?.first ?? max(saved?.end.seq ?? 1, 1)
        if segments.isEmpty { nextSeq = max(nextSeq, saved?.cursor.seq ?? 1) }
        // The cursor: the saved one, or the start of the oldest segment left (segments are deleted
        // only once consumed), never past the end.
        let end = SpoolPosition(
            segment: segments.last?.first ?? nextSeq, offset: segments.last?.size ?? 0, seq: nextSeq)
        var cursor = end
        if let first = segments.first {
            cursor = SpoolPosition(segment: first.first, offset: 0, seq: first.first)
            if let c = saved?.cursor, let s = segments.first(where: { $0.first == c.segment }) {
                cursor = c.offset <= s.size && c.seq <= nextSeq ? c : end
            } else if let c = saved?.cursor, c.segment > segments.last!.first {
                cursor = end
            }
        }
        var considered = saved?.considered ?? 0
        var dropped = saved?.dropped ?? 0
        if let newest, newest.key > considered {
            considered = newest.key
            dropped = newest.dropped
        }
        // Segments before the cursor's are consumed: leftovers of a crash between the move and the delete.
        while let first = segments.first, first.first < cursor.segment {
            if !readOnly { try io.remove(directory + "/" + segmentName(first: first.first)) }
            segments.removeFirst()
        }
        let stored = segments.reduce(0) { $0 + $1.size }
        return (
            State(
                segments: segments, nextSeq: nextSeq, lastChecksum: chain, writtenChecksum: chain, cursor: cursor,
                consumed: min(saved?.consumed ?? 0, considered), considered: considered, dropped: dropped,
                storedBytes: stored),
            report
        )
    }

    /// The newest record of a spool's segments, from the last one that has one: a torn tail is
    /// cut, and so are frames beyond `keep` and leftovers of a write that could not be undone (a
    /// segment left empty by that is removed, and the one before it read).
    private static func readNewest(
        directory: String, io: any StorageIO, segments: inout [Segment], saved: SpoolCheckpoint?, keep: UInt64?,
        readOnly: Bool, report: inout SpoolOpenReport
    ) throws(StorageError) -> ScannedFrame? {
        while let last = segments.last {
            let path = directory + "/" + segmentName(first: last.first)
            let bytes = try io.read(path)
            report.bytesRead += bytes.count
            var frames = scan(bytes).frames
            var end = frames.last.map { $0.offset + $0.size } ?? 0
            report.tornBytes += bytes.count - end
            // A write that failed and could not be cut back may have left frames after the saved
            // end, with keys the state file already counts as considered (dropped): never records.
            if let saved, saved.end.segment == last.first,
                let cut = frames.firstIndex(where: { $0.offset >= saved.end.offset && $0.key <= saved.considered })
            {
                report.cutRecords += frames.count - cut
                end = frames[cut].offset
                frames.removeSubrange(cut...)
            }
            if let keep, let cut = frames.firstIndex(where: { $0.key > keep }) {
                report.cutRecords += frames.count - cut
                end = frames[cut].offset
                frames.removeSubrange(cut...)
            }
            if frames.isEmpty && segments.count > 1 {
                if !readOnly { try io.remove(path) }
                segments.removeLast()
                continue
            }
            if end < bytes.count && !readOnly { try io.truncate(path, to: end) }
            segments[segments.count - 1].size = end
            return frames.last
        }
        return nil
    }

    /// Reads every segment (the offline `dlsms snapshot verify`, never a start): the records, and
    /// the bytes of each segment that are no valid record (a torn tail of the last one included).
    public static func verify(directory: String, io: any StorageIO) throws(StorageError) -> (
        records: Int, damaged: [(segment: String, bytes: Int)]
    ) {
        var records = 0
        var damaged: [(String, Int)] = []
        for name in try io.list(directory) where segmentFirst(name) != nil {
            let (frames, skipped) = scan(try io.read(directory + "/" + name))
            records += frames.count
            if skipped > 0 { damaged.append((name, skipped)) }
        }
        return (records, damaged)
    }

    /// A spool that could not be opened: it drops (and counts) every offer, reports `reason`, and
    /// leaves the files in `directory` as they are.
    public static func unavailable(directory: String, io: any StorageIO, limits: SpoolLimits, reason: String) -> Spool {
        var s = State(
            segments: [], nextSeq: 1, lastChecksum: 0, writtenChecksum: 0,
            cursor: SpoolPosition(segment: 1, offset: 0, seq: 1), consumed: 0, considered: 0, dropped: 0,
            storedBytes: 0)
        s.broken = true
        s.failure = reason
        return Spool(directory: directory, io: io, limits: limits, state: s)
    }

    /// Removes the spool's files and its directory; later offers are ignored.
    public func remove() {
        state.withLock { s in
            s.removed = true
            s.handle?.close()
            s.handle = nil
            s.buffer = []
        }
        Self.removeFiles(directory, io: io)
    }

    static func removeFiles(_ directory: String, io: any StorageIO) {
        guard let names = try? io.list(directory) else { return }
        for name in names { try? io.remove(directory + "/" + name) }
        try? io.removeDirectory(directory)
    }

    // MARK: - Writing

    public enum Offer: Sendable, Hashable {
        case appended
        /// Not kept: a bound was reached, or the write failed; counted in ``SpoolFigures/dropped``.
        case dropped
        /// The key was offered before (replay): nothing changes.
        case duplicate
    }

    /// Appends a record with `key` (higher than every key offered before), or drops it, counted,
    /// when the spool is full.
    @discardableResult
    public func offer(key: UInt64, payload: [UInt8], time: Int64) -> Offer {
        state.withLock { s in
            guard !s.removed, key > s.considered else { return .duplicate }
            s.considered = key
            let size = WALFrame.headerSize + Self.recordHeader + payload.count
            guard !s.broken, s.pending < limits.maxRecords, s.pendingBytes + size <= limits.maxBytes,
                size - WALFrame.headerSize <= WALFrame.maxPayload
            else {
                s.dropped += 1
                return .dropped
            }
            // A new segment once this one is full (its frames written first).
            if let last = s.segments.last, last.size + s.buffer.count > 0,
                last.size + s.buffer.count + size > limits.segmentBytes
            {
                flush(&s)
                if s.broken { return dropOne(&s) }
                s.handle?.close()
                s.handle = nil
                s.segments.append(Segment(first: s.nextSeq, size: 0))
            } else if s.segments.isEmpty {
                s.segments.append(Segment(first: s.nextSeq, size: 0))
                if s.cursor.seq == s.nextSeq { s.cursor = SpoolPosition(segment: s.nextSeq, offset: 0, seq: s.nextSeq) }
            }
            var w = ByteWriter(capacity: Self.recordHeader + payload.count)
            w.u64(key)
            w.u64(UInt64(bitPattern: s.dropped))
            w.bytes(payload)
            s.lastChecksum = WALFrame.append(
                kind: Self.frameKind, payload: w.bytes, lsn: s.nextSeq, time: time, previousChecksum: s.lastChecksum,
                to: &s.buffer)
            s.nextSeq += 1
            s.buffered += 1
            s.storedBytes += size
            if s.buffer.count >= Self.flushBytes {
                let before = s.dropped
                flush(&s)
                if s.dropped > before { return .dropped }
            }
            return .appended
        }
    }

    private func dropOne(_ s: inout State) -> Offer {
        s.dropped += 1
        return .dropped
    }

    /// Writes the buffer to the last segment. A failed write is cut back and its records counted
    /// as dropped; a cut that fails too leaves the spool broken (dropping every offer).
    private func flush(_ s: inout State) {
        guard !s.buffer.isEmpty, !s.removed, let segment = s.segments.last else { return }
        let path = self.path(segment.first)
        do throws(StorageError) {
            if s.handle == nil { s.handle = try io.openForAppend(path) }
            try s.buffer.withBytes { (raw) throws(StorageError) in try s.handle!.write(raw) }
            s.segments[s.segments.count - 1].size += s.buffer.count
            s.writtenChecksum = s.lastChecksum
            s.unsynced.insert(segment.first)
            s.failure = nil
        } catch {
            s.failure = "\(error)"
            if let handle = s.handle {
                do throws(StorageError) { try handle.truncate(to: segment.size) } catch { s.broken = true }
            } else if (try? io.fileSize(path)).map({ $0 != segment.size }) ?? false {
                s.broken = true
            }
            s.dropped += Int64(s.buffered)
            s.nextSeq -= UInt64(s.buffered)
            s.lastChecksum = s.writtenChecksum
            s.storedBytes -= s.buffer.count
            if s.lastRead.map({ $0.next.seq > s.nextSeq }) ?? false { s.lastRead = nil }
        }
        s.buffer.removeAll(keepingCapacity: s.buffer.count <= Self.flushBytes * 2)
        s.buffered = 0
    }

    /// Writes what is buffered (no sync).
    public func flush() { state.withLock { flush(&$0) } }

    // MARK: - Reading

    /// The oldest record not yet consumed, read from its file outside the lock; `nil` when none
    /// is pending. Damaged or unreadable records on the way are skipped and counted as dropped.
    public func peek() -> SpoolRecord? {
        while true {
            let start: (SpoolPosition, [Segment], UInt64)? = state.withLock { s in
                guard !s.removed, s.pending > 0 else { return nil }
                if let last = s.segments.last, s.cursor.segment == last.first, s.cursor.offset >= last.size {
                    flush(&s)
                    guard s.pending > 0 else { return nil }
                }
                return (s.cursor, s.segments, s.end.seq)
            }
            guard let (cursor, segments, endSeq) = start else { return nil }
            let found = read(at: cursor, segments: segments, endSeq: endSeq)
            let done: Bool = state.withLock { s in
                guard s.cursor == cursor, !s.removed else { return false }  // moved meanwhile: look again
                switch found {
                case .record(let record, let at, let next):
                    if at != cursor { skip(to: at, in: &s) }
                    s.lastRead = (at, record.key, next)
                    return true
                case .skip(let to):
                    skip(to: to, in: &s)
                    return false
                case .end:
                    return true
                }
            }
            if done, case .record(let record, _, _) = found { return record }
            if done { return nil }
        }
    }

    enum Found {
        case record(SpoolRecord, at: SpoolPosition, next: SpoolPosition)
        /// Nothing readable before this position: what lies between is lost.
        case skip(to: SpoolPosition)
        /// Nothing written at or after the position (yet).
        case end
    }

    /// The record at `position`, or where the next readable one is (files only: no lock, so that
    /// it can run with or without it). `endSeq` is the sequence number after the last written record.
    func read(at position: SpoolPosition, segments: [Segment], endSeq: UInt64) -> Found {
        guard let index = segments.firstIndex(where: { $0.first == position.segment }) else {
            guard let next = segments.first(where: { $0.first > position.segment }) else { return .end }
            return .skip(to: SpoolPosition(segment: next.first, offset: 0, seq: max(next.first, position.seq)))
        }
        let segment = segments[index]
        let nextSegment = index + 1 < segments.count ? segments[index + 1] : nil
        let after = nextSegment.map { SpoolPosition(segment: $0.first, offset: 0, seq: max($0.first, position.seq)) }
        if position.offset >= segment.size { return after.map { .skip(to: $0) } ?? .end }
        let path = self.path(segment.first)
        let want = min(segment.size - position.offset, 4_096)
        guard var bytes = try? io.read(path, offset: position.offset, count: want) else {
            return .skip(to: after ?? lostToEnd(segment, position, endSeq))
        }
        if bytes.count >= 8 {
            let length = bytes.withUnsafeBytes {
                Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
            }
            let whole = WALFrame.headerSize + length
            if whole > bytes.count, length <= WALFrame.maxPayload, position.offset + whole <= segment.size,
                let rest = try? io.read(path, offset: position.offset + bytes.count, count: whole - bytes.count)
            {
                bytes += rest
            }
        }
        if let f = Self.frame(in: bytes, at: 0), f.frame.seq >= position.seq {
            let at = SpoolPosition(segment: segment.first, offset: position.offset, seq: f.frame.seq)
            let next = SpoolPosition(
                segment: segment.first, offset: position.offset + f.frame.size, seq: f.frame.seq &+ 1)
            return .record(f.record, at: at, next: next)
        }
        // Damaged: the next valid frame of this segment, else the next segment.
        guard let rest = try? io.read(path, offset: position.offset, count: segment.size - position.offset) else {
            return .skip(to: after ?? lostToEnd(segment, position, endSeq))
        }
        var o = 1
        while o + WALFrame.headerSize <= rest.count {
            if let f = Self.frame(in: rest, at: o), f.frame.seq >= position.seq {
                return .skip(to: SpoolPosition(segment: segment.first, offset: position.offset + o, seq: f.frame.seq))
            }
            o += 1
        }
        return .skip(to: after ?? lostToEnd(segment, position, endSeq))
    }

    /// Past the end of the last segment's written frames (nothing readable is left in it).
    private func lostToEnd(_ segment: Segment, _ position: SpoolPosition, _ endSeq: UInt64) -> SpoolPosition {
        SpoolPosition(segment: segment.first, offset: segment.size, seq: max(endSeq, position.seq))
    }

    /// Moves the cursor to `to`, counting the records passed over as dropped, and deletes the
    /// segments left behind.
    private func skip(to: SpoolPosition, in s: inout State) {
        guard to.seq >= s.cursor.seq else { return }
        s.dropped += Int64(to.seq - s.cursor.seq)
        move(to: to, in: &s)
    }

    private func move(to position: SpoolPosition, in s: inout State) {
        s.cursor = position
        s.lastRead = nil
        while let first = s.segments.first, first.first < position.segment {
            try? io.remove(path(first.first))
            s.storedBytes -= first.size
            s.unsynced.remove(first.first)
            s.segments.removeFirst()
        }
    }

    /// Consumes the records with keys up to `key` (delivered, or given up): the cursor moves past
    /// them, and segments left behind are deleted. Returns how many were consumed.
    @discardableResult
    public func consume(through key: UInt64) -> Int {
        state.withLock { s in
            var consumed = 0
            guard key > s.consumed else { return 0 }
            defer { s.consumed = max(s.consumed, min(key, s.considered)) }
            while !s.removed, s.pending > 0 {
                if let r = s.lastRead, r.at == s.cursor {
                    guard r.key <= key else { break }
                    move(to: r.next, in: &s)
                    consumed += 1
                    continue
                }
                if let last = s.segments.last, s.cursor.segment == last.first, s.cursor.offset >= last.size {
                    flush(&s)
                    guard s.pending > 0 else { break }
                }
                switch read(at: s.cursor, segments: s.segments, endSeq: s.end.seq) {
                case .record(let record, let at, let next):
                    guard record.key <= key else {
                        if at != s.cursor { skip(to: at, in: &s) }
                        s.lastRead = (at, record.key, next)
                        return consumed
                    }
                    if at != s.cursor { skip(to: at, in: &s) }
                    move(to: next, in: &s)
                    consumed += 1
                case .skip(let to): skip(to: to, in: &s)
                case .end: return consumed
                }
            }
            // At the end of a segment that is not the last: start the next one.
            if let i = s.segments.firstIndex(where: { $0.first == s.cursor.segment }), i + 1 < s.segments.count,
                s.cursor.offset >= s.segments[i].size
            {
                let next = s.segments[i + 1].first
                move(to: SpoolPosition(segment: next, offset: 0, seq: max(next, s.cursor.seq)), in: &s)
            }
            return consumed
        }
    }

    /// Consumes the records with keys up to `key` and counts them as dropped (records that
    /// cannot be used although their checksum holds).
    public func discard(through key: UInt64) {
        let n = consume(through: key)
        state.withLock { $0.dropped += Int64(n) }
    }

    // MARK: - Figures, durability, copies

    public var figures: SpoolFigures { state.withLock { Self.figures($0) } }

    static func figures(_ s: State) -> SpoolFigures {
        var f = SpoolFigures()
        f.pending = s.pending
        f.pendingBytes = s.pendingBytes
        f.dropped = s.dropped
        f.considered = s.considered
        f.segments = s.segments.count
        f.failure =
            s.broken
            ? "writes failed and could not be undone (\(s.failure ?? "?")); reopened at the next start" : s.failure
        return f
    }

    /// Writes what is buffered and notes where the spool is (for ``sync(_:)`` or a copy).
    public func checkpoint() -> SpoolCheckpoint {
        state.withLock { s in
            flush(&s)
            let c = SpoolCheckpoint(
                cursor: s.cursor, consumed: s.consumed, considered: s.considered, dropped: s.dropped, end: s.end,
                unsynced: s.unsynced)
            s.unsynced = []
            return c
        }
    }

    /// Makes `checkpoint` durable: syncs the segments written before it, then writes the state
    /// file (atomically). Call it only once the caller's log holds every key up to the
    /// checkpoint's ``SpoolCheckpoint/considered`` durably: opening trusts the state file's.
    public func sync(_ checkpoint: SpoolCheckpoint) throws(StorageError) {
        do throws(StorageError) {
            for segment in checkpoint.unsynced.sorted() {
                do throws(StorageError) {
                    try io.syncFile(path(segment))
                } catch  where error.errno == ENOENT {
                    continue  // consumed and deleted meanwhile
                }
            }
            guard !state.withLock({ $0.removed }) else { return }
            try io.writeAtomically(directory + "/" + Self.stateName, Self.encodeState(checkpoint))
            // The spool's own directory entry (a new spool's), with its segments' names: the rename
            // above synced the directory itself.
            if let slash = directory.lastIndex(of: "/"), slash != directory.startIndex {
                try io.syncDirectory(String(directory[..<slash]))
            }
        } catch {
            state.withLock { $0.unsynced.formUnion(checkpoint.unsynced) }
            throw error
        }
    }

    /// The files of a copy of this spool as of `checkpoint` (a backup, a new standby): the
    /// segments from the cursor's to the end's (the last one cut at the end), then the state file.
    /// A segment consumed and deleted meanwhile is left out (opening the copy starts after it).
    public func export(at checkpoint: SpoolCheckpoint, _ visit: (String, [UInt8]) async throws -> Void) async throws {
        let segments = state.withLock { $0.segments.map(\.first) }
        for first in segments where first >= checkpoint.cursor.segment && first <= checkpoint.end.segment {
            guard var bytes = try? io.read(path(first)) else { continue }
            if first == checkpoint.end.segment { bytes = Array(bytes.prefix(checkpoint.end.offset)) }
            try await visit(Self.segmentName(first: first), bytes)
        }
        try await visit(Self.stateName, Self.encodeState(checkpoint))
    }

    // MARK: - Frames and the state file

    struct ScannedFrame {
        var offset: Int
        var size: Int
        var seq: UInt64
        var key: UInt64
        var dropped: Int64
        var checksum: UInt32
    }

    /// The spool frame at `offset` of `bytes`, if a valid one starts there.
    static func frame(in bytes: [UInt8], at offset: Int) -> (frame: ScannedFrame, record: SpoolRecord)? {
        let parsed = bytes.withUnsafeBytes { WALFrame.parse($0, at: offset) }
        guard case .frame(let f) = parsed, f.kind == frameKind, f.payload.count >= recordHeader else { return nil }
        let (key, dropped) = f.payload.withUnsafeBytes {
            (
                UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                Int64(bitPattern: UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            )
        }
        return (
            ScannedFrame(offset: offset, size: f.size, seq: f.lsn, key: key, dropped: dropped, checksum: f.checksum),
            SpoolRecord(key: key, payload: Array(f.payload[recordHeader...]), seq: f.lsn, time: f.time)
        )
    }

    /// Every valid frame of a segment's bytes, resynchronising after damage.
    static func scan(_ bytes: [UInt8]) -> (frames: [ScannedFrame], skipped: Int) {
        var frames: [ScannedFrame] = []
        var skipped = 0
        var o = 0
        while o < bytes.count {
            if let f = frame(in: bytes, at: o) {
                frames.append(f.frame)
                o += f.frame.size
            } else {
                o += 1
                skipped += 1
            }
        }
        return (frames, skipped)
    }

    static func encodeState(_ c: SpoolCheckpoint) -> [UInt8] {
        var w = ByteWriter(capacity: stateSize)
        w.bytes(stateMagic)
        w.u32(1)
        w.u32(0)
        for p in [c.cursor, c.end] {
            w.u64(p.segment)
            w.u64(UInt64(p.offset))
            w.u64(p.seq)
        }
        w.u64(c.considered)
        w.u64(UInt64(bitPattern: c.dropped))
        w.u64(c.consumed)
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    static func decodeState(_ bytes: [UInt8]) -> SpoolCheckpoint? {
        guard bytes.count == stateSize, Array(bytes[0..<8]) == stateMagic else { return nil }
        return bytes.withUnsafeBytes { raw -> SpoolCheckpoint? in
            var r = ByteReader(UnsafeRawBufferPointer(rebasing: raw[8...]))
            do throws(RecordCodec.DecodingError) {
                guard try r.u32() == 1 else { return nil }
                _ = try r.u32()
                var p: [SpoolPosition] = []
                for _ in 0..<2 {
                    let segment = try r.u64()
                    let offset = try r.u64()
                    let seq = try r.u64()
                    guard offset < 1 << 40 else { return nil }
                    p.append(SpoolPosition(segment: segment, offset: Int(offset), seq: seq))
                }
                let considered = try r.u64()
                let dropped = Int64(bitPattern: try r.u64())
                let consumed = try r.u64()
                let crc = try r.u32()
                guard crc == CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<(stateSize - 4)])) else {
                    return nil
                }
                return SpoolCheckpoint(
                    cursor: p[0], consumed: consumed, considered: considered, dropped: dropped, end: p[1],
                    unsynced: [])
            } catch {
                return nil
            }
        }
    }
}
