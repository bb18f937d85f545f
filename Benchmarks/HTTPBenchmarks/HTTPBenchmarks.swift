import Benchmark
import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSHTTP
import Foundation

/// The HTTP layer's own work, without sockets: decoding a booking body and rendering a search
/// answer, each the old way and the way issue 15 made it. Run:
/// `DLSMS_BENCHMARKS=1 swift package --disable-sandbox benchmark --target HTTPBenchmarks`.
let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput], scalingFactor: .kilo, maxDuration: .seconds(10), maxIterations: 20)
    let body = Array(#"{"seat_id":1207,"start_time":"2026-11-28T10:00:00Z","end_time":"2026-11-28T11:00:00Z"}"#.utf8)

    // 1,000 booking bodies per iteration.
    Benchmark("Booking body: JSONDecoder, 1,000 bodies", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try JSONDecoder().decode(BookingBody.self, from: Data(body)))
        }
    }

    Benchmark("Booking body: flat reader, 1,000 bodies", configuration: configuration) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(body.withUnsafeBytes { FlatJSON.members($0) }.flatMap(BookingBody.flat))
        }
    }

    // A search answer of 100 seats, 1,000 answers per iteration.
    let views = (1...100).map { n in
        var seat = Seat(
            id: SeatID(1_000 + n), branch: "Load Test Library", area: "Load Test Area 7", hasPower: n % 2 == 0,
            hasMonitor: n % 3 == 0)
        seat.label = "LT-\(1_000 + n)"
        seat.x = Int32(n % 10)
        seat.y = Int32(n / 10)
        return SeatView(seat: seat, occupiedNow: n % 5 == 0, isAvailable: n % 4 != 0)
    }

    Benchmark("Search answer: 100 seats rendered field by field, 1,000 answers", configuration: configuration) {
        benchmark in
        for _ in benchmark.scaledIterations { blackHole(Render.seatsAnswer(views, parts: nil).bytes) }
    }

    let fragments = SeatFragments()
    Benchmark("Search answer: 100 seats from their rendered fragments, 1,000 answers", configuration: configuration) {
        benchmark in
        for _ in benchmark.scaledIterations { blackHole(Render.seatsAnswer(views, parts: fragments(views)).bytes) }
    }
}
