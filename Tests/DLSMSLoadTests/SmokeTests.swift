import DLSMSLoad
import DLSMSTestSupport
import Foundation
import Testing

/// `dlsms loadtest` for real, bounded: against a running server, and in chaos mode.
@Suite(.serialized) struct SmokeTests {
    /// Runs `dlsms loadtest ARGS --report FILE`; returns the exit status and the report.
    func loadtest(_ arguments: [String], in dir: String) async throws -> (Int32, LoadReport?) {
        let reportPath = dir + "/report.json"
        let child = try ChildProcess(try dlsmsExecutable(), ["loadtest"] + arguments + ["--report", reportPath])
        // Drain the summary so the child never blocks on a full pipe.
        let drain = Task { for await _ in child.lines {} }
        let status = await child.waitForExit(timeout: 180)
        drain.cancel()
        let report = FileManager.default.contents(atPath: reportPath).flatMap { try? LoadReport.decode($0) }
        return (status, report)
    }

    /// A server in the load-test configuration: 300 load-test seats, no per-student limits.
    func loadTestServer(_ dir: String) async throws -> ServerProcess {
        let server = try ServerProcess(
            dataDirectory: dir + "/data",
            extra: [
                "--load-test-seats", "300", "--max-upcoming", "100000000", "--booking-attempts-per-second", "0",
                "--registrations-per-hour", "100000000",
                "--hashes-per-client", "100000",
            ])
        try await server.waitUntilListening()
        return server
    }

