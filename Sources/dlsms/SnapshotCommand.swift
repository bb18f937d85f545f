import ArgumentParser
import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation

struct DataDirOption: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The data directory.")
    var dataDir = "snapshots"
}

/// The data directory's lock, or a failure naming the process that holds it.
func lockDataDirectory(_ path: String) throws -> DataDirectoryLock {
    let lock: DataDirectoryLock
    do { lock = try DataDirectoryLock(directory: path) } catch { throw fail("\(error)") }
    if let note = lock.notTightened { FileHandle.standardError.write(Data("warning: \(note)\n".utf8)) }
    return lock
}

func fail(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    return ExitCode(1)
}

/// `dlsms snapshot …`: offline operations on a data directory.
struct SnapshotCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Inspect, verify, restore, export, repair and compact a data directory (offline).",
        subcommands: [
            List.self, Inspect.self, Verify.self, Restore.self, Export.self, Repair.self, Compact.self, Synthesize.self,
        ])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Snapshots and WAL segments with LSN ranges, sizes and times.")
        @OptionGroup var options: DataDirOption

        func run() async throws {
            let dir = DataDirectory(path: options.dataDir)
            print("snapshots (newest first):")
            for s in try dir.snapshots() {
                let path = dir.file(s.name)
                let size = (try? dir.io.fileSize(path)) ?? 0
                if let bytes = try? dir.io.read(path), let h = try? SnapshotFile.header(bytes) {
                    print(
                        "  \(s.name)  covers LSN ≤ \(h.coveredLSN)  \(size) bytes  \(rfc3339(h.createdAt))  \(h.counts.reservations) reservations"
                    )
                } else {
                    print("  \(s.name)  \(size) bytes  DAMAGED HEADER")
                }
            }
            print("WAL segments (oldest first):")
            for s in try dir.segments() {
                let bytes = try dir.io.read(dir.file(s.name))
                let scan = SegmentScan.scan(bytes)
                let range = scan.frames.isEmpty ? "empty" : "LSN \(scan.frames.first!.lsn)…\(scan.frames.last!.lsn)"
                let times =
                    scan.frames.isEmpty
                    ? "" : "  \(rfc3339(scan.frames.first!.time)) … \(rfc3339(scan.frames.last!.time))"
                let problem = scan.problem.map { "  PROBLEM at offset \($0.offset): \($0.reason)" } ?? ""
                print("  \(s.name)  \(range)  \(bytes.count) bytes\(times)\(problem)")
            }
            let queues = webhookQueues(dir)
            if !queues.isEmpty { print("webhook queues (\(WebhookOutbox.directory)/, by endpoint id):") }
            for (id, path) in queues {
                guard let (f, report) = Spool.inspect(directory: path, io: dir.io) else { continue }
                let torn =
                    report.tornBytes > 0 ? "  a torn tail of \(report.tornBytes) bytes (cut at the next start)" : ""
                print(
                    "  \(id)  \(f.pending) events pending (\(f.pendingBytes) bytes) in \(f.segments) segments, "
                        + "\(f.dropped) dropped, ids up to \(f.considered) considered\(torn)")
            }
        }
    }

    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A snapshot's header, counts and per-branch summary.")
        @Argument(help: "The snapshot file.") var file: String

        func run() async throws {
            let bytes = try PosixIO().read(file)
            let (h, records) = try SnapshotFile.decode(bytes)
            print("file:          \(file) (\(bytes.count) bytes, content \(h.contentSize) bytes)")
            print("format:        version \(SnapshotHeader.version)")
            print("covers:        LSN ≤ \(h.coveredLSN) (chain checksum \(String(h.chainChecksum, radix: 16)))")
            print("created:       \(rfc3339(h.createdAt))")
            print(
                "counts:        \(h.counts.branches) branches, \(h.counts.seats) seats, \(h.counts.users) users, "
                    + "\(h.counts.reservations) reservations, \(h.counts.waitlist) waitlist entries, \(h.counts.notifications) notifications"
            )
            var seatBranch: [SeatID: String] = [:]
            var perBranch: [String: (seats: Int, reservations: Int, holding: Int)] = [:]
            var order: [String] = []
            for r in records {
                switch r {
                case .branchDefined(let b):
                    order.append(b.name)
                    perBranch[b.name] = (0, 0, 0)
                case .seatDefined(let s):
                    seatBranch[s.id] = s.branch
                    perBranch[s.branch, default: (0, 0, 0)].seats += 1
                case .reservationCreated(let r), .reservationChanged(let r):
                    let b = seatBranch[r.seatID] ?? "?"
                    perBranch[b, default: (0, 0, 0)].reservations += 1
                    if r.status.holdsSeat { perBranch[b, default: (0, 0, 0)].holding += 1 }
                default: break
                }
            }
            print("per branch:")
            for b in order {
                let c = perBranch[b]!
                print("  \(b): \(c.seats) seats, \(c.reservations) reservations (\(c.holding) holding a seat)")
            }
            let endpoints = records.compactMap { if case .webhookEndpoint(let e) = $0 { e } else { nil } }
            let owed = records.filter { if case .webhookEvent = $0 { true } else { false } }.count
            let floor = records.lazy.compactMap { if case .idFloor(let f) = $0 { f.webhookEvent } else { nil } }.first
            if !endpoints.isEmpty || owed > 0 {
                let active = endpoints.filter(\.active).count
                var line = "webhooks:      \(endpoints.count) endpoints (\(active) active)"
                if let floor, floor > 0 { line += ", next event id \(floor)" }
                line +=
                    owed > 0
                    ? ", \(owed) events owed (a snapshot of an older version)"
                    : "; the events owed are in \(WebhookOutbox.directory)/ (dlsms snapshot list)"
                print(line)
            }
        }
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every checksum and the WAL chain; exit non-zero and say where on any problem.")
        @OptionGroup var options: DataDirOption

        func run() async throws {
            let dir = DataDirectory(path: options.dataDir)
            var problems = 0
            for s in try dir.snapshots() {
                do {
                    let (h, _) = try SnapshotFile.decode(try dir.io.read(dir.file(s.name)))
                    print("ok       \(s.name) (LSN ≤ \(h.coveredLSN), \(h.counts.reservations) reservations)")
                } catch {
                    problems += 1
                    print("DAMAGED  \(s.name): \(error)")
                }
            }
            for (id, path) in webhookQueues(dir) {
                do {
                    let (records, damaged) = try Spool.verify(directory: path, io: dir.io)
                    if damaged.isEmpty {
                        print("ok       webhook queue \(id): \(records) records")
                    }
                    for d in damaged {
                        problems += 1
                        print(
                            "DAMAGED  webhook queue \(id): \(d.bytes) bytes of \(d.segment) are no valid record "
                                + "(a torn tail is cut at the next start; a damaged record is skipped and counted as dropped)"
                        )
                    }
                } catch {
                    problems += 1
                    print("DAMAGED  webhook queue \(id): \(error)")
                }
            }
            do {
                let state = try dir.recover(repairTornTail: false)
                if let t = state.tornTail {
                    problems += 1
                    print(
                        "TORN     \(t.file) at offset \(t.offset): \(t.bytes) bytes of an incomplete last record (cut at the next start)"
                    )
                }
                print("ok       WAL: \(state.records.count) records after the snapshot, last LSN \(state.lastLSN)")
            } catch {
                problems += 1
                print("CORRUPT  \(error)")
            }
            if problems > 0 { throw fail("\(problems) problem(s) found") }
            print("verified")
        }
    }

    struct Restore: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Point-in-time restore: a new data directory holding the state as of a moment.")
        @OptionGroup var options: DataDirOption
        @Option(help: "The new data directory (must not exist or be empty).") var to: String
        @Option(help: "Restore up to this time (RFC 3339, or seconds since the epoch).") var until: String?
        @Option(name: .customLong("until-seq"), help: "Restore up to this log sequence number.") var untilSeq: UInt64?

        func validate() throws {
            if until != nil && untilSeq != nil { throw ValidationError("give --until or --until-seq, not both") }
            if let until, parseTime(until) == nil { throw ValidationError("--until: not a time: \(until)") }
        }

        func run() async throws {
            let target = DataDirectory(path: to)
            if let names = try? target.io.list(to), !names.isEmpty { throw fail("\(to) is not empty") }
            let lock = try lockDataDirectory(to)
            defer { withExtendedLifetime(lock) {} }
            let stop: StopPoint? = untilSeq.map { .lsn($0) } ?? until.flatMap(parseTime).map { .time($0) }
            let state = try DataDirectory(path: options.dataDir).recover(until: stop, repairTornTail: false)
            let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 1))
            await engine.apply(batch: state.snapshotRecords)
            await engine.apply(batch: state.records.lazy.map(\.record))
            let image = await engine.capture()
            let (bytes, header) = try SnapshotFile.encode(
                image, coveredLSN: state.lastLSN, chainChecksum: state.lastChecksum,
                createdAt: state.records.last?.time ?? state.snapshot?.createdAt ?? 0)
            try target.io.makeDirectory(to)
            try target.io.writeAtomically(target.file(SnapshotFile.name(coveredLSN: state.lastLSN)), bytes)
            print(
                "restored LSN ≤ \(state.lastLSN) into \(to): \(header.counts.reservations) reservations, \(header.counts.users) users"
            )
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The state as JSON, for people and scripts, with the archived reservations (\"archived\": true).")
        @OptionGroup var options: DataDirOption

        func run() async throws {
            let dir = DataDirectory(path: options.dataDir)
            let state = try dir.recover(repairTornTail: false)
            let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 1))
            await engine.apply(batch: state.snapshotRecords)
            await engine.apply(batch: state.records.lazy.map(\.record))
            var out = ExportDocument(image: await engine.capture(), lastLSN: state.lastLSN)
            let archive = try ArchiveFile.read(directory: options.dataDir, io: dir.io)
            if archive.skippedBytes > 0 {
                FileHandle.standardError.write(
                    Data("warning: \(archive.skippedBytes) damaged bytes skipped in \(ArchiveFile.name)\n".utf8))
            }
            out.add(archived: archive.reservations)
            for (i, row) in out.webhooks.enumerated() where row.active {
                let path = dir.file(WebhookOutbox.directory + "/" + String(row.id))
                guard let (f, _) = Spool.inspect(directory: path, io: dir.io) else { continue }
                out.webhooks[i].pending = f.pending
                out.webhooks[i].pendingBytes = f.pendingBytes
                out.webhooks[i].dropped = f.dropped
            }
            out.webhookEventsPending += out.webhooks.reduce(0) { $0 + $1.pending }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.keyEncodingStrategy = .convertToSnakeCase
            FileHandle.standardOutput.write(try encoder.encode(out))
            print()
        }
    }

    struct Repair: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Cut the WAL at the first bad record, after saying what will be lost (like redis-check-aof --fix).")
        @OptionGroup var options: DataDirOption
        @Flag(help: "Really cut; without it, only say what would be lost.") var yes = false

        func run() async throws {
            let lock = try lockDataDirectory(options.dataDir)
            defer { withExtendedLifetime(lock) {} }
            let dir = DataDirectory(path: options.dataDir)
            guard let cut = try firstBadRecord(dir) else {
                print("nothing to repair: every record is valid")
                return
            }
            let segments = try dir.segments()
            guard let index = segments.firstIndex(where: { $0.name == cut.file }) else {
                throw fail("no segment \(cut.file)")
            }
            var lost = 0
            var lostBytes = 0
            for (i, s) in segments.enumerated() where i >= index {
                let bytes = try dir.io.read(dir.file(s.name))
                let from = i == index ? cut.offset : 0
                lostBytes += bytes.count - from
                let tail = Array(bytes[from...])
                lost += SegmentScan.scan(tail).frames.count + (i == index ? max(0, countFrames(after: tail)) : 0)
            }
            print(
                "cut \(cut.file) at offset \(cut.offset) and drop \(segments.count - index - 1) later segment(s): "
                    + "\(lostBytes) bytes, about \(lost) readable record(s) after the cut are lost")
            guard yes else { throw fail("dry run: add --yes to cut") }
            try dir.io.truncate(dir.file(cut.file), to: cut.offset)
            for s in segments[(index + 1)...] { try dir.io.remove(dir.file(s.name)) }
            try dir.io.syncDirectory(dir.path)
            print("repaired")
        }

        /// Where the log must be cut: the torn tail, the corrupt record, or the start of the segment after a gap.
        private func firstBadRecord(_ dir: DataDirectory) throws -> (file: String, offset: Int)? {
            let result: Result<RecoveredState, RecoveryError> = Result { () throws(RecoveryError) in
                try dir.recover(repairTornTail: false)
            }
            switch result {
            case .success(let state): return state.tornTail.map { ($0.file, $0.offset) }
            case .failure(.corruption(let file, let offset, _)), .failure(.undecodable(let file, let offset, _)):
                return (file, offset)
            case .failure(.missingRecords(_, _, let file)): return (file, 0)
            case .failure(let other): throw other
            }
        }

        /// Valid frames found anywhere after the bad one (they are lost with the cut).
        private func countFrames(after bytes: [UInt8]) -> Int {
            var n = 0
            bytes.withUnsafeBytes { raw in
                var o = 1
                while o + WALFrame.headerSize <= raw.count {
                    if case .frame(let f) = WALFrame.parse(raw, at: o) {
                        n += 1
                        o += f.size
                    } else {
                        o += 1
                    }
                }
            }
            return n
        }
    }

    struct Compact: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write a fresh snapshot and drop the WAL it covers.")
        @OptionGroup var options: DataDirOption
        @Option(help: "Snapshots to keep.") var keep = 1

        func run() async throws {
            let lock = try lockDataDirectory(options.dataDir)
            defer { withExtendedLifetime(lock) {} }
            let (durable, report) = try await DurableEngine.open(
                PersistenceConfiguration(directory: options.dataDir, keepSnapshots: keep),
                log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
            let snap = try await durable.snapshot()
            await durable.close(finalSnapshot: false)
            print(
                "replayed \(report.replayedRecords) records; wrote \(snap.name) (\(snap.bytes) bytes, \(snap.reservations) reservations)"
            )
        }
    }
}

