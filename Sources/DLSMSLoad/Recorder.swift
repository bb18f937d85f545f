import Histogram
import NIOCore
import Synchronization

/// Latency percentiles in milliseconds.
public struct Percentiles: Sendable, Codable, Equatable {
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double
    public var mean: Double

    init(_ h: Histogram<UInt64>) {
        func ms(_ us: UInt64) -> Double { Double(us) / 1_000 }
        if h.totalCount == 0 {
            (p50, p90, p99, p999, max, mean) = (0, 0, 0, 0, 0, 0)
            return
        }
        p50 = ms(h.valueAtPercentile(50))
        p90 = ms(h.valueAtPercentile(90))
        p99 = ms(h.valueAtPercentile(99))
        p999 = ms(h.valueAtPercentile(99.9))
        max = ms(h.max)
        mean = h.mean / 1_000
    }
}

/// One second of a run.
public struct Second: Sendable, Codable, Equatable {
    public var second: Int
    public var requests: Int
    /// Answers that were not 2xx, plus requests with no answer.
    public var errors: Int
    public var p50Ms: Double
    public var p99Ms: Double
}

/// Per operation kind (`book`, `search`, …).
public struct OperationSummary: Sendable, Codable, Equatable {
    public var requests: Int
    public var errors: Int
    public var latencyMs: Percentiles
}

/// Collects every request's latency (from its intended send time) and outcome. Thread-safe;
/// one lock per request is far below the cost of the request itself.
final class Recorder: Sendable {
    struct State {
        var all = Recorder.histogram()
        var byOperation: [String: (requests: Int, errors: Int, latency: Histogram<UInt64>)] = [:]
        var seconds: [(requests: Int, errors: Int, latency: Histogram<UInt64>)] = []
        var statuses: [Int: Int] = [:]
        var codes: [String: Int] = [:]
        var notSent = 0
        var unknown = 0
        var transport: [String: Int] = [:]
        var requests = 0
        var errors = 0
    }

    let state = Mutex(State())
    let origin: NIODeadline

    init(origin: NIODeadline) { self.origin = origin }

    static func histogram() -> Histogram<UInt64> {
        // 1 µs to one hour, 3 significant digits.
        Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    }

    /// Records one request of kind `operation` meant to be sent at `intended`, finished at `end`.
    func record(_ operation: String, intended: NIODeadline, end: NIODeadline, _ sent: Sent) {
        let micros = UInt64(max(0, (end - intended).nanoseconds / 1_000))
        let second = Int(max(0, (end - origin).nanoseconds / 1_000_000_000))
        var code: String?
        var failed = true
        switch sent {
        case .reply(let status, let body):
            failed = !(200..<300).contains(status)
            if failed { code = JSON.errorCode(status: status, body: body) }
        case .notSent, .unknown: break
        }
        state.withLock { s in
            s.requests += 1
            if failed { s.errors += 1 }
            while s.seconds.count <= second { s.seconds.append((0, 0, Recorder.histogram())) }
            s.seconds[second].requests += 1
            if failed { s.seconds[second].errors += 1 }
            // In place: a copy of a histogram would copy its counts.
            s.byOperation[operation, default: (0, 0, Recorder.histogram())].requests += 1
            if failed { s.byOperation[operation]!.errors += 1 }
            switch sent {
            case .reply(let status, _):
                _ = s.all.record(micros)
                _ = s.seconds[second].latency.record(micros)
                _ = s.byOperation[operation]!.latency.record(micros)
                s.statuses[status, default: 0] += 1
                if let code { s.codes[code, default: 0] += 1 }
            case .notSent(let reason):
                s.notSent += 1
                s.transport[reason, default: 0] += 1
            case .unknown(let reason):
                s.unknown += 1
                s.transport[reason, default: 0] += 1
            }
        }
    }

    /// Requests so far, errors so far, and the p99 of the last complete second (ms).
    func progress() -> (requests: Int, errors: Int, recentP99: Double) {
        state.withLock { s in
            let last = s.seconds.count >= 2 ? s.seconds[s.seconds.count - 2].latency : s.all
            return (s.requests, s.errors, last.totalCount == 0 ? 0 : Double(last.valueAtPercentile(99)) / 1_000)
        }
    }

    /// The results; `seconds` is the measured wall time.
    func results(seconds: Double) -> LoadResults {
        state.withLock { s in
            var ok = 0
            for (status, n) in s.statuses where (200..<300).contains(status) { ok += n }
            return LoadResults(
                requests: s.requests, seconds: seconds, throughputPerSecond: Double(s.requests) / seconds,
                okPerSecond: Double(ok) / seconds, latencyMs: Percentiles(s.all),
                statusCounts: Dictionary(uniqueKeysWithValues: s.statuses.map { (String($0.key), $0.value) }),
                errorCodes: s.codes, notSent: s.notSent, unknown: s.unknown, transportErrors: s.transport,
                operations: s.byOperation.mapValues {
                    OperationSummary(requests: $0.requests, errors: $0.errors, latencyMs: Percentiles($0.latency))
                },
                // Whole seconds only: a last, partial second would read as a collapse.
                timeline: s.seconds.prefix(Int(seconds)).enumerated().map { i, b in
                    let p = Percentiles(b.latency)
                    return Second(second: i, requests: b.requests, errors: b.errors, p50Ms: p.p50, p99Ms: p.p99)
                })
        }
    }
}

/// The measured part of a report.
public struct LoadResults: Sendable, Codable, Equatable {
    public var requests: Int
    public var seconds: Double
    public var throughputPerSecond: Double
    public var okPerSecond: Double
    /// Over every answered request (any status), from the intended send time.
    public var latencyMs: Percentiles
    public var statusCounts: [String: Int]
    public var errorCodes: [String: Int]
    /// Requests whose connection could not be made (chaos mode, while the server restarts).
    public var notSent: Int
    /// Requests without an answer (timeouts, resets).
    public var unknown: Int
    /// CPU seconds the load generator itself used while measuring (user + system): on a machine
    /// shared with the server, what it took away from it.
    public var clientCpuSeconds: Double = 0
    /// Why requests got no answer, by reason.
    public var transportErrors: [String: Int]
    public var operations: [String: OperationSummary]
    public var timeline: [Second]
}
