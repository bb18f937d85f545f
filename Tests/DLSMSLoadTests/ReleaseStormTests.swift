import DLSMSCore
import DLSMSTestSupport
import Foundation
import NIOCore
import Testing

@testable import DLSMSLoad

/// The release storm: its own checks on a made-up final state, then small storms against a real
/// server (one with a kill -9 in the middle).
@Suite(.serialized) struct ReleaseStormTests {
    static let day: Int64 = 1_800_000_000 / 86_400 * 86_400 + 86_400

    func storm(seats: [Int64]) -> Storm {
        Storm(
            branch: "B", seats: seats,
            windows: [8, 12, 16].map { Storm.Window(start: Self.day + $0 * 3_600, end: Self.day + ($0 + 4) * 3_600) },
            releaseAt: Self.day - 86_400 + 7 * 3_600, instant: .now())
    }

    func results(_ storm: Storm) -> ReleaseResults {
        ReleaseStorm.summarize(
            storm, students: [], counts: StormCounts(),
            results: Recorder(origin: .now()).results(seconds: 1),
            limits: StudentLimits(maxUpcoming: 1, maxDurationMinutes: 240, maxHoursPerDay: nil), connections: 1)
    }

    func held(_ id: Int64, user: Int64, seat: Int64, _ w: Storm.Window, _ status: String = "CONFIRMED")
        -> FinalReservation
    {
        FinalReservation(
            id: id, key: BookingKey(userID: user, seatID: seat, start: w.start, end: w.end), status: status)
    }

    @Test func aFreeSeatWindowWhileSomeoneWasToldNoIsAViolation() {
        let s = storm(seats: [1, 2])
        var final: [FinalReservation] = []
        var id: Int64 = 1
        for seat: Int64 in [1, 2] {
            for w in s.windows {
                final.append(held(id, user: 100 + id, seat: seat, w))
                id += 1
            }
        }
        var all = results(s)
        let limits = StudentLimits(maxUpcoming: 1, maxDurationMinutes: 240, maxHoursPerDay: nil)
        ReleaseStorm.check(&all, final: final, storm: s, students: Set(101...106), limits: limits, anyFinalNo: true)
        #expect(all.seatWindowsBooked == 6 && all.freeWhileRefused == 0 && all.overLimit == 0 && all.passed)

        // Seat 2's last window cancelled: free, and someone was told no.
        final[5].status = "CANCELLED"
        var some = results(s)
        ReleaseStorm.check(&some, final: final, storm: s, students: Set(101...106), limits: limits, anyFinalNo: true)
        #expect(some.seatWindowsBooked == 5 && some.freeWhileRefused == 1 && !some.passed)
        // Nobody was told no: a free seat-window is no violation.
        var none = results(s)
        ReleaseStorm.check(&none, final: final, storm: s, students: Set(101...106), limits: limits, anyFinalNo: false)
        #expect(none.freeWhileRefused == 0 && none.passed)
    }

    @Test func aStudentAboveTheirLimitsIsAViolation() {
        let s = storm(seats: [1, 2])
        let final = [held(1, user: 7, seat: 1, s.windows[0]), held(2, user: 7, seat: 2, s.windows[1])]
        var r = results(s)
        ReleaseStorm.check(
            &r, final: final, storm: s, students: [7],
            limits: StudentLimits(maxUpcoming: 1, maxDurationMinutes: 240, maxHoursPerDay: nil), anyFinalNo: false)
        #expect(r.overLimit == 1 && !r.passed)
        var hours = results(s)
        ReleaseStorm.check(
            &hours, final: final, storm: s, students: [7],
            limits: StudentLimits(maxUpcoming: 3, maxDurationMinutes: 240, maxHoursPerDay: 6), anyFinalNo: false)
        #expect(hours.overLimit == 1 && hours.problems.contains { $0.contains("8 h on one day") })
        var fine = results(s)
        ReleaseStorm.check(
            &fine, final: final, storm: s, students: [7],
            limits: StudentLimits(maxUpcoming: 2, maxDurationMinutes: 240, maxHoursPerDay: 8), anyFinalNo: false)
        #expect(fine.overLimit == 0 && fine.passed)
    }

