import AsyncHTTPClient
import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// The replication stream: `GET /replication/wal?after=LSN&checksum=C&node=NAME` answers with a
/// long-lived body of messages, each `[type: 1 byte][length: 4 bytes, little-endian][payload]`:
///
/// - type 1, frames: whole WAL frames exactly as the primary's segments hold them, consecutive,
///   from the one after the standby's last;
/// - type 2, heartbeat (at least every 250 ms): the primary's durable LSN and its epoch, 8 bytes
///   each.
///
/// The standby confirms what it has made durable with `POST /replication/ack`.
package enum ReplicationMessage {
    package static let frames: UInt8 = 1
    package static let heartbeat: UInt8 = 2
    package static let headerSize = 5
    /// Frames sent in one message, about.
    package static let chunkBytes = 1 << 20

    package static func encode(_ type: UInt8, _ payload: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(headerSize + payload.count)
        buffer.writeInteger(type)
        buffer.writeInteger(UInt32(payload.count), endianness: .little)
        buffer.writeBytes(payload)
        return buffer
    }

    package static func heartbeat(durable: UInt64, epoch: UInt64) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Self.heartbeat)
        buffer.writeInteger(UInt32(16), endianness: .little)
        buffer.writeInteger(durable, endianness: .little)
        buffer.writeInteger(epoch, endianness: .little)
        return buffer
    }
}

/// Frames received from a primary, checked: every CRC, consecutive LSNs from `expectLSN`, and
/// each frame's chained checksum of the one before.
package struct VerifiedFrames {
    package var bytes: [UInt8]
    package var ends: [Int] = []
    package var records: [JournalRecord] = []
    package var lastLSN: UInt64
    package var lastChecksum: UInt32

    package struct Refused: Error, CustomStringConvertible {
        package var description: String
    }

    package init(_ bytes: [UInt8], expectLSN: UInt64, previous: UInt32) throws(Refused) {
        self.bytes = bytes
        lastLSN = expectLSN - 1
        lastChecksum = previous
        var offset = 0
        var problem: String?
        bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                switch WALFrame.parse(raw, at: offset) {
                case .frame(let f):
                    guard f.lsn == lastLSN + 1 else {
                        problem = "expected LSN \(lastLSN + 1), received \(f.lsn)"
                        return
                    }
                    guard f.previousChecksum == lastChecksum else {
                        problem = "hash chain broken at LSN \(f.lsn)"
                        return
                    }
                    do throws(RecordCodec.DecodingError) {
                        records.append(try f.record())
                    } catch {
                        problem = "LSN \(f.lsn) cannot be decoded: \(error.reason)"
                        return
                    }
                    offset += f.size
                    ends.append(offset)
                    lastLSN = f.lsn
                    lastChecksum = f.checksum
                case .incomplete:
                    problem = "a frame is cut short"
                    return
                case .invalid(let why):
                    problem = "invalid frame after LSN \(lastLSN): \(why)"
                    return
                }
            }
        }
        if let problem { throw Refused(description: problem) }
        if records.isEmpty { throw Refused(description: "an empty frames message") }
    }
}

extension HACoordinator {
    // MARK: - Primary: serving standbys

    /// Why a standby cannot continue from `after`: its last record's checksum differs from the
    /// primary's (a tail the primary does not have) or the primary no longer has what follows.
    package func checkHistory(after lsn: UInt64, checksum: UInt32) throws(AppError) {
        let wal = durable.wal
        let writtenLSN = wal.writtenLSN
        if lsn > writtenLSN {
            throw AppError(
                .conflict, "diverged", "the standby's log goes past the primary's (LSN \(lsn) > \(writtenLSN))")
        }
        guard let ours = recordChecksum(at: lsn) else {
            throw AppError(
                .conflict, "snapshot_required", "the primary no longer keeps LSN \(lsn); copy a snapshot first")
        }
        guard ours == checksum else {
            throw AppError(.conflict, "diverged", "the standby's record at LSN \(lsn) is not the primary's")
        }
        if lsn < writtenLSN, case .unavailable = read(after: lsn, maxBytes: 1) {
            throw AppError(
                .conflict, "snapshot_required", "the primary no longer keeps LSN \(lsn + 1); copy a snapshot first")
        }
    }

