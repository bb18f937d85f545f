import DLSMSCore
import Dispatch
import Foundation
import Synchronization

/// When an acknowledged write is on disk, and what a crash can lose.
public enum FsyncPolicy: Sendable, Hashable, CustomStringConvertible {
    /// `always`, `none`, or `interval` / `interval:MS` (MS in 1…60000, default 10).
    public init?(text: String) {
        switch text {
        case "always": self = .always
        case "none": self = .none
        case "interval": self = .interval(milliseconds: 10)
        default:
            guard text.hasPrefix("interval:"), let ms = Int(text.dropFirst(9)), (1...60_000).contains(ms) else {
                return nil
            }
            self = .interval(milliseconds: ms)
        }
    }

    /// Acknowledge only after `fdatasync` of the batch holding the record (group commit).
    /// Loses nothing acknowledged, on `kill -9` or power loss.
    case always
    /// Acknowledge once the record is written to the OS; `fdatasync` every `milliseconds`.
    /// Survives `kill -9`; a power loss can lose up to that interval.
    case interval(milliseconds: Int)
    /// Acknowledge once written to the OS and never sync (until shutdown or segment rotation).
    /// Survives `kill -9`; a power loss loses whatever the kernel had not flushed (tens of seconds).
    case none

    public var description: String {
        switch self {
        case .always: return "always"
        case .interval(let ms): return "interval(\(ms) ms)"
        case .none: return "none"
        }
    }
}

public struct WALConfiguration: Sendable {
    public var directory: String
    public var fsync: FsyncPolicy
    /// A new segment file starts once the current one holds this many bytes.
    public var segmentBytes: Int
    /// One batch (one `write`, one `fdatasync`) holds at most this many records…
    public var maxBatchRecords: Int
    /// …and this many bytes (a single larger record still goes alone).
    public var maxBatchBytes: Int

    public init(
        directory: String, fsync: FsyncPolicy = .always, segmentBytes: Int = 64 << 20, maxBatchRecords: Int = 8_192,
        maxBatchBytes: Int = 4 << 20
    ) {
        self.directory = directory
        self.fsync = fsync
        self.segmentBytes = segmentBytes
        self.maxBatchRecords = maxBatchRecords
        self.maxBatchBytes = maxBatchBytes
    }
}

/// The name of the WAL segment whose first record has LSN `lsn`.
public func segmentName(firstLSN lsn: UInt64) -> String {
    let digits = String(lsn)
    return "wal-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
}

/// The first LSN of a segment file name, or `nil` if it is not one.
public func segmentFirstLSN(_ name: String) -> UInt64? {
    guard name.hasPrefix("wal-"), name.hasSuffix(".log") else { return nil }
    return UInt64(name.dropFirst(4).dropLast(4))
}

/// Decides when a record may be acknowledged to its writer: in a replicated cluster, once it is
/// durable here (``WriteAheadLog/waitLocallyDurable(_:)``, which the gate must wait for), once a
/// standby has it too (`sync` mode), and while this node's lease as primary holds. Called once
/// per waiter; throwing refuses the acknowledgement.
public protocol AcknowledgementGate: Sendable {
    func acknowledge(_ lsn: UInt64) async throws(EngineError)
}

/// What ``WriteAheadLog/feedFrames(after:maxBytes:)`` found.
public enum FeedRead: Sendable {
    /// Whole frames, as they are on disk, from the one after the asked LSN; `last` is the LSN of
    /// the last of them.
    case frames([UInt8], last: UInt64)
    /// Nothing durable after the asked LSN yet.
    case caughtUp
    /// The frame after the asked LSN has left the memory feed: read the segments.
    case notInMemory
}

/// The write-ahead log: the engine's ``Journal`` on disk, with group commit.
///
/// `append` (called inside a shard's actor turn) frames the record, chains its checksum to the
/// previous record, and queues it; it never blocks on I/O. One writer thread takes everything
/// queued — up to ``WALConfiguration/maxBatchRecords`` records and
/// ``WALConfiguration/maxBatchBytes`` bytes — writes it with one `write`, syncs it with one
/// `fdatasync` (policy `always`), and then releases every waiter of that batch. While it syncs,
/// the next batch accumulates, so the batch size follows the load.
///
/// After a failed write or sync the log refuses every further append and fails every waiter:
/// it never retries and pretends. The process must restart; recovery finds the durable prefix.
public final class WriteAheadLog: Journal, Sendable {
    public let configuration: WALConfiguration
    private let io: any StorageIO
    private let now: @Sendable () -> Timestamp
    private let wake = DispatchSemaphore(value: 0)
    private let stopped = DispatchSemaphore(value: 0)
    private let state: Mutex<State>

