import DLSMSCore
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// What the load does.
public enum Scenario: String, CaseIterable, Sendable, Codable {
    /// A booking storm: random seats and slots; `contention` sends a share of them to one seat and hour.
    case book
    /// What a library sees: mostly seat searches, some bookings, cancels, check-ins and "my reservations".
    case mixed
    /// Logins (bcrypt-bound).
    case login
    /// Seat searches with a time window in one area.
    case search
    /// The release storm: every student at the instant a branch's seats open, until each has a
    /// seat or a final no (see `ReleaseStorm`).
    case release
    /// Half single bookings, half extensions of the student's own bookings by 30 minutes.
    case extend
    /// Half single bookings, half moves of the student's own bookings to a random seat.
    case move
    /// Half single bookings, half bookings of three seats together for three students.
    case group

    /// Scenarios that write, so that the checker has something to check.
    public var writes: Bool { self != .login && self != .search }
}

/// `--chaos`: the load generator runs the server itself and kills it.
public struct ChaosConfiguration: Sendable {
    public var binary: String
    public var dataDirectory: String
    /// Kill -9 / restart cycles; the load stops at the last kill and the state is read after the restart.
    public var cycles = 5
    /// The server runs this long (seconds, uniformly at random) between a restart and the next kill.
    public var uptime: ClosedRange<Double> = 0.5...2.0
    public var seats = 1_000
    /// More `dlsms serve` arguments, after the load generator's own (so they can override them).
    public var serverArguments: [String] = []

    public init(binary: String, dataDirectory: String) {
        self.binary = binary
        self.dataDirectory = dataDirectory
    }
}

public struct LoadTestConfiguration: Sendable {
    public var url = "http://127.0.0.1:8080"
    public var scenario = Scenario.book
    public var connections = 32
    /// Seconds of measured load (ignored with chaos, which runs until its cycles are done).
    public var duration = 10.0
    public var students = 1_000
    public var seed: UInt64 = 1
    /// Requests per second, open loop (latency from the intended send time); `nil` = closed loop.
    public var rate: Double?
    /// 0 = all different seats and slots … 1 = everyone wants seat 10 at 14:00 tomorrow.
    public var contention = 0.0
    /// The admin password, for reading the final state.
    public var adminPassword: String?
    /// Read the final state back and check it (writing scenarios only).
    public var check = true
    /// Seconds before a request's outcome is declared unknown.
    public var timeout = 10.0
    public var chaos: ChaosConfiguration?
    /// `release`: the storm's branch and instant.
    public var release = ReleaseConfiguration()
    /// `book` and `search` over the gRPC door at this `HOST:PORT` instead of REST.
    public var grpc: String?
    /// HTTP/2 connections the gRPC streams share (default: one per 16 streams, at most 4).
    public var grpcConnections: Int?
    /// Receives the progress line once a second.
    public var progress: @Sendable (String) -> Void = { _ in }

    public init() {}

