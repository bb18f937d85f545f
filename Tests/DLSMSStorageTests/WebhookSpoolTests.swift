import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

/// The webhook outbox on disk, through a data directory: the backlog in spools, snapshots without
/// it, exact counts across a crash, recovery that does not read it, backups that carry it.
@Suite struct WebhookSpoolTests {
    static let render: WebhookPayloadRenderer = { n in
        #"{"id":\#(n.id),"type":"\#(n.type)","padding":"\#(String(repeating: "x", count: 150))"}"#
    }

    func open(_ dir: String, queue: SpoolLimits = .init(), io: any StorageIO = PosixIO(), clock: ManualClock)
        async throws -> (DurableEngine, OpenReport)
    {
        var rules = BookingRules.default
        rules.maxUpcomingPerUser = 100_000
        return try await DurableEngine.open(
            PersistenceConfiguration(directory: dir),
            engine: EngineConfiguration(shardCount: 2, rules: rules, webhookPayload: Self.render, webhookQueue: queue),
            clock: clock, io: io, seed: { try await seedSmall($0, seats: 20, users: 10) })
    }

    /// `n` bookings, each an event: seat and hour by number, far enough apart never to conflict.
    func book(_ engine: SeatEngine, _ range: Range<Int>) async throws {
        for k in range {
            let start = t0 + 3_600 + Int64(k / 20) * 3_600
            _ = try await engine.book(
                user: UserID(k % 10 + 1), seat: SeatID(k % 20 + 1), start: start, end: start + 3_600)
        }
    }

    func queue(_ engine: SeatEngine) throws -> WebhookOutbox.Queue { try #require(engine.webhooks.endpoints.first) }

    /// Deliver `n` events as the sender does.
    func deliver(_ engine: SeatEngine, _ n: Int) async throws {
        let id = try queue(engine).endpoint.id
        for _ in 0..<n {
            let (_, event) = try #require(await engine.webhooks.next(for: id))
            try await engine.webhookDone(endpoint: id, event: event, delivered: true)
        }
    }

    func spoolDirectory(_ dir: String, _ endpoint: Int64) -> String {
        dir + "/" + WebhookOutbox.directory + "/" + String(endpoint)
    }

    /// The events owed are in the endpoint's spool, not in snapshots; a restart finds them there
    /// and new events continue the ids.
    @Test func theBacklogIsOnDiskAndSnapshotsCarryNone() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let (durable, _) = try await open(dir, clock: clock)
        let hook = try await durable.engine.registerWebhook(
            url: "http://127.0.0.1:1/", secret: "s", events: ["reservation.created"])
        try await book(durable.engine, 0..<40)
        let snap = try await durable.snapshot()
        let (_, records) = try SnapshotFile.decode(try PosixIO().read(dir + "/" + snap.name))
        #expect(!records.contains { if case .webhookEvent = $0 { true } else { false } })
        #expect(records.contains { if case .idFloor(let f) = $0 { f.webhookEvent == 41 } else { false } })
        let segments = try FileManager.default.contentsOfDirectory(atPath: spoolDirectory(dir, hook.id))
        #expect(segments.contains(Spool.stateName) && segments.contains { $0.hasSuffix(".spool") })
        // They hold who booked what: readable by the server's account only, like the rest.
        for path in [dir + "/outbox", dir + "/" + WebhookOutbox.directory, spoolDirectory(dir, hook.id)]
            + segments.map({ spoolDirectory(dir, hook.id) + "/" + $0 })
        {
            let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?
                .intValue
            #expect(mode.map { $0 & 0o077 == 0 } == true, "\(path): \(String(mode ?? 0, radix: 8))")
        }
        await durable.close()

        let (reopened, report) = try await open(dir, clock: clock)
        #expect(report.outboxSpools == 1)
        #expect(try queue(reopened.engine).pending == 40)
        let (_, first) = try #require(await reopened.engine.webhooks.next(for: hook.id))
        #expect(first.id == 1 && first.payload.contains(#""id":1,"#))
        try await book(reopened.engine, 40..<41)
        #expect(try queue(reopened.engine).spool.considered == 41)
        await reopened.close()
    }