    private struct Waiter {
        var lsn: UInt64
        var continuation: CheckedContinuation<EngineError?, Never>
    }

    private struct State {
        var buffer: [UInt8] = []
        var frameEnds: [Int] = []  // end offset in `buffer` of each queued frame
        var nextLSN: UInt64
        var lastChecksum: UInt32
        var durableLSN: UInt64
        /// Written to the file, maybe not yet synced: what standbys may read (they sync it
        /// themselves while this node does).
        var writtenLSN: UInt64
        var waiters: [Waiter] = []
        var failure: EngineError?
        /// What failed, with the file (for the operator's log, never for clients).
        var failureDetail: String?
        var closing = false
        var appendedBytes: UInt64 = 0
        // Figures for metrics.
        var batches: UInt64 = 0
        var lastBatchRecords = 0
        var lastSyncNanoseconds: UInt64 = 0
        /// Replication: what an acknowledgement waits for besides the local sync.
        var gate: (any AcknowledgementGate)?
        /// The next batch starts a new segment (``requestRotation()``).
        var rotate = false
    }

    /// The recent durable batches kept in memory for standbys, and who waits for more.
    private struct Feed {
        var keepBytes = 0
        var batches: [(first: UInt64, last: UInt64, bytes: [UInt8])] = []
        var bytes = 0
        var listeners: [Int: AsyncStream<UInt64>.Continuation] = [:]
        var nextListener = 0
    }
    private let feed = Mutex(Feed())

    /// Figures of the log for metrics and tests.
    public struct Statistics: Sendable {
        public var appendedLSN: UInt64
        public var durableLSN: UInt64
        public var appendedBytes: UInt64
        public var batches: UInt64
        public var lastBatchRecords: Int
        public var lastSyncNanoseconds: UInt64
        public var failed: Bool
    }

    /// Opens the log for appending after recovery: the next record gets `nextLSN` and chains to
    /// `lastChecksum`; it goes to the segment `currentSegment` (created if missing).
    public init(
        configuration: WALConfiguration, io: any StorageIO = PosixIO(), nextLSN: UInt64, lastChecksum: UInt32,
        currentSegment: String? = nil, now: @escaping @Sendable () -> Timestamp
    ) throws(StorageError) {
        self.configuration = configuration
        self.io = io
        self.now = now
        state = Mutex(
            State(nextLSN: nextLSN, lastChecksum: lastChecksum, durableLSN: nextLSN - 1, writtenLSN: nextLSN - 1))
        try io.makeDirectory(configuration.directory)
        let name = currentSegment ?? segmentName(firstLSN: nextLSN)
        let path = configuration.directory + "/" + name
        let handle = try io.openForAppend(path)
        try io.syncDirectory(configuration.directory)
        let size = (try? io.fileSize(path)) ?? 0
        let thread = Thread { [self] in self.writerLoop(handle: handle, size: size) }
        thread.name = "dlsms-wal"
        thread.start()
    }

    // MARK: Journal

    public func append(_ record: JournalRecord) throws(EngineError) -> JournalTicket {
        let time = now()
        let result: Result<UInt64, EngineError> = state.withLock { s in
            if let failure = s.failure { return .failure(failure) }
            if s.closing { return .failure(.unavailable("the server is shutting down")) }
            let lsn = s.nextLSN
            let before = s.buffer.count
            let previous = s.lastChecksum
            s.lastChecksum = WALFrame.append(record, lsn: lsn, time: time, previousChecksum: previous, to: &s.buffer)
            // A frame recovery could not read back must never be acknowledged.
            precondition(
                s.buffer.count - before - WALFrame.headerSize <= WALFrame.maxPayload,
                "WAL: the record at LSN \(lsn) is larger than a frame may be")
            assert(
                Self.readsBack(s.buffer, at: before, record: record, lsn: lsn, previous: previous),
                "WAL: the frame at LSN \(lsn) does not decode to the record written")
            s.frameEnds.append(s.buffer.count)
            s.nextLSN += 1
            s.appendedBytes += UInt64(s.buffer.count - before)
            return .success(lsn)
        }
        let lsn = try result.get()
        wake.signal()
        return JournalTicket(waiter: Ticket(log: self, lsn: lsn))
    }

