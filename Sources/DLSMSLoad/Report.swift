import Foundation

/// The machine a run was measured on (the figures only mean something next to it).
public struct Machine: Sendable, Codable, Equatable {
    public var cores: Int
    public var memoryGib: Double
    public var cpu: String

    static func current() -> Machine {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = info.split(separator: "\n").first { $0.hasPrefix("model name") }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingCharacters(in: .whitespaces) }
        return Machine(
            cores: ProcessInfo.processInfo.activeProcessorCount,
            memoryGib: (Double(ProcessInfo.processInfo.physicalMemory) / 1_073_741_824 * 10).rounded() / 10,
            cpu: model ?? "unknown")
    }
}

/// One run's results, written by `--report FILE` (JSON, snake_case keys) and read by
/// `Benchmarks/plot_loadtest.py`.
public struct LoadReport: Sendable, Codable, Equatable {
    public var version = 1
    public var scenario: Scenario
    public var startedAt: String
    public var url: String
    public var connections: Int
    /// The configured duration; `nil` in chaos mode, which runs until its cycles are done.
    public var durationSeconds: Double?
    public var students: Int
    public var seed: UInt64
    /// Open-loop requests per second; `nil` for a closed loop.
    public var rate: Double?
    public var contention: Double
    public var machine: Machine
    /// Chaos mode's kills and restarts.
    public var chaos: [ChaosEvent]?
    public var results: LoadResults
    /// The checker's verdict (writing scenarios).
    public var check: Verdict?
    /// The release storm's figures and its own checks.
    public var release: ReleaseResults? = nil

    /// `true` unless the checker (or the release storm's own checks) found a violation.
    public var passed: Bool { (check?.passed ?? true) && (release?.passed ?? true) }

    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    public static func decode(_ data: Data) throws -> LoadReport {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(LoadReport.self, from: data)
    }

    /// The end-of-run summary for a person.
    public var summary: String {
        let r = results
        func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
        func counts(_ d: [String: Int]) -> String {
            d.isEmpty ? "none" : d.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
        func latency(_ p: Percentiles) -> String {
            "p50 \(f(p.p50)), p90 \(f(p.p90)), p99 \(f(p.p99)), p99.9 \(f(p.p999)), max \(f(p.max))"
        }
        var lines: [String] = []
        let loop = rate.map { "open loop at \(f($0, 0))/s" } ?? "closed loop"
        lines.append(
            "scenario \(scenario.rawValue): \(connections) connections, \(students) students, seed \(seed), \(loop)"
                + (scenario == .book && contention > 0 ? ", contention \(contention)" : "")
        )
        lines.append(
            "machine: \(machine.cores) cores, \(f(machine.memoryGib, 0)) GiB, \(machine.cpu)")
        lines.append(
            "requests: \(r.requests) in \(f(r.seconds, 1)) s = \(f(r.throughputPerSecond, 0))/s (2xx \(f(r.okPerSecond, 0))/s)"
        )
        lines.append("latency ms: " + latency(r.latencyMs))
        lines.append(
            "load generator CPU: \(f(r.clientCpuSeconds, 1)) s = \(f(100 * r.clientCpuSeconds / max(r.seconds, 0.001) / Double(machine.cores), 0))% of the machine"
        )
        for (name, op) in r.operations.sorted(by: { $0.key < $1.key }) where r.operations.count > 1 {
            lines.append("  \(name): \(op.requests) requests, \(op.errors) errors; " + latency(op.latencyMs))
        }
        if [.extend, .move, .group].contains(scenario), let op = r.operations[scenario.rawValue],
            let book = r.operations["book"], op.latencyMs.mean > 0, book.latencyMs.mean > 0
        {
            // Each connection alternates at random between the two, one request at a time: at this
            // concurrency either alone would run at connections ÷ its mean latency.
            let alone = { (ms: Double) in Double(connections) * 1_000 / ms }
            lines.append(
                "\(scenario.rawValue) against single bookings in this run: \(f(alone(op.latencyMs.mean), 0))/s against "
                    + "\(f(alone(book.latencyMs.mean), 0))/s (connections ÷ mean latency), ratio "
                    + "\(f(book.latencyMs.mean / op.latencyMs.mean))")
        }
        lines.append("status: " + counts(r.statusCounts))
        lines.append("error codes: " + counts(r.errorCodes))
        lines.append("no answer: \(r.notSent) not sent (refused connection), \(r.unknown) unknown (timeout, reset)")
        if !r.transportErrors.isEmpty { lines.append("  reasons: " + counts(r.transportErrors)) }
        if let chaos, !chaos.isEmpty {
            let down = chaos.map(\.downSeconds)
            lines.append(
                "chaos: \(chaos.count) kill -9 and restart cycles, down \(f(down.min() ?? 0))–\(f(down.max() ?? 0)) s (recovery included)"
            )
        }
        if let c = check {
            lines.append(
                "check: \(c.passed ? "PASSED" : "FAILED") over \(c.reservationsRead) reservations read back — "
                    + "bookings: \(c.acknowledgedBookings) acknowledged, \(c.refusedBookings) refused, "
                    + "\(c.unknownBookings) unknown (\(c.unknownApplied) took effect); "
                    + "\(c.acknowledgedCancels) cancels and \(c.acknowledgedCheckIns) check-ins acknowledged; "
                    + "\(c.acknowledgedExtensions) extensions, \(c.acknowledgedMoves) moves and \(c.acknowledgedGroups) groups acknowledged; "
                    + "lost \(c.lost), phantom \(c.phantom), overlaps \(c.overlaps), wrong state \(c.wrongState), partial \(c.partial)"
            )
            for v in c.violations { lines.append("  " + v) }
        }
        if let release { lines += ReleaseStorm.summary(release, results: r) }
        return lines.joined(separator: "\n")
    }
}