    public func validate() throws(LoadTestError) {
        if chaos == nil {
            let parts = url.hasPrefix("http://") ? url.dropFirst(7).split(separator: ":") : []
            guard parts.count == 2, !parts[0].isEmpty, !parts[0].contains("/"),
                let port = Int(parts[1].split(separator: "/", omittingEmptySubsequences: false)[0]),
                (1...65_535).contains(port)
            else { throw .invalid("--url must be http://HOST:PORT (plain HTTP; got '\(url)')") }
        }
        guard connections >= 1, connections <= 10_000 else { throw .invalid("--connections must be 1…10000") }
        guard students >= connections else {
            throw .invalid(
                "--students (\(students)) must be at least --connections (\(connections)): each connection drives its own students"
            )
        }
        guard students <= 1_000_000 else { throw .invalid("--students must be at most 1000000") }
        guard duration > 0, duration <= 86_400 else { throw .invalid("--duration must be 0…86400 seconds") }
        if let rate, !(rate > 0 && rate <= 10_000_000) { throw .invalid("--rate must be 0…10000000 requests/s") }
        guard (0...1).contains(contention) else { throw .invalid("--contention must be between 0 and 1") }
        guard timeout > 0 else { throw .invalid("--timeout must be positive") }
        if check && scenario.writes && adminPassword == nil && chaos == nil {
            throw .invalid("the checker reads the final state as admin: pass --admin-password (or --no-check)")
        }
        if let grpc {
            let parts = grpc.split(separator: ":")
            guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65_535).contains(port) else {
                throw .invalid("--grpc must be HOST:PORT (an IPv4 address, e.g. 127.0.0.1:9090; got '\(grpc)')")
            }
            guard scenario == .book || scenario == .search else {
                throw .invalid("--grpc runs the book and search scenarios only")
            }
            guard chaos == nil else { throw .invalid("--grpc cannot be combined with --chaos") }
            if let n = grpcConnections, !(1...connections).contains(n) {
                throw .invalid("--grpc-connections must be 1…--connections")
            }
        }
        if scenario == .release {
            guard rate == nil else { throw .invalid("--rate does not apply to the release storm (it fires at once)") }
            guard (1...100_000).contains(release.seats) else { throw .invalid("--seats must be 1…100000") }
            guard release.lead >= 1, release.lead <= 3_600 else { throw .invalid("--lead must be 1…3600 seconds") }
            guard adminPassword != nil || chaos != nil else {
                throw .invalid("the release storm makes its branch as admin: pass --admin-password")
            }
        }
        if let chaos {
            guard chaos.cycles >= 1 else { throw .invalid("--cycles must be at least 1") }
            guard chaos.uptime.lowerBound > 0 else { throw .invalid("--min-uptime must be positive") }
            guard chaos.seats >= 1 else { throw .invalid("--seats must be at least 1") }
        }
    }
}

public enum LoadTestError: Error, CustomStringConvertible {
    case invalid(String)
    case serverDidNotStart(binary: String, status: Int32)
    case preparation(String)
    case finalRead(String)
    /// The run's answers were refusals of the run itself (unauthorised, nothing acknowledged, …):
    /// a benchmark of nothing.
    case degenerate(String)

    public var description: String {
        switch self {
        case .invalid(let text): return text
        case .serverDidNotStart(let binary, let status):
            return
                "\(binary) serve did not start listening (exit status \(status)); see server.log in the data directory"
        case .preparation(let text): return "preparing the run: \(text)"
        case .finalRead(let text): return "reading the final state: \(text)"
        case .degenerate(let text): return "a degenerate run, refused: \(text)"
        }
    }
}

/// A prepared student: registered through the API, with its token.
struct Student: Sendable {
    var studentID: String
    var userID: Int64
    var token: String
    /// Acknowledged `CONFIRMED` reservations this run may still cancel or check in.
    var held: [(id: Int64, now: Bool)] = []
    /// Acknowledged reservations this run may still extend or move, with their ends.
    var windows: [(id: Int64, end: Int64)] = []
}

/// What preparation found on the server.
struct Fixture: Sendable {
    var students: [Student]
    var seats: [Int64]
    var areas: [String]
    var adminToken: String?
    /// Midnight UTC of the day the run started (Unix seconds).
    var today: Int64
}

/// Runs one load test: prepares students, drives the scenario, reads the final state back and checks it.
public enum LoadTest {
    public static let branch = "Load Test Library"
    static let password = "load-test-password"