/// The webhook spools of a data directory, by endpoint id.
func webhookQueues(_ dir: DataDirectory) -> [(id: Int64, path: String)] {
    let root = dir.file(WebhookOutbox.directory)
    return ((try? dir.io.list(root)) ?? []).compactMap { name in Int64(name).map { ($0, root + "/" + name) } }
        .sorted { $0.id < $1.id }
}

/// The JSON of `dlsms snapshot export`.
struct ExportDocument: Encodable {
    struct BranchRow: Encodable {
        var name: String
        var areas: [String]
        var timeZone: String
        var openHours: String
        var closures: [ClosureRow]
        /// The release rule, or nil.
        var release: ReleaseRow? = nil
    }
    struct ReleaseRow: Encodable {
        var daysBefore: Int
        var time: String
    }
    struct PolicyRow: Encodable {
        var group: String
        var exempt: Bool
        var rules: [String: Int]
        var places: [String]
        var features: [String]
    }
    struct MembershipRow: Encodable {
        var userID: Int32
        var groups: [String]
    }
    struct StrikeRow: Encodable {
        var id: Int64
        var userID: Int32
        var reason: String
        var reservationID: Int64
        var seatID: Int32
        var at: String
        var removedAt: String?
        var removedBy: Int32?
        var removalReason: String?
    }
    struct LiftRow: Encodable {
        var userID: Int32
        var at: String
        var by: Int32
        var reason: String
    }
    struct ClosureRow: Encodable {
        var id: Int64
        /// `nil`: the whole branch.
        var area: String?
        var startTime: String
        var endTime: String
        var reason: String