    public func barrier() -> JournalTicket {
        let lsn = state.withLock { $0.nextLSN - 1 }
        return JournalTicket(waiter: Ticket(log: self, lsn: lsn))
    }

    struct Ticket: CommitWaiter {
        let log: WriteAheadLog
        let lsn: UInt64
        func wait() async throws(EngineError) { try await log.waitDurable(lsn) }
    }

    /// Returns once every record up to `lsn` is durable under the policy and may be acknowledged
    /// (the ``AcknowledgementGate``, if one is set, lets it); throws if the log failed or the gate
    /// refuses.
    public func waitDurable(_ lsn: UInt64) async throws(EngineError) {
        // One lock on the hot path: the gate, or (without one) whether the record is durable.
        let (gate, ready): ((any AcknowledgementGate)?, EngineError??) = state.withLock { s in
            if let gate = s.gate { return (gate, nil) }
            return (nil, Self.readiness(s, lsn))
        }
        if let gate { return try await gate.acknowledge(lsn) }
        if let ready {
            if let error = ready { throw error }
            return
        }
        try await suspendUntilDurable(lsn)
    }

    /// Sets what an acknowledgement waits for besides the local sync (replication), or none.
    /// The next batch written starts a new segment: every record durable now stays in the older
    /// ones, which a snapshot taken after that batch lets go (compaction after an erasure).
    public func requestRotation() { state.withLock { $0.rotate = true } }

    public func setGate(_ gate: (any AcknowledgementGate)?) { state.withLock { $0.gate = gate } }

    /// Returns once every record up to `lsn` is durable here under the policy (whatever a
    /// standby has); throws if the log failed.
    public func waitLocallyDurable(_ lsn: UInt64) async throws(EngineError) {
        if let ready = state.withLock({ Self.readiness($0, lsn) }) {
            if let error = ready { throw error }
            return
        }
        try await suspendUntilDurable(lsn)
    }

    /// `nil` while `lsn` is not yet durable and the log works; otherwise `.some(nil)` (durable) or
    /// `.some(failure)`.
    private static func readiness(_ s: State, _ lsn: UInt64) -> EngineError?? {
        if s.durableLSN >= lsn { return .some(nil) }
        if let f = s.failure { return .some(f) }
        return nil
    }

    private func suspendUntilDurable(_ lsn: UInt64) async throws(EngineError) {
        let error: EngineError? = await withCheckedContinuation { continuation in
            let immediate: EngineError?? = state.withLock { s in
                if let ready = Self.readiness(s, lsn) { return ready }
                s.waiters.append(Waiter(lsn: lsn, continuation: continuation))
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
        if let error { throw error }
    }

    public var statistics: Statistics {
        state.withLock { s in
            Statistics(
                appendedLSN: s.nextLSN - 1, durableLSN: s.durableLSN, appendedBytes: s.appendedBytes,
                batches: s.batches,
                lastBatchRecords: s.lastBatchRecords, lastSyncNanoseconds: s.lastSyncNanoseconds,
                failed: s.failure != nil)
        }
    }

    /// The LSN of the last appended record and its checksum (the chain anchor after it).
    public var head: (lsn: UInt64, checksum: UInt32) { state.withLock { ($0.nextLSN - 1, $0.lastChecksum) } }

    public var failure: EngineError? { state.withLock { $0.failure } }

    /// What failed, naming the file and the system error: for logs and metrics, never for clients.
    public var failureDetail: String? { state.withLock { $0.failureDetail } }

    /// Called once, on the writer thread, when the log fails (to log it at `critical`).
    public func onFailure(_ report: @escaping @Sendable (String) -> Void) { failureReport.withLock { $0 = report } }
    private let failureReport = Mutex<(@Sendable (String) -> Void)?>(nil)

    /// What a client is told once the log has failed: no paths, no system detail.
    public static let failedMessage = "storage failed: writes are refused until the server is restarted"

    /// Refuses new appends, writes and syncs everything queued, and stops the writer thread.
    public func close() async {
        let lsn: UInt64 = state.withLock { s in
            s.closing = true
            return s.nextLSN - 1
        }
        try? await waitLocallyDurable(lsn)
        state.withLock { $0.closing = true }
        wake.signal()
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                self.stopped.wait()
                c.resume()
            }
        }
        endFeed()
    }