    public static func run(_ config: LoadTestConfiguration) async throws -> LoadReport {
        try config.validate()
        let client = LoadClient(timeoutSeconds: config.timeout)
        var supervisor: ServerSupervisor?
        do {
            var base = config.url
            var adminPassword = config.adminPassword
            if let chaos = config.chaos {
                let password = config.adminPassword ?? "chaos-admin-\(UInt32.random(in: 0...UInt32.max))"
                adminPassword = password
                try FileManager.default.createDirectory(
                    atPath: chaos.dataDirectory, withIntermediateDirectories: true)
                // The release storm makes its own branch and keeps the per-student limits (the
                // checker holds the students to them); it needs a connection per student.
                let scenarioArguments =
                    config.scenario == .release
                    ? [
                        "--max-connections", String(max(4_096, config.connections + 1_024)),
                        "--connections-per-address", String(max(256, config.connections + 1_024)),
                    ]
                    : [
                        "--max-upcoming", "100000000", "--booking-attempts-per-second", "0", "--load-test-seats",
                        String(chaos.seats),
                    ]
                let s = ServerSupervisor(
                    binary: chaos.binary,
                    arguments: [
                        "--data-dir", chaos.dataDirectory, "--fsync", "always", "--bcrypt-cost", "4",
                        "--registrations-per-hour", "100000000", "--hashes-per-client", "100000",
                        "--admin-password", password, "--snapshot-interval", "2", "--log-level", "warning",
                    ] + scenarioArguments + chaos.serverArguments,
                    logPath: chaos.dataDirectory + "/server.log")
                supervisor = s
                base = try await s.start()
            }
            let report =
                config.scenario == .release
                ? try await ReleaseStorm.run(
                    config, client: client, base: base, adminPassword: adminPassword, supervisor)
                : try await run(config, client: client, base: base, adminPassword: adminPassword, supervisor)
            await supervisor?.stop()
            return report
        } catch {
            await supervisor?.kill9()
            throw error
        }
    }

    static func run(
        _ config: LoadTestConfiguration, client: LoadClient, base: String, adminPassword: String?,
        _ supervisor: ServerSupervisor?
    ) async throws -> LoadReport {
        let startedAt = Int64(Date().timeIntervalSince1970)
        let fixture = try await prepare(config, client: client, base: base, adminPassword: adminPassword)
        let target = Target(base: base)
        let cpuAtStart = processCPUSeconds()
        let origin = NIODeadline.now()
        let recorder = Recorder(origin: origin)
        let shared = Shared()
        var rng = SplitMix64(seed: config.seed)
        let workers = makeWorkers(
            config, fixture: fixture, client: client, target: target, recorder: recorder, shared: shared,
            origin: origin, rng: &rng)
        let chaosSeed = rng.next()
        let progress = reportProgress(config, recorder: recorder, shared: shared, origin: origin)
        let grpcSeed = rng.next()
        let history = await drive(
            workers, config: config, fixture: fixture, grpcSeed: grpcSeed, chaosSeed: chaosSeed, supervisor,
            target: target, recorder: recorder, shared: shared, origin: origin)
        let seconds = Double((NIODeadline.now() - origin).nanoseconds) / 1e9
        progress.cancel()
        var results = recorder.results(seconds: seconds)
        results.clientCpuSeconds = processCPUSeconds() - cpuAtStart
        if let failure = shared.failure.withLock({ $0 }) { throw failure }

        var report = LoadReport(
            scenario: config.scenario, startedAt: RFC3339.format(startedAt), url: base,
            connections: config.connections, durationSeconds: config.chaos == nil ? config.duration : nil,
            students: config.students, seed: config.seed, rate: config.rate, contention: config.contention,
            machine: Machine.current(), chaos: config.chaos == nil ? nil : shared.events.withLock { $0 },
            results: results, check: nil)
        if config.check && config.scenario.writes {
            let connection = client.connection()
            defer { connection.close() }
            let final = try await readFinalState(client: connection, base: await target.current(), fixture: fixture)
            let verdict = Checker.check(history: history, final: final, students: Set(fixture.students.map(\.userID)))
            report.check = verdict
            try refuseDegenerate(config.scenario, verdict)
        }
        return report
    }