    @Test func aBookingStormAgainstARunningServerPassesTheChecker() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try await loadTestServer(dir)
        let (status, report) = try await loadtest(
            [
                "--url", server.base, "--scenario", "book", "--duration", "3", "--connections", "8", "--students", "40",
                "--contention", "0.2", "--admin-password", "admin-password", "--seed", "11",
            ], in: dir)
        #expect(await server.stopped() == 0)
        #expect(status == 0)
        let r = try #require(report)
        let check = try #require(r.check)
        #expect(check.passed, "\(check.violations)")
        #expect(check.acknowledgedBookings > 0)
        // A fifth of the bookings want the same seat and hour: all but one of those are refused.
        #expect(check.refusedBookings > 0)
        #expect(r.results.errorCodes["seat_conflict", default: 0] > 0)
        #expect(
            r.results.requests == r.results.statusCounts.values.reduce(0, +) + r.results.notSent + r.results.unknown)
        #expect(r.results.latencyMs.p50 > 0 && r.results.latencyMs.p50 <= r.results.latencyMs.p99)
        #expect(!r.results.timeline.isEmpty)
    }

    /// The same storm through the gRPC door: the same report, the same checker (reading over REST).
    @Test func aBookingStormOverGRPCPassesTheChecker() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try await loadTestServer(dir)
        let (status, report) = try await loadtest(
            [
                "--url", server.base, "--grpc", "127.0.0.1:\(server.grpcPort)", "--scenario", "book", "--duration", "2",
                "--connections", "8", "--students", "40", "--contention", "0.2", "--admin-password", "admin-password",
                "--seed", "13",
            ], in: dir)
        let (searched, searchReport) = try await loadtest(
            [
                "--url", server.base, "--grpc", "127.0.0.1:\(server.grpcPort)", "--scenario", "search", "--duration",
                "1", "--connections", "4", "--students", "8", "--seed", "14",
            ], in: dir)
        #expect(await server.stopped() == 0)
        #expect(status == 0 && searched == 0)
        let r = try #require(report)
        let check = try #require(r.check)
        #expect(check.passed, "\(check.violations)")
        #expect(check.acknowledgedBookings > 0 && check.refusedBookings > 0)
        #expect(r.results.errorCodes["seat_conflict", default: 0] == check.refusedBookings)
        #expect(r.results.statusCounts["201", default: 0] == check.acknowledgedBookings)
        let search = try #require(searchReport)
        #expect(search.results.requests > 0 && search.results.statusCounts["200"] == search.results.requests)
    }

    @Test func chaosRestartsLoseNothingAcknowledged() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, report) = try await loadtest(
            [
                "--chaos", "--server-binary", try dlsmsExecutable(), "--data-dir", dir + "/data", "--cycles", "3",
                "--min-uptime", "0.3", "--max-uptime", "1", "--scenario", "mixed", "--connections", "8", "--students",
                "40", "--seats", "200", "--seed", "12",
            ], in: dir)
        #expect(status == 0)
        let r = try #require(report)
        #expect(r.chaos?.count == 3)
        let check = try #require(r.check)
        #expect(check.passed, "\(check.violations)")
        #expect(check.acknowledgedBookings > 0)
    }

    /// Extensions, moves and groups against a running server: the checker (wholeness included)
    /// passes, and each scenario's operation was acknowledged (else the run is refused).
    @Test(arguments: ["extend", "move", "group"]) func theSeatOverTheDayPassesTheChecker(_ scenario: String)
        async throws
    {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try await loadTestServer(dir)
        let (status, report) = try await loadtest(
            [
                "--url", server.base, "--scenario", scenario, "--duration", "2", "--connections", "8", "--students",
                "40", "--admin-password", "admin-password", "--seed", "17",
            ], in: dir)
        #expect(await server.stopped() == 0)
        #expect(status == 0)
        let r = try #require(report)
        let check = try #require(r.check)
        #expect(check.passed, "\(check.violations)")
        let done = [
            "extend": check.acknowledgedExtensions, "move": check.acknowledgedMoves, "group": check.acknowledgedGroups,
        ][scenario]
        #expect((done ?? 0) > 0 && check.acknowledgedBookings > 0)
        #expect((r.results.operations[scenario]?.requests ?? 0) > 0, "\(r.results.operations.keys)")
    }

    /// kill -9 while groups are booked and reservations moved: after each recovery the checker
    /// finds no partial group and no move that left both seats or neither.
    @Test(arguments: ["group", "move"]) func chaosLeavesNoPartialGroupOrMove(_ scenario: String) async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, report) = try await loadtest(
            [
                "--chaos", "--server-binary", try dlsmsExecutable(), "--data-dir", dir + "/data", "--cycles", "3",
                "--min-uptime", "0.3", "--max-uptime", "1", "--scenario", scenario, "--connections", "8", "--students",
                "40", "--seats", "200", "--seed", "19",
            ], in: dir)
        #expect(status == 0)
        let r = try #require(report)
        #expect(r.chaos?.count == 3)
        let check = try #require(r.check)
        #expect(check.passed && check.partial == 0, "\(check.violations)")
        #expect(check.acknowledgedGroups + check.acknowledgedMoves > 0)
    }

    @Test func badArgumentsAreRefusedWithAUsageError() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for arguments in [
            ["--students", "2", "--connections", "8", "--no-check"],
            ["--contention", "2", "--no-check"],
            ["--scenario", "nonsense"],
            ["--scenario", "book"],  // the checker needs the admin password
            ["--chaos", "--min-uptime", "0"],
        ] {
            let (status, report) = try await loadtest(arguments + ["--url", "http://127.0.0.1:1"], in: dir)
            #expect(status == 64, "\(arguments)")
            #expect(report == nil)
        }
        for url in ["https://127.0.0.1:8080", "127.0.0.1:8080", "http://127.0.0.1", "http://127.0.0.1:99999"] {
            let (status, _) = try await loadtest(["--url", url, "--no-check"], in: dir)
            #expect(status == 64, "\(url)")
        }
    }

    @Test func anUnreachableServerIsAClearFailure() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (status, report) = try await loadtest(
            ["--url", "http://127.0.0.1:1", "--no-check", "--students", "4", "--connections", "2"], in: dir)
        #expect(status == 1)
        #expect(report == nil)
    }
}