    /// A full queue drops new events and counts each one; the counts (dropped, delivered) and the
    /// queue are exactly the same after a crash (no final snapshot, the spool's buffer lost), and
    /// go on from there.
    @Test func dropCountsAreExactAcrossACrash() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let limits = SpoolLimits(maxRecords: 10, segmentBytes: 4_096)
        let (durable, _) = try await open(dir, queue: limits, clock: clock)
        let engine = durable.engine
        _ = try await engine.registerWebhook(url: "http://127.0.0.1:1/", secret: "s", events: WebhookEvent.types)
        try await book(engine, 0..<12)
        try await durable.snapshot()  // the spool's state file: 10 kept, 2 dropped
        try await book(engine, 12..<25)
        var q = try queue(engine)
        #expect(q.pending == 10 && q.spool.dropped == 15)
        try await deliver(engine, 4)
        try await book(engine, 25..<27)
        q = try queue(engine)
        #expect(q.pending == 8 && q.spool.dropped == 15 && q.endpoint.delivered == 4)
        await durable.close(finalSnapshot: false)  // a crash, as far as the spool knows

        let (reopened, _) = try await open(dir, queue: limits, clock: clock)
        q = try queue(reopened.engine)
        #expect(
            q.pending == 8 && q.spool.dropped == 15 && q.endpoint.delivered == 4 && q.endpoint.deliveredThrough == 4)
        let (_, next) = try #require(await reopened.engine.webhooks.next(for: q.endpoint.id))
        #expect(next.id == 5)
        try await book(reopened.engine, 27..<32)
        q = try queue(reopened.engine)
        #expect(q.pending == 10 && q.spool.dropped == 18)
        // Every event made is delivered, owed or counted: 4 + 10 + 18 = 32.
        #expect(Int(q.endpoint.delivered) + q.pending + Int(q.spool.dropped) == 32)
        await reopened.close()
    }

    /// Recovery reads each spool's state file and last segment only, whatever the backlog: the
    /// start does not grow with it.
    @Test func recoveryDoesNotReadTheBacklog() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let limits = SpoolLimits(segmentBytes: 4_096)
        var read: [Int] = []
        for backlog in [200, 800] {
            let path = dir + "/\(backlog)"
            let clock = ManualClock(t0)
            let (durable, _) = try await open(path, queue: limits, clock: clock)
            _ = try await durable.engine.registerWebhook(
                url: "http://127.0.0.1:1/", secret: "s", events: WebhookEvent.types)
            try await book(durable.engine, 0..<backlog)
            await durable.close()
            let io = FillingIO()
            let (reopened, report) = try await open(path, queue: limits, io: io, clock: clock)
            #expect(try queue(reopened.engine).pending == backlog)
            let spoolBytes = io.bytesRead.withLock { $0.filter { $0.key.contains("/outbox/") }.values.reduce(0, +) }
            #expect(
                report.outboxBytesRead <= 4_096 && spoolBytes <= 4_096 + 92,
                "\(io.bytesRead.withLock { $0.filter { $0.key.contains("/outbox/") } })")
            #expect(try queue(reopened.engine).spool.pendingBytes > 10 * 4_096)
            read.append(report.outboxBytesRead)
            await reopened.close()
        }
        #expect(read.allSatisfy { $0 > 0 })
    }

    /// Events a spool holds beyond what the recovered log has (written before their record was
    /// durable, then a crash) are cut at the start, so their ids are given again to new events.
    @Test func eventsTheLogDoesNotHoldAreCut() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let limits = SpoolLimits(segmentBytes: 4_096)
        let (durable, _) = try await open(dir, queue: limits, clock: clock)
        let hook = try await durable.engine.registerWebhook(
            url: "http://127.0.0.1:1/", secret: "s", events: WebhookEvent.types)
        try await book(durable.engine, 0..<5)
        await durable.close(finalSnapshot: false)
        // Two events the log never got.
        let (spool, _) = try Spool.open(directory: spoolDirectory(dir, hook.id), io: PosixIO(), limits: limits)
        for id in [6, 7] {
            spool.offer(
                key: UInt64(id),
                payload: RecordCodec.encode(
                    .webhookEvent(
                        WebhookEvent(id: Int64(id), type: "reservation.created", createdAt: t0, payload: "{}"))),
                time: t0)
        }
        spool.flush()
        let lines = LogLines()
        var rules = BookingRules.default
        rules.maxUpcomingPerUser = 100_000
        let (reopened, _) = try await DurableEngine.open(
            PersistenceConfiguration(directory: dir),
            engine: EngineConfiguration(shardCount: 2, rules: rules, webhookPayload: Self.render, webhookQueue: limits),
            clock: clock, log: lines.add)
        #expect(lines.all.contains { $0.contains("cut 2 events") }, "\(lines.all)")
        #expect(try queue(reopened.engine).pending == 5)
        try await book(reopened.engine, 5..<6)
        var ids: [Int64] = []
        for _ in 0..<6 {
            let (_, e) = try #require(await reopened.engine.webhooks.next(for: hook.id))
            ids.append(e.id)
            #expect(e.payload.contains("padding"))
            try await reopened.engine.webhookDone(endpoint: hook.id, event: e, delivered: true)
        }
        #expect(ids == [1, 2, 3, 4, 5, 6])
        await reopened.close()
    }

    /// A data directory of a version that kept the backlog in snapshots: its first start moves
    /// the events owed into the endpoint's queue (within its bound), and ids go on after them.
    @Test func anOlderSnapshotsBacklogMovesIntoTheQueue() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let old = SeatEngine(configuration: EngineConfiguration(shardCount: 1), clock: ManualClock(t0))
        try await seedSmall(old)
        var image = await old.capture()
        image.webhooks =
            [
                .webhookEndpoint(
                    WebhookEndpoint(
                        id: 1, url: "http://127.0.0.1:1/", secret: "s", events: WebhookEvent.types,
                        deliveredThrough: 2, createdAt: t0))
            ]
            + (3...9).map {
                .webhookEvent(
                    WebhookEvent(id: $0, type: "reservation.created", createdAt: t0, payload: #"{"id":\#($0)}"#))
            }
        image.idFloor?.webhookEvent = 0  // an older version wrote no event floor
        let (bytes, _) = try SnapshotFile.encode(image, coveredLSN: 0, chainChecksum: 0, createdAt: t0)
        try PosixIO().writeAtomically(dir + "/" + SnapshotFile.name(coveredLSN: 0), bytes)
        let (durable, _) = try await open(dir, queue: SpoolLimits(maxRecords: 5), clock: ManualClock(t0))
        let q = try queue(durable.engine)
        #expect(q.pending == 5 && q.spool.dropped == 2 && q.endpoint.deliveredThrough == 2)
        let (_, first) = try #require(await durable.engine.webhooks.next(for: 1))
        #expect(first.id == 3 && first.payload == #"{"id":3}"#)
        try await durable.engine.webhookDone(endpoint: 1, event: first, delivered: true)
        try await book(durable.engine, 0..<1)
        #expect(try queue(durable.engine).spool.considered == 10)
        await durable.close()
    }

    /// Removing an endpoint deletes its spool; a backup carries the others' events.
    @Test func removalDeletesTheSpoolAndABackupCarriesTheRest() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let clock = ManualClock(t0)
        let (durable, _) = try await open(dir + "/data", clock: clock)
        let engine = durable.engine
        let kept = try await engine.registerWebhook(
            url: "http://127.0.0.1:1/a", secret: "s", events: WebhookEvent.types)
        let gone = try await engine.registerWebhook(
            url: "http://127.0.0.1:1/b", secret: "s", events: WebhookEvent.types)
        try await book(engine, 0..<30)
        #expect(FileManager.default.fileExists(atPath: spoolDirectory(dir + "/data", gone.id)))
        _ = try await engine.removeWebhook(id: gone.id)
        #expect(!FileManager.default.fileExists(atPath: spoolDirectory(dir + "/data", gone.id)))
        try await deliver(engine, 3)
        _ = try await durable.backup(to: dir + "/backup")
        try await book(engine, 30..<35)  // after the backup: not in it
        await durable.close()
        let (restored, _) = try await open(dir + "/backup", clock: clock)
        let q = try queue(restored.engine)
        #expect(q.endpoint.id == kept.id && q.pending == 27 && q.endpoint.delivered == 3)
        let (_, next) = try #require(await restored.engine.webhooks.next(for: kept.id))
        #expect(next.id == 4)
        await restored.close()
    }
}