    /// A run of the extend, move or group scenario measures its operation only if the operation
    /// happened: none acknowledged (all refused, unauthorised, or never sent) refuses the run.
    static func refuseDegenerate(_ scenario: Scenario, _ v: Verdict) throws {
        let done: Int? =
            switch scenario {
            case .extend: v.acknowledgedExtensions
            case .move: v.acknowledgedMoves
            case .group: v.acknowledgedGroups
            default: nil
            }
        if let done, done == 0 || v.acknowledgedBookings == 0 {
            throw LoadTestError.degenerate(
                "no \(scenario.rawValue) acknowledged (\(done)) or no single booking (\(v.acknowledgedBookings)): nothing to measure"
            )
        }
    }

    /// One worker per connection. Each connection owns the students with its index modulo the
    /// connection count, and runs on one event loop with its socket: no thread hop between a
    /// request and the next.
    static func makeWorkers(
        _ config: LoadTestConfiguration, fixture: Fixture, client: LoadClient, target: Target, recorder: Recorder,
        shared: Shared, origin: NIODeadline, rng: inout SplitMix64
    ) -> [Worker] {
        var workers: [Worker] = []
        for w in 0..<(config.grpc == nil ? config.connections : 0) {
            let own = stride(from: w, to: fixture.students.count, by: config.connections).map { fixture.students[$0] }
            workers.append(
                Worker(
                    config: config, fixture: fixture, students: own, rng: SplitMix64(seed: rng.next()),
                    connection: client.connection(), target: target, recorder: recorder, shared: shared,
                    origin: origin))
        }
        return workers
    }

    /// Hands the progress line to `config.progress` once a second until the load stops.
    static func reportProgress(
        _ config: LoadTestConfiguration, recorder: Recorder, shared: Shared, origin: NIODeadline
    ) -> Task<Void, Never> {
        Task {
            var tick = 1
            while !shared.stop.load(ordering: .acquiring) {
                do { try await sleep(until: origin + .seconds(Int64(tick))) } catch { return }
                let p = recorder.progress()
                var line = String(
                    format: "[%4ds] %d requests, %.0f/s, %d errors, p99 %.1f ms", tick, p.requests,
                    Double(p.requests) / Double(tick), p.errors, p.recentP99)
                if config.chaos != nil { line += ", \(shared.events.withLock { $0.count }) restarts" }
                config.progress(line)
                tick += 1
            }
        }
    }

    /// Runs the workers (or the gRPC streams) and, beside them, the clock or the chaos that stops
    /// the load; every write the clients made, with its outcome.
    static func drive(
        _ workers: [Worker], config: LoadTestConfiguration, fixture: Fixture, grpcSeed: UInt64, chaosSeed: UInt64,
        _ supervisor: ServerSupervisor?, target: Target, recorder: Recorder, shared: Shared, origin: NIODeadline
    ) async -> [Operation] {
        await withTaskGroup(of: [Operation].self) { group in
            for worker in workers {
                group.addTask { await worker.run() }
            }
            if let grpc = config.grpc {
                let parts = grpc.split(separator: ":")
                group.addTask {
                    do {
                        return try await GRPCWorker.runAll(
                            config: config, fixture: fixture, seed: grpcSeed, host: String(parts[0]),
                            port: Int(parts[1]) ?? 0, recorder: recorder, shared: shared, origin: origin)
                    } catch {
                        shared.failure.withLock { $0 = LoadTestError.preparation("gRPC \(grpc): \(error)") }
                        shared.stop.store(true, ordering: .releasing)
                        return []
                    }
                }
            }
            group.addTask {
                if let supervisor, let chaos = config.chaos {
                    await runChaos(
                        chaos, supervisor: supervisor, target: target, shared: shared, seed: chaosSeed, origin: origin)
                } else {
                    try? await sleep(until: origin + .nanoseconds(Int64(config.duration * 1e9)))
                    shared.stop.store(true, ordering: .releasing)
                }
                return []
            }
            var all: [Operation] = []
            for await part in group { all += part }
            return all
        }
    }

