import Benchmark
import Crypto
import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Dispatch
import Foundation

/// Durable bookings, snapshots and recovery on this machine's disk (under the system temp dir).
/// Run: `DLSMS_BENCHMARKS=1 swift package --disable-sandbox benchmark --target DurabilityBenchmarks`.
let benchmarks: @Sendable () -> Void = {
    let now: Timestamp = 1_760_184_000
    let rules: BookingRules = {
        var r = BookingRules.default
        r.maxUpcomingPerUser = .max
        return r
    }()

    func benchDirectory(_ name: String) -> String {
        FileManager.default.temporaryDirectory.path + "/dlsms-bench-\(getpid())-\(name)"
    }

    func freshDirectory(_ name: String) -> String {
        let path = benchDirectory(name)
        try? FileManager.default.removeItem(atPath: path)
        return path
    }

    @Sendable func catalog(_ engine: SeatEngine, seats: Int) async throws {
        try await engine.define(branch: Branch(name: "Main Library", areas: ["Silent"]))
        for s in 1...seats {
            try await engine.define(
                seat: Seat(id: SeatID(s), branch: "Main Library", area: "Silent", hasPower: true, hasMonitor: false))
        }
    }

    @Sendable func request(_ rng: inout SplitMix64, seats: Int) -> BookingRequest {
        let start = now + Int64.random(in: 0..<(14 * 96 - 4), using: &rng) * 900
        return BookingRequest(
            userID: UserID.random(in: 1...10_000, using: &rng),
            seatID: SeatID.random(in: 1...Int32(seats), using: &rng),
            start: start, end: start + Int64.random(in: 1...4, using: &rng) * 900)
    }

    let throughput = BenchmarkMetric.custom("durable bookings/s", polarity: .prefersLarger, useScalingFactor: false)
    let p50 = BenchmarkMetric.custom("commit latency p50 (µs)", polarity: .prefersSmaller, useScalingFactor: false)
    let p99 = BenchmarkMetric.custom("commit latency p99 (µs)", polarity: .prefersSmaller, useScalingFactor: false)

    // Booking attempts through the engine with `--fsync always`: every acknowledgement waits for
    // the fdatasync of its group-commit batch.
    for (writers, perWriter) in [(1, 2_000), (16, 2_000), (256, 800)] {
        Benchmark(
            "Durable book (fsync always): \(writers) writers",
            configuration: .init(
                metrics: [.wallClock, throughput, p50, p99], maxDuration: .seconds(30), maxIterations: 3)
        ) { benchmark in
            let dir = freshDirectory("book\(writers)")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let clock = ManualClock(now)
            let (durable, _) = try await DurableEngine.open(
                PersistenceConfiguration(directory: dir, fsync: .always), engine: EngineConfiguration(rules: rules),
                clock: clock,
                seed: { try await catalog($0, seats: 5_000) })
            let engine = durable.engine
            let started = DispatchTime.now()
            let latencies = await withTaskGroup(of: [UInt64].self) { group in
                for w in 0..<writers {
                    group.addTask {
                        var rng = SplitMix64(seed: UInt64(w))
                        var mine: [UInt64] = []
                        mine.reserveCapacity(perWriter)
                        for _ in 0..<perWriter {
                            let q = request(&rng, seats: 5_000)
                            let t = DispatchTime.now().uptimeNanoseconds
                            _ = try? await engine.book(user: q.userID, seat: q.seatID, start: q.start, end: q.end)
                            mine.append(DispatchTime.now().uptimeNanoseconds - t)
                        }
                        return mine
                    }
                }
                return await group.reduce(into: [UInt64]()) { $0 += $1 }.sorted()
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
            benchmark.measurement(throughput, Int(Double(latencies.count) / seconds))
            benchmark.measurement(p50, Int(latencies[latencies.count / 2] / 1_000))
            benchmark.measurement(p99, Int(latencies[latencies.count * 99 / 100] / 1_000))
            await durable.close(finalSnapshot: false)
        }
    }

    /// An in-memory engine holding 1,000,000 reservations.
    @Sendable func millionEngine() async throws -> SeatEngine {
        let engine = SeatEngine(configuration: EngineConfiguration(rules: rules), clock: ManualClock(now))
        try await catalog(engine, seats: 5_000)
        var rng = SplitMix64(seed: 3)
        var stored = 0
        while stored < 1_000_000 {
            let batch = (0..<1_024).map { _ -> BookingRequest in
                let slot = Int64.random(in: 0..<(13 * 24), using: &rng)
                return BookingRequest(
                    userID: UserID.random(in: 1...10_000, using: &rng),
                    seatID: SeatID.random(in: 1...5_000, using: &rng),
                    start: now + 3_600 + slot * 3_600, end: now + 7_200 + slot * 3_600)
            }
            stored += await engine.book(batch).reduce(0) { $0 + ((try? $1.get()) != nil ? 1 : 0) }
        }
        return engine
    }

    let bytesPerReservation = BenchmarkMetric.custom(
        "bytes per reservation on disk", polarity: .prefersSmaller, useScalingFactor: false)
    let megabytesPerSecond = BenchmarkMetric.custom("MB/s (file)", polarity: .prefersLarger, useScalingFactor: false)
    let snapshotConfig = Benchmark.Configuration(
        metrics: [.wallClock, bytesPerReservation, megabytesPerSecond], maxDuration: .seconds(30), maxIterations: 3)

    // Capture, encode, compress, write, fsync and rename a snapshot of 1M reservations.
    Benchmark("Snapshot write: 1M reservations", configuration: snapshotConfig) { benchmark, engine in
        let dir = freshDirectory("snapwrite")
        try PosixIO().makeDirectory(dir)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        benchmark.startMeasurement()
        let started = DispatchTime.now()
        let image = await engine.capture()
        let (bytes, header) = try SnapshotFile.encode(
            image, coveredLSN: 1, chainChecksum: 0, createdAt: now, sizeHint: 24 << 20)
        try PosixIO().writeAtomically(dir + "/" + SnapshotFile.name(coveredLSN: 1), bytes)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        benchmark.stopMeasurement()
        benchmark.measurement(bytesPerReservation, bytes.count / header.counts.reservations)
        benchmark.measurement(megabytesPerSecond, Int(Double(bytes.count) / 1e6 / seconds))
    } setup: { () async throws -> SeatEngine in
        try await millionEngine()
    }

    // Read, verify, decompress, decode and apply a snapshot of 1M reservations into an empty engine.
    Benchmark("Snapshot load: 1M reservations", configuration: snapshotConfig) { benchmark, path in
        benchmark.startMeasurement()
        let started = DispatchTime.now()
        let bytes = try PosixIO().read(path)
        let (header, records) = try SnapshotFile.decode(bytes)
        let engine = SeatEngine(configuration: EngineConfiguration(rules: rules), clock: ManualClock(now))
        await engine.apply(batch: records)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        benchmark.stopMeasurement()
        let loaded = await engine.stats().reservations
        precondition(loaded == header.counts.reservations)
        benchmark.measurement(bytesPerReservation, bytes.count / header.counts.reservations)
        benchmark.measurement(megabytesPerSecond, Int(Double(bytes.count) / 1e6 / seconds))
    } setup: { () async throws -> String in
        let dir = freshDirectory("snapload")
        try PosixIO().makeDirectory(dir)
        let image = await (try await millionEngine()).capture()
        let (bytes, _) = try SnapshotFile.encode(image, coveredLSN: 1, chainChecksum: 0, createdAt: now)
        let path = dir + "/" + SnapshotFile.name(coveredLSN: 1)
        try PosixIO().writeAtomically(path, bytes)
        return path
    } teardown: {
        // After the last iteration (each one opens the directory the setup made).
        try? FileManager.default.removeItem(atPath: benchDirectory("snapload"))
    }

    // Open a data directory holding a snapshot of 1M reservations and 100,000 WAL records after it.
    Benchmark(
        "Recovery: 1M-reservation snapshot + 100k WAL records",
        configuration: .init(metrics: [.wallClock], maxDuration: .seconds(60), maxIterations: 3)
    ) { benchmark, dir in
        benchmark.startMeasurement()
        let (durable, report) = try await DurableEngine.open(
            PersistenceConfiguration(directory: dir), engine: EngineConfiguration(rules: rules), clock: ManualClock(now)
        )
        benchmark.stopMeasurement()
        precondition(report.replayedRecords == 100_000 && report.reservations >= 1_000_000)
        await durable.close(finalSnapshot: false)
    } setup: { () async throws -> String in
        let dir = freshDirectory("recovery")
        let engine = try await millionEngine()
        let (bytes, _) = try SnapshotFile.encode(
            await engine.capture(), coveredLSN: 0, chainChecksum: 0, createdAt: now)
        try PosixIO().makeDirectory(dir)
        try PosixIO().writeAtomically(dir + "/" + SnapshotFile.name(coveredLSN: 0), bytes)
        // 100,000 bookings after it, through the log (fsync none: this is setup).
        let wal = try WriteAheadLog(
            configuration: WALConfiguration(directory: dir, fsync: .none), nextLSN: 1, lastChecksum: 0, now: { now })
        var last = JournalTicket.durable
        let base = engine.highestReservationID
        for i in 1...100_000 {
            // Beyond the snapshot's reservations (which end within 13 days): no overlap on replay.
            let start = now + 20 * 86_400 + 3_600 * Int64(i % 300)
            last = try wal.append(
                .reservationCreated(
                    Reservation(
                        id: base + ReservationID(i), seatID: SeatID(1 + i / 300 % 5_000), userID: 1, start: start,
                        end: start + 900, createdAt: now)))
        }
        try await last.wait()
        await wal.close()
        return dir
    } teardown: {
        // After the last iteration (each one opens the directory the setup made).
        try? FileManager.default.removeItem(atPath: benchDirectory("recovery"))
    }

    // The audit trail's cost to a staff action: the same account change (revoke an account's
    // sessions: one journal record), alone and followed by its audit entry (SHA-256 chained, a
    // second record) — each acknowledged once durable, `--fsync always`.
    let actions = BenchmarkMetric.custom("staff actions/s", polarity: .prefersLarger, useScalingFactor: false)
    for audited in [false, true] {
        for writers in [1, 16] {
            Benchmark(
                "Staff action (fsync always)\(audited ? " + audit entry" : ""): \(writers) writers",
                configuration: .init(
                    metrics: [.wallClock, actions, p50, p99], maxDuration: .seconds(30), maxIterations: 3)
            ) { benchmark in
                let dir = freshDirectory("staff\(audited)\(writers)")
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let (durable, _) = try await DurableEngine.open(
                    PersistenceConfiguration(directory: dir, fsync: .always), engine: EngineConfiguration(rules: rules),
                    clock: ManualClock(now),
                    seed: { engine in
                        try await catalog(engine, seats: 10)
                        for u in 1...100 {
                            _ = try await engine.register(studentID: "S\(u)", name: "S \(u)", passwordHash: "")
                        }
                    })
                let engine = durable.engine
                let perWriter = 2_000 / writers
                let started = DispatchTime.now()
                let latencies = await withTaskGroup(of: [UInt64].self) { group in
                    for w in 0..<writers {
                        group.addTask {
                            var mine: [UInt64] = []
                            for i in 0..<perWriter {
                                let user = UserID(1 + (w * perWriter + i) % 100)
                                let t = DispatchTime.now().uptimeNanoseconds
                                _ = try? await engine.updateUser(id: user) { $0.tokenGeneration &+= 1 }
                                if audited {
                                    _ = try? await engine.recordAudit { seq, previous in
                                        var e = AuditEntry(
                                            seq: seq, at: now, actorID: 101, actor: "admin", address: "127.0.0.1",
                                            kind: "account.sessions_revoked", subject: "user:\(user)",
                                            before: #"{"role":"student","disabled":false,"token_generation":1}"#,
                                            after: #"{"role":"student","disabled":false,"token_generation":2}"#,
                                            previousHash: previous)
                                        e.hash = Array(SHA256.hash(data: e.chainInput))
                                        return e
                                    }
                                }
                                mine.append(DispatchTime.now().uptimeNanoseconds - t)
                            }
                            return mine
                        }
                    }
                    return await group.reduce(into: [UInt64]()) { $0 += $1 }.sorted()
                }
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
                precondition(!audited || engine.audit.count == latencies.count, "every action has its entry")
                benchmark.measurement(actions, Int(Double(latencies.count) / seconds))
                benchmark.measurement(p50, Int(latencies[latencies.count / 2] / 1_000))
                benchmark.measurement(p99, Int(latencies[latencies.count * 99 / 100] / 1_000))
                await durable.close(finalSnapshot: false)
            }
        }
    }

    /// 1,000,000 finished reservations (completed, no-shows, cancelled) of 10,000 students over
    /// 300 days ending a day before `now`, on 5,000 seats.
    @Sendable func finishedHistory() -> [JournalRecord] {
        var rng = SplitMix64(seed: 11)
        return (0..<1_000_000).map { i in
            let start = now - 301 * 86_400 + Int64(i) * 300 * 86_400 / 1_000_000
            let status = [ReservationStatus.completed, .completed, .noShow, .cancelled].randomElement(using: &rng)!
            return .reservationCreated(
                Reservation(
                    id: ReservationID(i + 1), seatID: SeatID.random(in: 1...5_000, using: &rng),
                    userID: UserID.random(in: 1...10_000, using: &rng), start: start, end: start + 3_600,
                    status: status, createdAt: start - 86_400, checkedInAt: status == .completed ? start + 60 : nil))
        }
    }

    let anonymisedPerSecond = BenchmarkMetric.custom(
        "reservations anonymised/s", polarity: .prefersLarger, useScalingFactor: false)
    let anonymiseConfig = Benchmark.Configuration(
        metrics: [.wallClock, anonymisedPerSecond], maxDuration: .seconds(60), maxIterations: 3)

    // Retention in memory: 1M finished reservations past --anonymise-after-days lose their link,
    // journalled (one record per shard and batch of 50,000) and synced.
    Benchmark("Anonymise in memory: 1M finished reservations", configuration: anonymiseConfig) { benchmark in
        let dir = freshDirectory("anonymise")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var kept = rules
        kept.retention = 400 * 86_400
        kept.historyPerUser = .max
        kept.anonymiseAfter = 1
        let (durable, _) = try await DurableEngine.open(
            PersistenceConfiguration(directory: dir, fsync: .always), engine: EngineConfiguration(rules: kept),
            clock: ManualClock(now), seed: { try await catalog($0, seats: 5_000) })
        await durable.engine.apply(batch: finishedHistory())
        benchmark.startMeasurement()
        let started = DispatchTime.now()
        let n = try await durable.engine.anonymiseExpired(now: now)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        benchmark.stopMeasurement()
        precondition(n == 1_000_000, "anonymised \(n)")
        benchmark.measurement(anonymisedPerSecond, Int(Double(n) / seconds))
        await durable.close(finalSnapshot: false)
    }

    // Retention in the archive: `archive.log` with 1M reservations read, anonymised, written to a
    // new file, synced and renamed over the old one.
    Benchmark("Anonymise the archive: 1M archived reservations", configuration: anonymiseConfig) { benchmark in
        let dir = freshDirectory("archive")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var kept = rules
        kept.anonymiseAfter = 1
        let (durable, _) = try await DurableEngine.open(
            PersistenceConfiguration(directory: dir, fsync: .always), engine: EngineConfiguration(rules: kept),
            clock: ManualClock(now), seed: { try await catalog($0, seats: 5_000) })
        let history = finishedHistory()
        for part in stride(from: 0, to: history.count, by: 50_000) {
            let batch = history[part..<min(part + 50_000, history.count)].map { record -> JournalRecord in
                guard case .reservationCreated(let r) = record else { return record }
                return .reservationChanged(r)
            }
            try ArchiveFile.append(batch, directory: dir, io: PosixIO(), time: now)
        }
        benchmark.startMeasurement()
        let started = DispatchTime.now()
        let n = try durable.anonymiseArchive(endedBefore: now)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
        benchmark.stopMeasurement()
        precondition(n == 1_000_000, "anonymised \(n)")
        benchmark.measurement(anonymisedPerSecond, Int(Double(n) / seconds))
        await durable.close(finalSnapshot: false)
    }
}
