import Benchmark
import CHeapStats
import DLSMSCore
import DLSMSEngine
import Foundation

/// Bytes the program holds on the heap now (glibc's count of allocated blocks and mmapped chunks).
func heapBytes() -> Int { Int(dlsms_heap_bytes()) }

/// Resident set size now, from /proc/self/statm.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

/// Figures for the README. Run: `DLSMS_BENCHMARKS=1 swift package --disable-sandbox benchmark`.
///
/// All bookings use the engine's public async API. The benchmark rules lift the per-student
/// limit (one million bookings come from a few thousand students) and otherwise keep the defaults.
let benchmarks: @Sendable () -> Void = {
    let now: Timestamp = 1_760_184_000
    var rules = BookingRules.default
    rules.maxUpcomingPerUser = .max
    let callers = 64

    func engine(seats: Int) async throws -> SeatEngine {
        let engine = SeatEngine(configuration: EngineConfiguration(rules: rules), clock: ManualClock(now))
        try await engine.define(branch: Branch(name: "Main Library", areas: ["Silent"]))
        for s in 1...seats {
            try await engine.define(
                seat: Seat(
                    id: SeatID(s), branch: "Main Library", area: "Silent", hasPower: s % 2 == 0, hasMonitor: s % 3 == 0)
            )
        }
        return engine
    }

    /// A random booking request: any seat, any quarter hour in the next 14 days, 15 min to 1 h.
    @Sendable func request(_ rng: inout SplitMix64, seats: Int) -> BookingRequest {
        let start = now + Int64.random(in: 0..<(14 * 96 - 4), using: &rng) * 900
        return BookingRequest(
            userID: UserID.random(in: 1...10_000, using: &rng),
            seatID: SeatID.random(in: 1...Int32(seats), using: &rng),
            start: start, end: start + Int64.random(in: 1...4, using: &rng) * 900)
    }

    let throughput = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .cpuTotal], scalingFactor: .mega, maxDuration: .seconds(20), maxIterations: 5
    )

    // One million booking attempts per iteration from 64 concurrent callers, one `book` call each.
    Benchmark("Book: 1M attempts, 64 callers, 5,000 seats", configuration: throughput) { benchmark in
        let e = try await engine(seats: 5_000)
        benchmark.startMeasurement()
        await withTaskGroup(of: Int.self) { group in
            for c in 0..<callers {
                group.addTask {
                    var rng = SplitMix64(seed: UInt64(c))
                    var ok = 0
                    for _ in 0..<(1_000_000 / callers) {
                        let q = request(&rng, seats: 5_000)
                        if (try? await e.book(user: q.userID, seat: q.seatID, start: q.start, end: q.end)) != nil {
                            ok += 1
                        }
                    }
                    return ok
                }
            }
            blackHole(await group.reduce(0, +))
        }
        benchmark.stopMeasurement()
    }

    // The same through the batched path: each caller sends batches of 256.
    Benchmark("Book batched: 1M attempts, 64 callers × 256, 5,000 seats", configuration: throughput) { benchmark in
        let e = try await engine(seats: 5_000)
        benchmark.startMeasurement()
        await withTaskGroup(of: Int.self) { group in
            for c in 0..<callers {
                group.addTask {
                    var rng = SplitMix64(seed: UInt64(c))
                    var ok = 0
                    for _ in 0..<(1_000_000 / callers / 256) {
                        let batch = (0..<256).map { _ in request(&rng, seats: 5_000) }
                        ok += await e.book(batch).reduce(0) { $0 + ((try? $1.get()) != nil ? 1 : 0) }
                    }
                    return ok
                }
            }
            blackHole(await group.reduce(0, +))
        }
        benchmark.stopMeasurement()
    }

    // Seat search with availability for a two-hour window, on engines holding ~40 reservations per seat.
    for seats in [50, 5_000] {
        Benchmark(
            "Search with window: \(seats) seats",
            configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(3), maxIterations: 5_000)
        ) { (benchmark: Benchmark, e: SeatEngine) async in
            for _ in benchmark.scaledIterations {
                blackHole(
                    await e.searchSeats(SeatFilter(availableOnly: true), start: now + 24 * 3_600, end: now + 26 * 3_600)
                )
            }
        } setup: { () async throws -> SeatEngine in
            let e = try await engine(seats: seats)
            var rng = SplitMix64(seed: 7)
            for _ in 0..<(seats * 40 / 256) { _ = await e.book((0..<256).map { _ in request(&rng, seats: seats) }) }
            return e
        }
    }

    // Resident memory with 1,000,000 stored reservations, against the same engine empty:
    // (peak RSS − empty peak RSS) / 1,000,000, and the steady RSS growth per stored reservation.
    let perReservation = BenchmarkMetric.custom(
        "RSS growth per reservation (bytes)", polarity: .prefersSmaller, useScalingFactor: false)
    let heapPerReservation = BenchmarkMetric.custom(
        "heap growth per reservation (bytes)", polarity: .prefersSmaller, useScalingFactor: false)
    let memory = Benchmark.Configuration(
        metrics: [.peakMemoryResident, .wallClock, perReservation, heapPerReservation], maxDuration: .seconds(60),
        maxIterations: 1)
    // A student's search of one area (100 seats) in a branch of 2,000 seats in 20 areas, with a
    // one-hour window: the shards look up the area's seats instead of scanning the branch.
    Benchmark(
        "Search: one area of 100 seats in a branch of 2,000, 64 callers",
        configuration: .init(
            metrics: [.wallClock, .throughput, .cpuTotal], scalingFactor: .kilo, maxDuration: .seconds(20),
            maxIterations: 5)
    ) { benchmark in
        let engine = SeatEngine(configuration: EngineConfiguration(rules: rules), clock: ManualClock(now))
        let areas = (1...20).map { "Area \($0)" }
        try await engine.define(branch: Branch(name: "Load Test Library", areas: areas))
        for k in 0..<2_000 {
            try await engine.define(
                seat: Seat(
                    id: SeatID(1_001 + k), branch: "Load Test Library", area: areas[k / 100], hasPower: k % 2 == 0,
                    hasMonitor: k % 3 == 0))
        }
        let filter = SeatFilter(branch: "Load Test Library", area: "Area 7", availableOnly: true)
        benchmark.startMeasurement()
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    // 1,000 searches in all (the scaling factor), spread over the callers.
                    for _ in 0..<(1_000 / callers + (caller < 1_000 % callers ? 1 : 0)) {
                        blackHole(await engine.searchSeats(filter, start: now + 86_400, end: now + 90_000))
                    }
                }
            }
        }
        benchmark.stopMeasurement()
    }

    Benchmark("Memory: engine with 5,000 seats, empty", configuration: memory) { benchmark in
        let e = try await engine(seats: 5_000)
        blackHole(await e.stats())
    }
    Benchmark("Memory: engine with 5,000 seats and 1,000,000 reservations", configuration: memory) { benchmark in
        let e = try await engine(seats: 5_000)
        let before = residentBytes()
        let heapBefore = heapBytes()
        var rng = SplitMix64(seed: 11)
        var stored = 0
        // Non-overlapping by construction: seat s, day d, hour h → one reservation each, shuffled in
        // batches, until a million are stored.
        while stored < 1_000_000 {
            var batch: [BookingRequest] = []
            batch.reserveCapacity(1_024)
            for _ in 0..<1_024 {
                let slot = Int64.random(in: 0..<(13 * 24), using: &rng)
                batch.append(
                    BookingRequest(
                        userID: UserID.random(in: 1...10_000, using: &rng),
                        seatID: SeatID.random(in: 1...5_000, using: &rng),
                        start: now + 3_600 + slot * 3_600, end: now + 3_600 + slot * 3_600 + 3_600))
            }
            stored += await e.book(batch).reduce(0) { $0 + ((try? $1.get()) != nil ? 1 : 0) }
        }
        let held = await e.stats().reservations
        precondition(held >= 1_000_000)
        benchmark.measurement(perReservation, (residentBytes() - before) / held)
        benchmark.measurement(heapPerReservation, (heapBytes() - heapBefore) / held)
        blackHole(stored)
    }
}