    /// Runs `dlsms loadtest --scenario release ARGS --report FILE`.
    func loadtest(_ arguments: [String], in dir: String) async throws -> (Int32, LoadReport?, String) {
        let reportPath = dir + "/report.json"
        let errorPath = dir + "/loadtest.err"
        _ = FileManager.default.createFile(atPath: errorPath, contents: nil)
        let child = try ChildProcess(
            try dlsmsExecutable(), ["loadtest", "--scenario", "release"] + arguments + ["--report", reportPath],
            standardError: FileHandle(forWritingAtPath: errorPath))
        let output = Task {
            var lines: [String] = []
            for await line in child.lines { lines.append(line) }
            return lines.joined(separator: "\n")
        }
        let status = await child.waitForExit(timeout: 240)
        let report = FileManager.default.contents(atPath: reportPath).flatMap { try? LoadReport.decode($0) }
        let errors = (try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? ""
        return (status, report, await output.value + "\n" + errors)
    }

    /// The storm's own invariants and the checker's, for a storm with more students than seat-windows.
    func expectSettled(_ report: LoadReport?, students: Int, seats: Int, output: String) throws {
        let r = try #require(report, "\(output)")
        let release = try #require(r.release)
        let check = try #require(r.check)
        #expect(check.passed, "\(check.violations)")
        #expect(release.passed, "\(release.problems) \(release.unexpected)")
        #expect(release.seatWindows == seats * 3 && release.seatWindowsBooked == release.seatWindows)
        #expect(release.seated == release.seatWindows && release.finalNo == students - release.seatWindows)
        #expect(release.settleSeconds != nil && release.unsettled == 0 && release.failed == 0)
        #expect(release.conflicts > 0)
        #expect(r.results.statusCounts["201", default: 0] >= release.seated - check.unknownApplied)
    }

    @Test func aSmallStormAgainstARunningServerSettlesAndPassesTheChecker() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try ServerProcess(
            dataDirectory: dir + "/data",
            extra: [
                "--registrations-per-hour", "100000000", "--hashes-per-client", "100000", "--max-connections", "8192",
                "--connections-per-address", "8192",
            ])
        try await server.waitUntilListening()
        let (status, report, output) = try await loadtest(
            [
                "--url", server.base, "--students", "120", "--seats", "12", "--lead", "3", "--admin-password",
                "admin-password", "--seed", "21",
            ], in: dir)
        #expect(await server.stopped() == 0)
        #expect(status == 0, "\(output)")
        try expectSettled(report, students: 120, seats: 12, output: output)
        let release = try #require(report?.release)
        // The server's release rule held a booking back before the instant, and nothing after it.
        #expect(release.releaseRule)
        #expect(release.probeBeforeInstant == "409 not_open_yet")
        #expect(release.opensAt.flatMap(RFC3339.parse) == RFC3339.parse(release.releaseAt))
        #expect(release.notOpenYet == 0)
        #expect(report?.results.unknown == 0)
    }

    @Test func aStormWithAKillInTheMiddleLosesNothingAndStillSettles() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, report, output) = try await loadtest(
            [
                "--chaos", "--server-binary", try dlsmsExecutable(), "--data-dir", dir + "/data", "--cycles", "1",
                "--min-uptime", "0.02", "--max-uptime", "0.1", "--students", "150", "--seats", "10", "--lead", "3",
                "--seed", "22",
            ], in: dir)
        #expect(status == 0, "\(output)")
        try expectSettled(report, students: 150, seats: 10, output: output)
        // The kill came in the middle of the storm, not after it.
        let kill = try #require(report?.chaos?.first)
        #expect(kill.killedAt < (report?.release?.settleSeconds ?? 0), "\(kill)")
    }
}