        enum CodingKeys: String, CodingKey {
            case id, area
            case startTime = "start_time"
            case endTime = "end_time"
            case reason
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(area, forKey: .area)  // null: the whole branch
            try c.encode(startTime, forKey: .startTime)
            try c.encode(endTime, forKey: .endTime)
            try c.encode(reason, forKey: .reason)
        }
    }
    struct SeatRow: Encodable {
        var id: Int32
        var branch: String
        var area: String
        var hasPower: Bool
        var hasMonitor: Bool
        var maintenance: Bool
        var label: String
        var accessible: Bool
        var notes: String?
        var x: Int32?
        var y: Int32?
        var retired: Bool
    }
    struct UserRow: Encodable {
        var id: Int32
        var studentID: String
        var name: String
        var role: String
        var createdAt: String
        var disabled: Bool
        var tokenGeneration: UInt32
    }
    struct ReservationRow: Encodable {
        var id: Int64
        var seatID: Int32
        var userID: Int32
        var startTime: String
        var endTime: String
        var status: String
        var createdAt: String
        var checkedInAt: String?
        var archived = false
    }
    struct WaitlistRow: Encodable {
        var id: Int64
        var userID: Int32
        var seatID: Int32?
        var branch: String?
        var desiredTime: String
        var endTime: String
        var status: String
        var notifiedAt: String?
        var createdAt: String
        var offeredSeatID: Int32?
        var offerReservationID: Int64?
        var offerExpiresAt: String?
    }
    struct WebhookRow: Encodable {
        var id: Int64
        var url: String
        var events: [String]
        var active: Bool
        var deliveredThrough: Int64
        var createdAt: String
        var delivered: Int64
        var givenUp: Int64
        /// From the endpoint's spool, as its files hold it.
        var pending = 0
        var pendingBytes = 0
        var dropped: Int64 = 0
    }
    struct NotificationRow: Encodable {
        var id: Int64
        var userID: Int32
        var type: String
        var message: String
        var seatID: Int32?
        var createdAt: String
    }