    /// Kills and restarts the server `cycles` times at random moments while the load runs.
    static func runChaos(
        _ chaos: ChaosConfiguration, supervisor: ServerSupervisor, target: Target, shared: Shared, seed: UInt64,
        origin: NIODeadline
    ) async {
        var rng = SplitMix64(seed: seed)
        for cycle in 1...chaos.cycles {
            let uptime = Double.random(in: chaos.uptime, using: &rng)
            try? await Task.sleep(for: .seconds(uptime))
            if cycle == chaos.cycles { shared.stop.store(true, ordering: .releasing) }
            switch await supervisor.killAndRestart(target: target, origin: origin) {
            case .success(let event): shared.events.withLock { $0.append(event) }
            case .failure(let error):
                shared.failure.withLock { $0 = error }
                shared.stop.store(true, ordering: .releasing)  // the workers' requests fail fast now
                return
            }
        }
    }

    // MARK: Preparation

    static func prepare(
        _ config: LoadTestConfiguration, client: LoadClient, base: String, adminPassword: String?
    ) async throws -> Fixture {
        let students = try await registerStudents(config, client: client, base: base)
        let connection = client.connection()
        defer { connection.close() }
        var adminToken: String?
        if let adminPassword {
            adminToken = try await login("admin", adminPassword, client: connection, base: base).token
        }
        let token = students[0].token
        let branches = try await getJSON(base + "/branches", token: token, client: connection)
        guard
            let list = branches["branches"] as? [[String: Any]],
            let ours = list.first(where: { $0["branch"] as? String == branch }),
            let areas = ours["areas"] as? [String], !areas.isEmpty
        else {
            throw LoadTestError.preparation(
                "the server has no '\(branch)': start it with --load-test-seats N (and --bcrypt-cost 4 --max-upcoming 100000000 --booking-attempts-per-second 0 --registrations-per-hour 100000000 --hashes-per-client 100000 for a quick preparation from one address and no per-student limit)"
            )
        }
        // Every seat of the branch, a page at a time.
        var seats: [Int64] = []
        var cursor = ""
        for _ in 0..<10_000 {
            let page = try await getJSON(
                base + "/seats?branch=" + encode(branch) + "&available_only=false" + cursor, token: token,
                client: connection)
            seats += ((page["seats"] as? [[String: Any]]) ?? []).compactMap { JSON.int($0["id"]) }
            guard let next = page["next_cursor"] as? String else { break }
            cursor = "&cursor=" + encode(next)
        }
        seats.sort()
        guard !seats.isEmpty else { throw LoadTestError.preparation("'\(branch)' has no seats") }
        let now = Int64(Date().timeIntervalSince1970)
        return Fixture(
            students: students, seats: seats, areas: areas, adminToken: adminToken, today: now - now % 86_400)
    }

    /// Registers `config.students` new students (`lt<tag>-<i>`) through the API, 32 at a time.
    static func registerStudents(_ config: LoadTestConfiguration, client: LoadClient, base: String) async throws
        -> [Student]
    {
        let tag = String(UInt64.random(in: 0...UInt64.max) % 2_176_782_336, radix: 36)  // up to 6 characters
        let parallel = min(config.connections, 32)
        return try await withThrowingTaskGroup(of: [(Int, Student)].self) { group in
            for t in 0..<parallel {
                group.addTask {
                    let connection = client.connection()
                    defer { connection.close() }
                    var mine: [(Int, Student)] = []
                    for i in stride(from: t, to: config.students, by: parallel) {
                        mine.append((i, try await registerOrLogin("lt\(tag)-\(i)", client: connection, base: base)))
                    }
                    return mine
                }
            }
            var all: [(Int, Student)] = []
            for try await part in group { all += part }
            return all.sorted { $0.0 < $1.0 }.map(\.1)
        }
    }