    /// The checksum of the record at `lsn` in this node's log (0 before the first), if known.
    package func recordChecksum(at lsn: UInt64) -> UInt32? {
        let wal = durable.wal
        let head = wal.head
        if lsn == head.lsn { return head.checksum }
        if lsn > 0, case .frames(let bytes, _) = wal.feedFrames(after: lsn - 1, maxBytes: 1),
            bytes.count >= WALFrame.headerSize
        {
            return bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 28, as: UInt32.self)) }
        }
        let directory = DataDirectory(path: dataDirectory)
        if let found = try? directory.frames(after: lsn, upTo: wal.statistics.durableLSN, maxBytes: 1),
            let sum = found.checksumAtLSN
        {
            return sum
        }
        for snapshot in (try? directory.snapshots()) ?? [] where snapshot.coveredLSN == lsn {
            if let bytes = try? PosixIO().read(directory.file(snapshot.name)),
                let header = try? SnapshotFile.decode(bytes).0
            {
                return header.chainChecksum
            }
        }
        return lsn == 0 ? 0 : nil
    }

    package enum Read {
        case frames([UInt8], last: UInt64)
        case caughtUp
        case unavailable
    }

    /// Written frames after `lsn`: from memory, else (durable ones) from the segments.
    package func read(after lsn: UInt64, maxBytes: Int) -> Read {
        let wal = durable.wal
        switch wal.feedFrames(after: lsn, maxBytes: maxBytes) {
        case .frames(let bytes, let last): return .frames(bytes, last: last)
        case .caughtUp: return .caughtUp
        case .notInMemory:
            let durableLSN = wal.statistics.durableLSN
            guard
                let found = try? DataDirectory(path: dataDirectory).frames(
                    after: lsn, upTo: durableLSN, maxBytes: maxBytes)
            else { return .unavailable }
            if found.bytes.isEmpty { return lsn >= durableLSN ? .caughtUp : .unavailable }
            return .frames(found.bytes, last: found.last)
        }
    }

    /// Sends the log after `after` to one standby as it is written, with heartbeats, until the
    /// standby goes away, this node stops being primary, or the log ends.
    package func stream(
        to writer: inout any ResponseBodyWriter, after: UInt64, node standby: String, instance: String, url: String,
        channel: any Channel
    ) async throws {
        if state.standbys.connected(standby, instance: instance, url: url) {
            logger.warning(
                "two runs of a standby stream under one name: give each node its own --node-name (or one restarted)",
                metadata: ["node": "\(standby)", "url": "\(url)"])
        }
        defer { state.standbys.disconnected(standby, instance: instance) }
        let wal = durable.wal
        let (id, writtenLSNs) = wal.subscribe()
        defer { wal.unsubscribe(id) }
        let (wakes, sink) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let forward = Task {
            for await _ in writtenLSNs { sink.yield() }
            sink.finish()
        }
        let beat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                sink.yield()
            }
        }
        channel.closeFuture.whenComplete { _ in sink.finish() }
        defer {
            forward.cancel()
            beat.cancel()
        }
        func send(_ buffer: ByteBuffer) async throws {
            // A standby that stops reading for 10 s is cut off (the write then fails).
            let timer = channel.eventLoop.scheduleTask(in: .seconds(10)) { channel.close(promise: nil) }
            defer { timer.cancel() }
            try await writer.write(buffer)
        }
        var next = after
        var lastBeat = 0.0
        for await _ in wakes {
            guard state.role == .primary else { break }
            reading: while true {
                switch read(after: next, maxBytes: ReplicationMessage.chunkBytes) {
                case .frames(let bytes, let last):
                    try await send(ReplicationMessage.encode(ReplicationMessage.frames, bytes))
                    next = last
                case .caughtUp: break reading
                case .unavailable: return
                }
            }
            let now = BootClock.now()
            if now - lastBeat >= 0.2 {
                try await send(ReplicationMessage.heartbeat(durable: wal.statistics.durableLSN, epoch: state.epoch))
                lastBeat = now
            }
        }
    }

    // MARK: - Standby: following

    package struct Diverged: Error, CustomStringConvertible {
        package var description: String
    }

    /// Follows the primary until cancelled: reconnects after any break; a log the primary cannot
    /// continue moves the data aside and exits, to start again from the primary's snapshot.
    package func follow() async {
        // Appended frames are made durable by the log's group commit while the next messages are
        // read and applied: one task waits for each newest appended LSN to be durable, and
        // another confirms the newest durable one to the primary.
        let (acks, ackSink) = AsyncStream.makeStream(of: UInt64.self, bufferingPolicy: .bufferingNewest(1))
        let (appended, appendSink) = AsyncStream.makeStream(of: UInt64.self, bufferingPolicy: .bufferingNewest(1))
        let acker = Task { await sendAcks(acks) }
        let syncer = Task {
            for await lsn in appended {
                do {
                    try await durable.wal.waitLocallyDurable(lsn)
                } catch {
                    return  // the log failed: the storage watch stops the process
                }
                state.update { s in
                    s.appliedLSN = max(s.appliedLSN, lsn)
                    if s.appliedLSN >= s.primaryLSN { s.caughtUpAt = BootClock.now() }
                }
                ackSink.yield(lsn)
            }
        }
        defer {
            appendSink.finish()
            ackSink.finish()
            acker.cancel()
            syncer.cancel()
        }
        var logged = false
        while !Task.isCancelled && state.role == .standby {
            guard let url = state.primaryURL else {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            do {
                try await streamOnce(from: url, acks: ackSink, appended: appendSink)
                logged = false
            } catch let e as Diverged {
                restartFromSnapshot("\(e)")
            } catch {
                if !Task.isCancelled && !logged {
                    logger.warning("replication stream broke; reconnecting", metadata: ["error": "\(error)"])
                    logged = true
                }
            }
            state.update { $0.connected = false }
            try? await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Moves the data directory's files aside (into `diverged/`) and exits: the next start finds
    /// it empty and copies the primary's snapshot.
    package func restartFromSnapshot(_ reason: String) -> Never {
        logger.critical("the primary cannot continue this node's log (\(reason)); moving it aside and restarting")
        let io = PosixIO()
        let aside = dataDirectory + "/diverged"
        for name in (try? io.list(aside)) ?? [] { try? io.remove(aside + "/" + name) }
        try? io.makeDirectory(aside)
        for name in (try? io.list(dataDirectory)) ?? [] where !["LOCK", "jwt-secret", "diverged"].contains(name) {
            rename(dataDirectory + "/" + name, aside + "/" + name)
        }
        try? io.syncDirectory(dataDirectory)
        exit(rejoinExitStatus)
    }

    private func streamOnce(
        from url: String, acks: AsyncStream<UInt64>.Continuation, appended: AsyncStream<UInt64>.Continuation
    ) async throws {
        let wal = durable.wal
        let head = wal.head
        func encoded(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
        }
        var request = HTTPClientRequest(
            url: url + "/replication/wal?after=\(head.lsn)&checksum=\(head.checksum)&node=\(encoded(node))"
                + "&instance=\(instance)&url=\(encoded(advertiseURL))")
        request.headers.add(name: "Authorization", value: authorization)
        // The deadline covers the answer's head only (a live primary answers at once); the body
        // is watched for silence below.
        let response = try await client.execute(request, timeout: .seconds(3))
        guard response.status == .ok else {
            let body = try? await response.body.collect(upTo: 64 << 10)
            let text = body.map { String(buffer: $0) } ?? ""
            if response.status == .conflict { throw Diverged(description: text) }
            if response.status == .unauthorized { logger.error("the primary refused the replication secret") }
            throw VerifiedFrames.Refused(description: "\(response.status.code) \(text)")
        }
        logger.info("following the primary", metadata: ["url": "\(url)", "from_lsn": "\(head.lsn)"])
        // What is durable here already (frames appended before a break may still be syncing).
        acks.yield(wal.statistics.durableLSN)
        let lastMessage = BootStamp()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var pending = ByteBuffer()
                for try await chunk in response.body {
                    var chunk = chunk
                    pending.writeBuffer(&chunk)
                    while pending.readableBytes >= ReplicationMessage.headerSize {
                        let type: UInt8 = pending.getInteger(at: pending.readerIndex)!
                        let length = Int(
                            pending.getInteger(at: pending.readerIndex + 1, endianness: .little, as: UInt32.self)!)
                        guard length <= 64 << 20 else { throw VerifiedFrames.Refused(description: "message too large") }
                        guard pending.readableBytes >= ReplicationMessage.headerSize + length else { break }
                        pending.moveReaderIndex(forwardBy: ReplicationMessage.headerSize)
                        let payload = pending.readBytes(length: length)!
                        lastMessage.touch()
                        try await self.handle(type: type, payload: payload, appended: appended)
                    }
                    pending.discardReadBytes()
                }
                throw VerifiedFrames.Refused(description: "the primary ended the stream")
            }
            group.addTask {
                // No message (not even a heartbeat) for 2 s: the primary is gone or paused.
                while true {
                    try await Task.sleep(for: .milliseconds(250))
                    if lastMessage.age > 2 {
                        throw VerifiedFrames.Refused(description: "the primary fell silent")
                    }
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    private func handle(type: UInt8, payload: [UInt8], appended: AsyncStream<UInt64>.Continuation) async throws {
        switch type {
        case ReplicationMessage.frames:
            let wal = durable.wal
            let head = wal.head
            let frames = try VerifiedFrames(payload, expectLSN: head.lsn + 1, previous: head.checksum)
            // The log first, so that its sync runs while the records are applied (snapshots
            // cover what is applied, `applied`, never more). The confirmation waits for both: what
            // the primary acknowledges in `sync` mode is durable and readable here.
            try wal.appendReplicated(
                frames.bytes, frameEnds: frames.ends, lastLSN: frames.lastLSN, lastChecksum: frames.lastChecksum)
            try await apply(frames.records)
            applied.withLock { $0 = (frames.lastLSN, frames.lastChecksum) }
            state.update { s in s.epoch = durable.engine.epoch?.epoch ?? s.epoch }
            appended.yield(frames.lastLSN)
        case ReplicationMessage.heartbeat:
            guard payload.count == 16 else { throw VerifiedFrames.Refused(description: "bad heartbeat") }
            let primaryLSN = payload.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
            state.update { s in
                s.primaryLSN = primaryLSN
                s.connected = true
                if s.appliedLSN >= primaryLSN { s.caughtUpAt = BootClock.now() }
            }
        default:
            throw VerifiedFrames.Refused(description: "unknown message type \(type)")
        }
    }

    /// Applies replicated records to the engine, in order. Reservations the primary moved to its
    /// archive are appended to this node's archive first, from memory, as the primary did.
    private func apply(_ records: [JournalRecord]) async throws {
        let engine = durable.engine
        var pending: [JournalRecord] = []
        for record in records {
            if case .reservationsArchived(let list) = record {
                await engine.apply(batch: pending)
                pending = []
                var moved: [JournalRecord] = []
                for a in list {
                    if let r = try? await engine.reservation(id: a.id, requester: Requester(userID: 0, isAdmin: true)) {
                        moved.append(.reservationChanged(r))
                    }
                }
                try ArchiveFile.append(moved, directory: dataDirectory, io: PosixIO(), time: engine.clock.now())
            }
            pending.append(record)
        }
        await engine.apply(batch: pending)
    }

    /// Confirms the durable LSN to the primary, the newest only when several wait.
    private func sendAcks(_ acks: AsyncStream<UInt64>) async {
        for await lsn in acks {
            // async: the primary waits for no confirmation (it only shows them in its status), so
            // one every 100 ms is plenty; sync: each one releases writes, at once.
            if configuration.mode == .async { try? await Task.sleep(for: .milliseconds(100)) }
            guard let url = state.primaryURL else { continue }
            var request = HTTPClientRequest(url: url + "/replication/ack")
            request.method = .POST
            request.headers.add(name: "Authorization", value: authorization)
            request.headers.add(name: "Content-Type", value: "application/json")
            var body = JSONWriter()
            body.object {
                $0.field("node", node)
                $0.field("instance", instance)
                $0.field("lsn", lsn)
            }
            request.body = .bytes(ByteBuffer(bytes: body.bytes))
            _ = try? await client.execute(request, timeout: .seconds(2)).body.collect(upTo: 1 << 16)
        }
    }

    /// Copies the primary's webhook spools into this data directory (replacing any there).
    private func copyOutbox(from url: String) async throws {
        try? FileManager.default.removeItem(atPath: dataDirectory + "/outbox")
        var request = HTTPClientRequest(url: url + "/replication/outbox")
        request.headers.add(name: "Authorization", value: authorization)
        let response = try await client.execute(request, timeout: .seconds(120))
        if response.status == .notFound {
            logger.warning("the primary sends no webhook spools (an older version): its pending events are not copied")
            return
        }
        guard response.status == .ok else {
            throw VerifiedFrames.Refused(description: "the primary sent no webhook spools (\(response.status.code))")
        }
        let io = PosixIO()
        var files = 0
        func write(_ path: String, _ bytes: [UInt8]) throws {
            var made = dataDirectory
            for part in path.split(separator: "/").dropLast() {
                made += "/" + part
                try io.makeDirectory(made)
            }
            try io.writeAtomically(dataDirectory + "/" + path, bytes)
            files += 1
        }
        var pending = ByteBuffer()
        var ended = false
        for try await chunk in response.body {
            var chunk = chunk
            pending.writeBuffer(&chunk)
            if try OutboxCopy.take(&pending, write) {
                ended = true
                break
            }
            pending.discardReadBytes()
        }
        guard ended else { throw VerifiedFrames.Refused(description: "the webhook spools' copy ended early") }
        logger.notice("copied the primary's webhook spools", metadata: ["files": "\(files)"])
    }

    /// Copies the primary's newest snapshot and token secret into this (empty) data directory.
    package func copySnapshot(from url: String) async throws {
        var attempt = 0
        while true {
            do {
                // Is the primary there at all? A short deadline, so that a dead one is reported at once
                // (the client retries a refused connection until the deadline).
                _ = try await client.execute(HTTPClientRequest(url: url + "/healthz"), timeout: .seconds(3))
                    .body.collect(upTo: 1 << 16)
                var request = HTTPClientRequest(url: url + "/replication/snapshot")
                request.headers.add(name: "Authorization", value: authorization)
                // The deadline covers the answer's head: the primary writes a fresh snapshot first.
                let response = try await client.execute(request, timeout: .seconds(120))
                if response.status == .unauthorized {
                    throw ConfigurationError(
                        "the primary at \(url) refused this node's --replication-secret: it must be the same on every node"
                    )
                }
                guard response.status == .ok,
                    let name = response.headers.first(name: "X-DLSMS-Snapshot-Name"),
                    SnapshotFile.coveredLSN(ofName: name) != nil, !name.contains("/")
                else {
                    throw VerifiedFrames.Refused(description: "the primary sent no snapshot (\(response.status.code))")
                }
                let body = try await response.body.collect(upTo: 8 << 30)
                let bytes = Array(buffer: body)
                _ = try SnapshotFile.decode(bytes)  // verified before it is written
                let io = PosixIO()
                try io.makeDirectory(dataDirectory)
                // The webhook spools, copied after the snapshot was taken (so they hold every event
                // it covers) and written before it (a directory without a snapshot is copied again).
                try await copyOutbox(from: url)
                if let secret = response.headers.first(name: "X-DLSMS-Token-Secret"),
                    let data = Data(base64Encoded: secret), !data.isEmpty
                {
                    try TokenService.storeSecret(Array(data), dataDirectory: dataDirectory)
                }
                try io.writeAtomically(dataDirectory + "/" + name, bytes)
                logger.notice(
                    "copied the primary's snapshot", metadata: ["snapshot": "\(name)", "bytes": "\(bytes.count)"])
                return
            } catch let e as ConfigurationError {
                throw e
            } catch {
                attempt += 1
                if attempt % 20 == 1 {
                    logger.warning("cannot copy the primary's snapshot yet; retrying", metadata: ["error": "\(error)"])
                }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }
}