    var lastLSN: UInt64
    var branches: [BranchRow] = []
    var seats: [SeatRow] = []
    var users: [UserRow] = []
    var reservations: [ReservationRow] = []
    var waitlist: [WaitlistRow] = []
    var notifications: [NotificationRow] = []
    /// Webhook endpoints (without their secrets), each with its spool's figures, and the events
    /// still owed to them (in their spools).
    var webhooks: [WebhookRow] = []
    var webhookEventsPending = 0
    /// Emails waiting in the outbox.
    var mailQueued = 0
    /// Rules per group: policies, staff-given groups, strikes, suspension lifts.
    var policies: [PolicyRow] = []
    var memberships: [MembershipRow] = []
    var strikes: [StrikeRow] = []
    var suspensionLifts: [LiftRow] = []
    /// Entries of the audit trail (`dlsms audit export` lists them).
    var auditEntries = 0

    init(image: EngineImage, lastLSN: UInt64) {
        self.lastLSN = lastLSN
        for record in image {
            switch record {
            case .branchDefined(let b):
                branches.append(
                    BranchRow(
                        name: b.name, areas: b.areas, timeZone: b.timeZone, openHours: b.openingHours.description,
                        closures: b.closures.map {
                            ClosureRow(
                                id: $0.id, area: $0.area.isEmpty ? nil : $0.area, startTime: rfc3339($0.start),
                                endTime: rfc3339($0.end), reason: $0.reason)
                        },
                        release: b.release.map { ReleaseRow(daysBefore: $0.daysBefore, time: $0.time) }))
            case .seatDefined(let s):
                seats.append(
                    SeatRow(
                        id: s.id, branch: s.branch, area: s.area, hasPower: s.hasPower, hasMonitor: s.hasMonitor,
                        maintenance: s.inMaintenance, label: s.displayLabel, accessible: s.accessible,
                        notes: s.notes.isEmpty ? nil : s.notes, x: s.x, y: s.y, retired: s.retired))
            case .userCreated(let u), .userChanged(let u):
                users.append(
                    UserRow(
                        id: u.id, studentID: u.studentID, name: u.name, role: u.role.name,
                        createdAt: rfc3339(u.createdAt), disabled: u.disabled, tokenGeneration: u.tokenGeneration))
            case .reservationCreated(let r), .reservationChanged(let r):
                reservations.append(
                    ReservationRow(
                        id: r.id, seatID: r.seatID, userID: r.userID, startTime: rfc3339(r.start),
                        endTime: rfc3339(r.end),
                        status: r.status.name, createdAt: rfc3339(r.createdAt),
                        checkedInAt: r.checkedInAt.map(rfc3339)))
            case .waitlistChanged(let e):
                var seat: Int32?
                var branch: String?
                switch e.target {
                case .seat(let s): seat = s
                case .branch(let b): branch = b
                }
                waitlist.append(
                    WaitlistRow(
                        id: e.id, userID: e.userID, seatID: seat, branch: branch,
                        desiredTime: rfc3339(e.desiredTime),
                        endTime: rfc3339(e.endTime), status: e.status.name, notifiedAt: e.notifiedAt.map(rfc3339),
                        createdAt: rfc3339(e.createdAt), offeredSeatID: e.offer?.seatID,
                        offerReservationID: e.offer?.reservationID,
                        offerExpiresAt: e.offer.map { rfc3339($0.expiresAt) }))
            case .notificationCreated(let n):
                notifications.append(
                    NotificationRow(
                        id: n.id, userID: n.userID, type: n.kind.name, message: n.message, seatID: n.seatID,
                        createdAt: rfc3339(n.createdAt)))
            case .webhookEndpoint(let e):
                webhooks.append(
                    WebhookRow(
                        id: e.id, url: e.url, events: e.events, active: e.active, deliveredThrough: e.deliveredThrough,
                        createdAt: rfc3339(e.createdAt), delivered: e.delivered, givenUp: e.givenUp))
            case .webhookEvent: webhookEventsPending += 1
            case .groupPolicy(let p):
                var rules: [String: Int] = [:]
                for rule in GroupPolicy.integerRules { if let v = p[keyPath: rule.path] { rules[rule.name] = v } }
                policies.append(
                    PolicyRow(group: p.group, exempt: p.exempt, rules: rules, places: p.places, features: p.features))
            case .groupMembership(let m): memberships.append(MembershipRow(userID: m.userID, groups: m.groups))
            case .strike(let s):
                strikes.append(
                    StrikeRow(
                        id: s.id, userID: s.userID, reason: s.reason.name, reservationID: s.reservationID,
                        seatID: s.seatID, at: rfc3339(s.at), removedAt: s.removed.map { rfc3339($0.at) },
                        removedBy: s.removed?.by, removalReason: s.removed?.reason))
            case .suspensionLifted(let l):
                suspensionLifts.append(LiftRow(userID: l.userID, at: rfc3339(l.at), by: l.by, reason: l.reason))
            case .audit, .mailQueued, .mailSettled: count(record)
            case .idFloor, .reservationsArchived, .epoch, .sessionRevoked, .together, .reservationsAnonymised,
                .accountErased:
                break  // a snapshot's image holds reservations one by one, never together
            }
        }
        reservations.sort { $0.id < $1.id }
    }

    /// The audit entries, and the emails still waiting (a queued one, less each settled one).
    private mutating func count(_ record: JournalRecord) {
        switch record {
        case .audit: auditEntries += 1
        case .mailQueued: mailQueued += 1
        case .mailSettled: mailQueued -= 1
        default: break
        }
    }

    /// Adds the reservations of the archive file that are not in memory.
    mutating func add(archived: [Reservation]) {
        let present = Set(reservations.map(\.id))
        for r in archived where !present.contains(r.id) {
            reservations.append(
                ReservationRow(
                    id: r.id, seatID: r.seatID, userID: r.userID, startTime: rfc3339(r.start), endTime: rfc3339(r.end),
                    status: r.status.name, createdAt: rfc3339(r.createdAt), checkedInAt: r.checkedInAt.map(rfc3339),
                    archived: true))
        }
        reservations.sort { $0.id < $1.id }
    }
}
