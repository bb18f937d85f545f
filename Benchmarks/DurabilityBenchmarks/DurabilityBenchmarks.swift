import Benchmark
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
}