    // MARK: The writer thread

    /// The writer thread's segment: the open file, its size, and what of it is acknowledged and
    /// synced.
    private struct Segment {
        var handle: any AppendHandle
        var size: Int
        /// The size when its content was last acknowledged: a failed batch is cut back to it, so
        /// that records refused to their writers do not come back at recovery.
        var acknowledgedSize: Int
        var unsynced = false
        var lastSync = DispatchTime.now()
    }

    /// Queued frames taken off the buffer to be written together.
    private struct Batch {
        var bytes: [UInt8]
        var firstLSN: UInt64
        var lastLSN: UInt64
        /// The log was closing when the batch was taken.
        var closing: Bool
        /// Starts a new segment (``requestRotation()``).
        var rotate = false
    }

    private func writerLoop(handle initial: any AppendHandle, size initialSize: Int) {
        var segment = Segment(handle: initial, size: initialSize, acknowledgedSize: initialSize)
        let policy = configuration.fsync
        defer {
            segment.handle.close()
            stopped.signal()
        }
        while true {
            switch policy {
            case .interval(let ms): _ = wake.wait(timeout: .now() + .milliseconds(max(1, ms)))
            default: wake.wait()
            }
            while let batch = takeBatch() {
                do throws(StorageError) {
                    try commit(batch, to: &segment, policy: policy)
                } catch {
                    // Best effort: if the cut fails too, recovery may find the refused records.
                    try? segment.handle.truncate(to: segment.acknowledgedSize)
                    fail(detail: "\(error)")
                    return
                }
            }
            if segment.unsynced, case .interval(let ms) = policy,
                DispatchTime.now().uptimeNanoseconds - segment.lastSync.uptimeNanoseconds >= UInt64(ms) * 1_000_000
            {
                do {
                    try segment.handle.sync()
                    segment.lastSync = .now()
                    segment.unsynced = false
                } catch {
                    fail(detail: "\(error)")
                    return
                }
            }
            let done = state.withLock { $0.closing && $0.frameEnds.isEmpty }
            if done {
                if segment.unsynced { try? segment.handle.sync() }
                return
            }
        }
    }

    /// Takes the next batch off the buffer: up to the batch limits, at least one frame; nil when
    /// nothing is queued or the log has failed.
    private func takeBatch() -> Batch? {
        state.withLock { s in
            guard !s.frameEnds.isEmpty, s.failure == nil else { return nil }
            var count = min(s.frameEnds.count, configuration.maxBatchRecords)
            while count > 1 && s.frameEnds[count - 1] > configuration.maxBatchBytes { count -= 1 }
            let end = s.frameEnds[count - 1]
            let bytes = Array(s.buffer[..<end])
            s.buffer.removeFirst(end)
            s.frameEnds.removeFirst(count)
            for i in s.frameEnds.indices { s.frameEnds[i] -= end }
            let last = s.nextLSN - 1 - UInt64(s.frameEnds.count)
            defer { s.rotate = false }
            return Batch(
                bytes: bytes, firstLSN: last - UInt64(count) + 1, lastLSN: last, closing: s.closing, rotate: s.rotate)
        }
    }

