import ArgumentParser
import DLSMSLoad
import Foundation

extension Scenario: ExpressibleByArgument {}

/// `dlsms loadtest`: drives a server over HTTP, measures it and checks what it answered.
struct LoadTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest",
        abstract: "Load-test a DL-SMS server over HTTP and check the consistency of its answers.",
        discussion: """
            The server needs the load-test branch and, for a quick preparation, cheap password hashes, no \
            per-student limit and no per-address limit on registrations and password checks (all students come \
            from one address); this is a test configuration, never the defaults:
              dlsms serve --load-test-seats 2000 --bcrypt-cost 4 --max-upcoming 100000000 \
                --registrations-per-hour 100000000 --hashes-per-client 100000 --admin-password ADMIN
              dlsms loadtest --scenario book --admin-password ADMIN --duration 30
            The release storm (--scenario release) makes its own branch of --seats seats (500) through the \
            catalog routes, gives it a release rule at the next whole minute at least --lead seconds away, and \
            at that instant every one of --students students (5000), each on a connection of its own by default \
            (the server needs --max-connections and --connections-per-address above that), tries three favourite seats, then searches, until \
            each has a seat or a final no; it keeps the server's per-student limits:
              dlsms serve --bcrypt-cost 4 --registrations-per-hour 100000000 --hashes-per-client 100000 \
                --max-connections 8192 --connections-per-address 8192 --admin-password ADMIN
              dlsms loadtest --scenario release --admin-password ADMIN
            With --chaos the load generator starts the server itself (same configuration, fsync always) on a \
            data directory and kill -9s and restarts it at random moments. The writing scenarios (book, mixed, extend, move, group) \
            end with the checker; the exit status is 1 when it finds a violation.
            """)

    @Option(help: "Base URL of the server (ignored with --chaos).") var url = "http://127.0.0.1:8080"
    @Option(help: "book | mixed | login | search | release | extend | move | group") var scenario = Scenario.book
    @Option(help: "book and search over gRPC at HOST:PORT (e.g. 127.0.0.1:9090); preparation and the check use --url.")
    var grpc: String?
    @Option(
        name: .customLong("grpc-connections"),
        help: "--grpc: HTTP/2 connections the streams share (default: one per 16, at most 4).")
    var grpcConnections: Int?
    @Option(help: "Concurrent connections, one request in flight on each (default 32; release: one per student).")
    var connections: Int?
    @Option(help: "Seconds of load (without --chaos; release: the most the storm may last, default 60).")
    var duration: Double?
    @Option(help: "Students to register and drive (at least --connections; default 1000, release 5000).")
    var students: Int?
    @Option(help: "Seed of the random choices (default: random, printed).") var seed: UInt64?
    @Option(help: "Open loop: requests per second, latency from the intended send time (default: closed loop).")
    var rate: Double?
    @Option(help: "book: 0 = all different seats and slots … 1 = everyone wants seat 10 at 14:00 tomorrow.")
    var contention = 0.0
    @Option(
        name: .customLong("admin-password"),
        help: "Admin password, to read the final state for the checker [DLSMS_ADMIN_PASSWORD].")
    var adminPassword: String?
    @Flag(name: .customLong("no-check"), help: "Do not read the final state back and check it.") var noCheck = false
    @Option(help: "Seconds before a request's outcome is declared unknown.") var timeout = 10.0
    @Option(help: "Write the results as JSON to this file.") var report: String?

    @Flag(help: "Start the server as a child process and kill -9 / restart it at random moments.") var chaos = false
    @Option(name: .customLong("server-binary"), help: "--chaos: the dlsms binary to run (default: this one).")
    var serverBinary: String?
    @Option(name: .customLong("data-dir"), help: "--chaos: the server's data directory (default: a new temporary one).")
    var dataDir: String?
    @Option(help: "--chaos: kill/restart cycles.") var cycles = 5
    @Option(name: .customLong("min-uptime"), help: "--chaos: least seconds between a restart and the next kill.")
    var minUptime = 0.5
    @Option(name: .customLong("max-uptime"), help: "--chaos: most seconds between a restart and the next kill.")
    var maxUptime = 2.0
    @Option(
        help: "--chaos: seats of the server's load-test branch (default 1000); release: of the storm's branch (500).")
    var seats: Int?
    @Option(help: "release: least seconds from the end of preparation to the release instant (a whole minute).")
    var lead = 20.0
    @Flag(
        name: .customLong("no-release-rule"),
        help: "release: fire at an instant the client chooses, without the server's release rule.")
    var noReleaseRule = false
    @Option(
        name: .customLong("server-arg"), parsing: .unconditionalSingleValue,
        help: "--chaos: one more `dlsms serve` argument (repeatable), e.g. --server-arg=--shards=4.")
    var serverArguments: [String] = []

    /// The run's configuration from the flags; `seed` is drawn here when not given.
    func configuration(seed: UInt64) throws -> LoadTestConfiguration {
        var config = LoadTestConfiguration()
        config.url = url.hasSuffix("/") ? String(url.dropLast()) : url
        config.scenario = scenario
        config.grpc = grpc
        config.grpcConnections = grpcConnections
        let release = scenario == .release
        config.students = students ?? (release ? 5_000 : 1_000)
        config.connections = connections ?? (release ? config.students : 32)
        config.duration = duration ?? (release ? 60 : 10)
        config.release.seats = seats ?? 500
        config.release.lead = lead
        config.release.releaseRule = !noReleaseRule
        config.seed = seed
        config.rate = rate
        config.contention = contention
        config.adminPassword = adminPassword ?? ProcessInfo.processInfo.environment["DLSMS_ADMIN_PASSWORD"]
        config.check = !noCheck
        config.timeout = timeout
        if chaos {
            // The library checks the rest; a reversed range would not even form.
            guard maxUptime >= minUptime else { throw ValidationError("--max-uptime must be at least --min-uptime") }
            var c = ChaosConfiguration(
                binary: serverBinary ?? Self.ownExecutable(),
                dataDirectory: dataDir
                    ?? NSTemporaryDirectory() + "dlsms-chaos-\(ProcessInfo.processInfo.processIdentifier)")
            c.cycles = cycles
            c.uptime = minUptime...maxUptime
            c.seats = seats ?? 1_000
            c.serverArguments = serverArguments
            config.chaos = c
        }
        do {
            try config.validate()
        } catch {
            throw ValidationError(error.description)
        }
        return config
    }

    /// Checked after parsing, so that a mistake prints this command's usage and nothing runs.
    func validate() throws {
        _ = try configuration(seed: 1)
        if let report, !FileManager.default.createFile(atPath: report, contents: nil) {
            throw ValidationError("cannot write the report to \(report)")
        }
    }

    func run() async throws {
        var config = try configuration(seed: seed ?? UInt64.random(in: 1...UInt64(UInt32.max)))
        config.progress = { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
        FileHandle.standardError.write(
            Data("loadtest: \(scenario.rawValue), seed \(config.seed); preparing \(config.students) students\n".utf8))
        let result = try await LoadTest.run(config)
        print(result.summary)
        if let report {
            try result.json().write(to: URL(fileURLWithPath: report))
            print("report: \(report)")
        }
        if chaos && dataDir == nil, let directory = config.chaos?.dataDirectory {
            if result.passed {
                try? FileManager.default.removeItem(atPath: directory)
            } else {
                print("data directory kept for inspection: \(directory)")
            }
        }
        if !result.passed { throw ExitCode(1) }
    }

    static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}