    static func registerOrLogin(_ studentID: String, client: Connection, base: String) async throws -> Student {
        let body = "{\"student_id\":\(JSON.quote(studentID)),\"password\":\(JSON.quote(password))}"
        let sent = await client.send(.POST, base + "/auth/register", json: body)
        if case .reply(409, _) = sent { return try await login(studentID, password, client: client, base: base) }
        return try student(studentID, from: sent, what: "registering \(studentID)")
    }

    static func login(_ studentID: String, _ password: String, client: Connection, base: String) async throws
        -> Student
    {
        let body = "{\"student_id\":\(JSON.quote(studentID)),\"password\":\(JSON.quote(password))}"
        let sent = await client.send(.POST, base + "/auth/login", json: body)
        return try student(studentID, from: sent, what: "logging in as \(studentID)")
    }

    static func student(_ studentID: String, from sent: Sent, what: String) throws -> Student {
        guard case .reply(let status, let body) = sent else { throw LoadTestError.preparation("\(what): \(sent)") }
        guard (200..<300).contains(status), let object = JSON.object(body), let token = object["token"] as? String,
            let userID = JSON.int(object["user_id"])
        else {
            throw LoadTestError.preparation("\(what): HTTP \(status) \(String(buffer: body).prefix(300))")
        }
        return Student(studentID: studentID, userID: userID, token: token)
    }

    static func getJSON(_ url: String, token: String?, client: Connection) async throws -> [String: Any] {
        let sent = await client.send(.GET, url, token: token)
        guard case .reply(let status, let body) = sent, status == 200, let object = JSON.object(body) else {
            throw LoadTestError.preparation("GET \(url): \(sent)")
        }
        return object
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    // MARK: Final state

    /// Every reservation on the server, read in pages as admin.
    static func readFinalState(client: Connection, base: String, fixture: Fixture) async throws -> [FinalReservation] {
        guard let token = fixture.adminToken else { throw LoadTestError.finalRead("no admin token") }
        var all: [FinalReservation] = []
        let limit = 2_000  // the most a page of the admin listing holds
        while true {
            let url = base + "/reservations?limit=\(limit)&offset=\(all.count)"
            let sent = await client.send(.GET, url, token: token)
            guard case .reply(200, let body) = sent, let object = JSON.object(body),
                let page = object["reservations"] as? [[String: Any]], let total = JSON.int(object["total"])
            else { throw LoadTestError.finalRead("GET \(url): \(sent)") }
            for r in page {
                guard let id = JSON.int(r["id"]), let seat = JSON.int(r["seat_id"]), let user = JSON.int(r["user_id"]),
                    let start = (r["start_time"] as? String).flatMap(RFC3339.parse),
                    let end = (r["end_time"] as? String).flatMap(RFC3339.parse), let status = r["status"] as? String
                else { throw LoadTestError.finalRead("a reservation without its fields: \(r)") }
                all.append(
                    FinalReservation(
                        id: id, key: BookingKey(userID: user, seatID: seat, start: start, end: end), status: status,
                        movedFrom: JSON.int(r["moved_from"]), groupID: JSON.int(r["group_id"])))
            }
            if page.isEmpty || all.count >= total { break }
        }
        return all
    }
}

/// Sleeps until `deadline` (the clock of the workers' timestamps).
func sleep(until deadline: NIODeadline) async throws {
    let nanoseconds = (deadline - NIODeadline.now()).nanoseconds
    if nanoseconds > 0 { try await Task.sleep(nanoseconds: UInt64(nanoseconds)) }
}

/// User + system CPU seconds of this process so far.
func processCPUSeconds() -> Double {
    var usage = rusage()
    #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    #else
        getrusage(RUSAGE_SELF, &usage)
    #endif
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// State shared by the workers and the controlling tasks.
final class Shared: Sendable {
    let stop = Atomic<Bool>(false)
    /// The next open-loop ticket.
    let ticket = Atomic<Int>(0)
    let events = Mutex<[ChaosEvent]>([])
    let failure = Mutex<(any Error)?>(nil)
}