    /// Writes `batch` (in a new segment if this one is full), hands it to standbys, syncs it as the
    /// policy says, and releases its waiters. A throw leaves `segment` as far as it got, for the
    /// caller to cut back.
    private func commit(_ batch: Batch, to segment: inout Segment, policy: FsyncPolicy) throws(StorageError) {
        if segment.size >= configuration.segmentBytes || (batch.rotate && segment.size > 0) {
            // The next segment is opened before the current one is closed: if the open fails,
            // `handle` is still the open current segment (cut back and closed once, by the
            // caller), never a closed descriptor closed a second time.
            try segment.handle.sync()
            let next = try io.openForAppend(configuration.directory + "/" + segmentName(firstLSN: batch.firstLSN))
            segment.handle.close()
            segment.handle = next
            segment.size = 0
            segment.acknowledgedSize = 0
            try io.syncDirectory(configuration.directory)
        }
        let handle = segment.handle
        try batch.bytes.withBytes { (raw) throws(StorageError) in try handle.write(raw) }
        segment.size += batch.bytes.count
        // Standbys may have the batch now: their sync runs while this one does.
        state.withLock { s in
            // Batches leave the buffer in LSN order, each right after the one before.
            precondition(
                batch.firstLSN == s.writtenLSN + 1 && batch.lastLSN >= batch.firstLSN,
                "WAL: batch \(batch.firstLSN)…\(batch.lastLSN) does not follow LSN \(s.writtenLSN)")
            s.writtenLSN = batch.lastLSN
        }
        publish(batch.bytes, first: batch.firstLSN, last: batch.lastLSN)
        let started = DispatchTime.now()
        var synced = false
        switch policy {
        case .always:
            try handle.sync()
            synced = true
        case .interval(let ms):
            segment.unsynced = true
            if started.uptimeNanoseconds - segment.lastSync.uptimeNanoseconds >= UInt64(ms) * 1_000_000 {
                try handle.sync()
                segment.lastSync = started
                segment.unsynced = false
            }
        case .none:
            segment.unsynced = !batch.closing
            if batch.closing { try handle.sync() }
        }
        let syncTime = synced ? DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds : 0
        segment.acknowledgedSize = segment.size
        complete(upTo: batch.lastLSN, records: Int(batch.lastLSN - batch.firstLSN + 1), syncNanoseconds: syncTime)
    }

    private func complete(upTo lsn: UInt64, records: Int, syncNanoseconds: UInt64) {
        let ready: [Waiter] = state.withLock { s in
            s.durableLSN = lsn
            s.batches += 1
            s.lastBatchRecords = records
            if syncNanoseconds > 0 { s.lastSyncNanoseconds = syncNanoseconds }
            var ready: [Waiter] = []
            s.waiters.removeAll { w in
                if w.lsn <= lsn {
                    ready.append(w)
                    return true
                }
                return false
            }
            return ready
        }
        for w in ready { w.continuation.resume(returning: nil) }
    }

    // MARK: Replication

    /// Keeps the last `bytes` of durable frames in memory for standbys (0: none, the default).
    public func enableFeed(keepBytes: Int) { feed.withLock { $0.keepBytes = max(0, keepBytes) } }

    /// A stream of the written LSN, one element after each batch is written (the newest only, if
    /// the reader lags); end it with ``unsubscribe(_:)``.
    public func subscribe() -> (id: Int, stream: AsyncStream<UInt64>) {
        let (stream, continuation) = AsyncStream.makeStream(of: UInt64.self, bufferingPolicy: .bufferingNewest(1))
        let id = feed.withLock { f in
            f.nextListener += 1
            f.listeners[f.nextListener] = continuation
            return f.nextListener
        }
        continuation.yield(writtenLSN)
        return (id, stream)
    }

    public func unsubscribe(_ id: Int) { feed.withLock { $0.listeners.removeValue(forKey: id) }?.finish() }

    /// Ends every subscriber's stream (the log failed or closed).
    private func endFeed() {
        let listeners = feed.withLock { f in
            defer { f.listeners = [:] }
            return Array(f.listeners.values)
        }
        for l in listeners { l.finish() }
    }

    private func publish(_ bytes: [UInt8], first: UInt64, last: UInt64) {
        let listeners: [AsyncStream<UInt64>.Continuation] = feed.withLock { f in
            if f.keepBytes > 0 {
                f.batches.append((first, last, bytes))
                f.bytes += bytes.count
                var drop = 0
                while f.bytes > f.keepBytes && drop < f.batches.count - 1 {
                    f.bytes -= f.batches[drop].bytes.count
                    drop += 1
                }
                if drop > 0 { f.batches.removeFirst(drop) }
            }
            return Array(f.listeners.values)
        }
        for l in listeners { l.yield(last) }
    }

    /// The LSN of the last record written to the file (synced or not): a standby may have up to it.
    public var writtenLSN: UInt64 { state.withLock { $0.writtenLSN } }

    /// Written frames after `lsn` from the memory feed, up to about `maxBytes` (at least one
    /// frame). They may not be synced here yet: a standby syncs them while this node does, and an
    /// acknowledgement waits for both.
    public func feedFrames(after lsn: UInt64, maxBytes: Int) -> FeedRead {
        if lsn >= writtenLSN { return .caughtUp }
        return feed.withLock { f in
            guard let firstKept = f.batches.first?.first, firstKept <= lsn + 1 else { return .notInMemory }
            var out: [UInt8] = []
            var last = lsn
            var k = f.batches.firstIndex { $0.last > lsn } ?? f.batches.count
            while k < f.batches.count && (out.isEmpty || out.count < maxBytes) {
                let b = f.batches[k]
                if b.first > lsn {
                    out += b.bytes
                    last = b.last
                } else {
                    b.bytes.withUnsafeBytes { raw in
                        var offset = 0
                        while offset + WALFrame.headerSize <= raw.count {
                            let length = Int(
                                UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)))
                            let frameLSN = UInt64(
                                littleEndian: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt64.self))
                            if frameLSN > lsn {
                                out += raw[offset...]
                                last = b.last
                                return
                            }
                            offset += WALFrame.headerSize + length
                        }
                    }
                }
                k += 1
            }
            return out.isEmpty ? .caughtUp : .frames(out, last: last)
        }
    }

    /// Appends frames received from the primary byte for byte (their LSNs, times and hash chain):
    /// a standby's copy of the primary's log, through the same group commit. The caller has
    /// checked that they follow ``head``; `frameEnds` is the end offset of each frame in `bytes`.
    public func appendReplicated(_ bytes: [UInt8], frameEnds: [Int], lastLSN: UInt64, lastChecksum: UInt32)
        throws(EngineError)
    {
        // Whole frames, in order: the caller verified them, and a cut frame would poison the log.
        precondition(
            frameEnds.last == bytes.count && zip(frameEnds, frameEnds.dropFirst()).allSatisfy { $0 < $1 },
            "WAL: replicated frames must end in order at the end of their bytes")
        let result: EngineError? = state.withLock { s in
            if let failure = s.failure { return failure }
            if s.closing { return .unavailable("the server is shutting down") }
            guard s.nextLSN + UInt64(frameEnds.count) - 1 == lastLSN else {
                return .unavailable("replicated frames do not follow the log")
            }
            assert(
                Self.consecutive(bytes, frameEnds: frameEnds, from: s.nextLSN, previous: s.lastChecksum),
                "WAL: replicated frames must carry consecutive LSNs and an unbroken hash chain")
            let base = s.buffer.count
            s.buffer += bytes
            for end in frameEnds { s.frameEnds.append(base + end) }
            s.nextLSN = lastLSN + 1
            s.lastChecksum = lastChecksum
            s.appendedBytes += UInt64(bytes.count)
            return nil
        }
        if let result { throw result }
        wake.signal()
    }

    /// Whether the frame at `offset` parses back to `record` with its LSN and hash chain (debug
    /// builds check every append with it).
    static func readsBack(_ buffer: [UInt8], at offset: Int, record: JournalRecord, lsn: UInt64, previous: UInt32)
        -> Bool
    {
        buffer.withUnsafeBytes { raw in
            guard case .frame(let frame) = WALFrame.parse(raw, at: offset) else { return false }
            return frame.lsn == lsn && frame.previousChecksum == previous && (try? frame.record()) == record
        }
    }

    /// Whether the frames of `bytes` carry the LSNs from `lsn` on, each chained to the one before.
    static func consecutive(_ bytes: [UInt8], frameEnds: [Int], from lsn: UInt64, previous: UInt32) -> Bool {
        bytes.withUnsafeBytes { raw in
            var (start, expected, chain) = (0, lsn, previous)
            for end in frameEnds {
                guard case .frame(let frame) = WALFrame.parse(raw, at: start), frame.lsn == expected,
                    frame.previousChecksum == chain, start + WALFrame.headerSize + frame.payload.count == end
                else { return false }
                (start, expected, chain) = (end, expected + 1, frame.checksum)
            }
            return true
        }
    }

    private func fail(detail: String) {
        let error = EngineError.unavailable(Self.failedMessage)
        let waiters: [Waiter] = state.withLock { s in
            s.failure = error
            s.failureDetail = detail
            s.buffer = []
            s.frameEnds = []
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.continuation.resume(returning: error) }
        endFeed()
        failureReport.withLock { $0 }?(detail)
    }
}
