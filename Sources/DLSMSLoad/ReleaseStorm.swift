import DLSMSCore
import Foundation
import Histogram
import NIOCore
import NIOHTTP1

/// `--scenario release`: the storm's branch and its release instant.
public struct ReleaseConfiguration: Sendable {
    /// Seats of the storm's branch (each bookable in three windows of the release day).
    public var seats = 500
    /// Least seconds from the end of preparation to the release instant; with a release rule
    /// the instant is the next whole minute after that (the rule's time is `HH:MM`).
    public var lead = 20.0
    /// Set the branch's release rule (`PUT /admin/branches/{name}/release`) and check that it
    /// holds; `false` fires at an instant the client chooses, for a server without release times.
    public var releaseRule = true

    public init() {}
}

/// The storm's branch, windows and instant, as the workers share them.
struct Storm: Sendable {
    var branch: String
    var seats: [Int64]
    /// The windows of the release day (Unix seconds); the first is the most wanted.
    var windows: [Window]
    /// The release instant in Unix seconds, and on the workers' clock.
    var releaseAt: Int64
    var instant: NIODeadline

    struct Window: Sendable, Equatable {
        var start: Int64
        var end: Int64
    }

    /// The share of students whose favourites are in each window.
    static let windowShare = [0.7, 0.2, 0.1]
    /// The share of favourite seats drawn from the hot tenth of the seats.
    static let hotShare = 0.6
    /// Free seats a search asks for; a student picks one of them at random.
    static let searchLimit = 20
    /// A student who has sent this many requests gives up (a failure, never expected).
    static let requestBound = 200
}

/// How a student's storm ended.
enum StudentOutcome: Equatable {
    case seat
    /// A final no: every window searched had no free seat left.
    case no
    /// An answer the storm does not expect (its error code), or too many requests.
    case failed(String)
}

/// One student in the storm: three favourite seats in one window, then searches.
struct StormStudent {
    var student: Student
    var favourites: [Int64]
    var window: Int
    var tried = 0
    /// The windows still to search, the favourite's first.
    var windowsLeft: [Int]
    var candidate: (seat: Int64, window: Int)?
    /// After an answer that may have booked (no answer, 5xx, `limit_reached`): read "my reservations" first.
    var checkMine = false
    var requests = 0
    var outcome: StudentOutcome?
    var settledAt: NIODeadline?
}

/// What the storm's answers were, counted by the workers.
struct StormCounts {
    var conflicts = 0
    var rateLimited = 0
    var notOpenYet = 0
    var unavailable = 0
    var mineChecks = 0
    var searches = 0
    var bookings = 0
    var unexpected: [String: Int] = [:]
    /// Per request: milliseconds from the instant to its answer, and its class.
    var events: [(ms: Int32, kind: UInt8)] = []

    static let ok: UInt8 = 0
    static let conflict: UInt8 = 1
    static let limited: UInt8 = 2
    static let other: UInt8 = 3

    mutating func add(_ other: StormCounts) {
        conflicts += other.conflicts
        rateLimited += other.rateLimited
        notOpenYet += other.notOpenYet
        unavailable += other.unavailable
        mineChecks += other.mineChecks
        searches += other.searches
        bookings += other.bookings
        unexpected.merge(other.unexpected, uniquingKeysWith: +)
        events += other.events
    }
}

/// One storm connection: it fires at the instant for each of its students (one request in
/// flight; with a connection per student, everyone at once) and follows each to a seat or a
/// final no. Everything runs on the connection's event loop.
final class StormWorker: @unchecked Sendable {
    let storm: Storm
    var students: [StormStudent]
    var rng: SplitMix64
    let connection: Connection
    let target: Target
    let recorder: Recorder
    let loop: any EventLoop
    let cutoff: NIODeadline
    var history: [Operation] = []
    var counts = StormCounts()
    private var ready: [Int] = []
    private var readyHead = 0
    /// Per window, the free seats the last search counted: the next search asks a random page
    /// below it, so that the connection's students do not all try the same first seats.
    private var knownFree: [Int]
    private var active: Int
    private var busy = false
    private var cutoffPassed = false
    private var finished: EventLoopPromise<Void>?

    init(
        storm: Storm, students: [StormStudent], rng: SplitMix64, connection: Connection, target: Target,
        recorder: Recorder, cutoff: NIODeadline
    ) {
        self.storm = storm
        self.students = students
        self.rng = rng
        self.connection = connection
        self.target = target
        self.recorder = recorder
        self.cutoff = cutoff
        loop = connection.loop
        active = students.count
        knownFree = storm.windows.map { _ in storm.seats.count }
    }

    /// Opens the connection before the instant (the storm's students hold theirs open): the
    /// branch's rules for the first window, which carry `opens_at` once the server has release times.
    func warmUp(base: String) async -> Sent {
        let url =
            base + "/rules?branch=" + LoadTest.encode(storm.branch) + "&start_time="
            + RFC3339.format(storm.windows[0].start)
        return await connection.send(.GET, url, token: students[0].student.token)
    }

    /// Fires at the instant and returns when every student has settled (or the cutoff passed).
    func run() async {
        let promise = loop.makePromise(of: Void.self)
        loop.execute {
            self.finished = promise
            self.ready = Array(self.students.indices)
            self.loop.assumeIsolated().scheduleTask(deadline: self.storm.instant) { self.pump() }
            self.loop.assumeIsolated().scheduleTask(deadline: self.cutoff) {
                self.cutoffPassed = true
                self.pump()
            }
        }
        try? await promise.futureResult.get()
    }

    private func finish() {
        guard let promise = finished else { return }
        finished = nil
        connection.close()
        promise.succeed()
    }

    /// Sends the next ready student's request, unless one is in flight.
    private func pump() {
        guard finished != nil, !busy else { return }
        if active == 0 || cutoffPassed { return finish() }
        guard readyHead < ready.count else { return }
        let s = ready[readyHead]
        readyHead += 1
        if readyHead > 4_096 && readyHead * 2 > ready.count {
            ready.removeFirst(readyHead)
            readyHead = 0
        }
        busy = true
        target.current(on: loop).assumeIsolated().whenSuccess { base in
            self.act(s, base: base).whenComplete { _ in
                self.busy = false
                // Through the loop's queue, so that answers completed at once never nest.
                self.loop.execute { self.pump() }
            }
        }
    }

    private func requeue(_ s: Int) { ready.append(s) }

    private func later(_ s: Int, _ deadline: NIODeadline) {
        loop.assumeIsolated().scheduleTask(deadline: deadline) {
            self.ready.append(s)
            self.pump()
        }
    }

    /// `Retry-After` (at least a second), and up to a quarter of a second more at random, so that
    /// the students sent away together do not all come back in the same millisecond.
    private func backOff(_ now: NIODeadline, _ retryAfter: Int?) -> NIODeadline {
        now + .seconds(Int64(max(1, retryAfter ?? 1))) + .milliseconds(Int64(rng.next() % 250))
    }

    private func settle(_ s: Int, _ outcome: StudentOutcome) {
        guard students[s].outcome == nil else { return }
        students[s].outcome = outcome
        students[s].settledAt = .now()
        active -= 1
    }

    /// One request for student `s`: "my reservations" after an unknown outcome, the candidate
    /// seat, the next favourite, or a search of the next window.
    private func act(_ s: Int, base: String) -> EventLoopFuture<Void> {
        students[s].requests += 1
        if students[s].requests > Storm.requestBound {
            settle(s, .failed("more than \(Storm.requestBound) requests"))
            return loop.makeSucceededVoidFuture()
        }
        if students[s].checkMine { return mine(s, base: base) }
        if let c = students[s].candidate { return book(s, seat: c.seat, window: c.window, base: base) }
        if students[s].tried < students[s].favourites.count {
            let seat = students[s].favourites[students[s].tried]
            students[s].tried += 1
            students[s].candidate = (seat, students[s].window)
            return book(s, seat: seat, window: students[s].window, base: base)
        }
        guard let w = students[s].windowsLeft.first else {
            settle(s, .no)
            return loop.makeSucceededVoidFuture()
        }
        return search(s, window: w, base: base)
    }

    private func note(_ kind: String, _ sent: Sent, began: NIODeadline, _ event: UInt8) {
        let now = NIODeadline.now()
        recorder.record(kind, intended: began, end: now, sent)
        counts.events.append((Int32(clamping: (now - storm.instant).nanoseconds / 1_000_000), event))
    }

    private func book(_ s: Int, seat: Int64, window w: Int, base: String) -> EventLoopFuture<Void> {
        let window = storm.windows[w]
        let body =
            "{\"seat_id\":\(seat),\"start_time\":\"\(RFC3339.format(window.start))\",\"end_time\":\"\(RFC3339.format(window.end))\"}"
        let key = BookingKey(userID: students[s].student.userID, seatID: seat, start: window.start, end: window.end)
        let began = NIODeadline.now()
        counts.bookings += 1
        return connection.exchange(.POST, base + "/reservations", token: students[s].student.token, json: body)
            .assumeIsolated().map { answer in
                let (sent, retryAfter) = answer
                var id: Int64?
                var code = ""
                var status = 0
                if case .reply(let st, let reply) = sent {
                    status = st
                    if (200..<300).contains(st) {
                        id = JSON.integer("id", in: reply)
                    } else {
                        code = JSON.errorCode(status: st, body: reply)
                    }
                }
                self.history.append(.book(key, sent.outcome, reservationID: id))
                var kind = StormCounts.other
                if (200..<300).contains(status) {
                    kind = StormCounts.ok
                } else if code == "seat_conflict" {
                    kind = StormCounts.conflict
                } else if status == 429 {
                    kind = StormCounts.limited
                }
                self.note("book", sent, began: began, kind)
                self.bookAnswered(s, sent: sent, status: status, code: code, retryAfter: retryAfter)
            }.nonisolated()
    }

    private func bookAnswered(_ s: Int, sent: Sent, status: Int, code: String, retryAfter: Int?) {
        let now = NIODeadline.now()
        switch sent {
        case .reply where (200..<300).contains(status):
            settle(s, .seat)
        case .reply where status == 409 && code == "seat_conflict":
            counts.conflicts += 1
            students[s].candidate = nil
            requeue(s)
        case .reply where status == 429:
            // The bucket refills: wait as told, then try the same seat again.
            counts.rateLimited += 1
            later(s, backOff(now, retryAfter))
        case .reply where status == 409 && code == "not_open_yet":
            counts.notOpenYet += 1
            later(s, max(storm.instant, now + .milliseconds(5)))
        case .reply where status == 409 && code == "limit_reached":
            // Only a booking of ours whose answer was lost can hold the limit: look.
            students[s].checkMine = true
            requeue(s)
        case .reply where status == 503:
            counts.unavailable += 1
            later(s, backOff(now, retryAfter))
        case .reply where status >= 500:
            students[s].checkMine = true
            later(s, now + .milliseconds(50))
        case .reply:
            counts.unexpected["\(status) \(code)", default: 0] += 1
            settle(s, .failed(code))
        case .notSent:
            later(s, now + .milliseconds(20))
        case .unknown:
            students[s].checkMine = true
            requeue(s)
        }
    }

    private func search(_ s: Int, window w: Int, base: String) -> EventLoopFuture<Void> {
        let window = storm.windows[w]
        // A page of the free seats at random, as a student pages through the list; pages, not any
        // offset, so that the students asking the same page at once get one answer computed.
        let pages = UInt64(max(1, (knownFree[w] + Storm.searchLimit - 1) / Storm.searchLimit))
        let offset = Int(rng.next() % pages) * Storm.searchLimit
        let url =
            base + "/seats?branch=" + LoadTest.encode(storm.branch) + "&start_time=" + RFC3339.format(window.start)
            + "&end_time=" + RFC3339.format(window.end) + "&available_only=true&limit=\(Storm.searchLimit)"
            + "&offset=\(offset)"
        let began = NIODeadline.now()
        counts.searches += 1
        return connection.exchange(.GET, url, token: students[s].student.token, json: nil).assumeIsolated().map {
            answer in
            let (sent, retryAfter) = answer
            let now = NIODeadline.now()
            switch sent {
            case .reply(200, let body):
                self.note("search", sent, began: began, StormCounts.ok)
                let page = JSON.object(body)
                let seats = ((page?["seats"] as? [[String: Any]]) ?? []).compactMap { JSON.int($0["id"]) }
                let total = JSON.int(page?["total"]).map(Int.init) ?? seats.count
                self.knownFree[w] = total
                if let seat = seats.isEmpty ? nil : seats[Int(self.rng.next() % UInt64(seats.count))] {
                    self.students[s].candidate = (seat, w)
                } else if total == 0 || offset == 0 {
                    // The window is full (an empty page past the offset only means that seats
                    // were taken since the count: search again, from a lower offset).
                    self.students[s].windowsLeft.removeFirst()
                    if self.students[s].windowsLeft.isEmpty { return self.settle(s, .no) }
                }
                self.requeue(s)
            case .reply(let status, let body):
                self.note("search", sent, began: began, StormCounts.other)
                if status == 503 || status == 429 {
                    // Searches past the server's queue are shed with `Retry-After`.
                    self.counts.unavailable += 1
                    self.later(s, self.backOff(now, retryAfter))
                } else {
                    let code = JSON.errorCode(status: status, body: body)
                    self.counts.unexpected["\(status) \(code)", default: 0] += 1
                    self.settle(s, .failed(code))
                }
            case .notSent:
                self.note("search", sent, began: began, StormCounts.other)
                self.later(s, now + .milliseconds(20))
            case .unknown:
                self.note("search", sent, began: began, StormCounts.other)
                self.requeue(s)
            }
        }.nonisolated()
    }

    /// "My reservations": a booking whose answer was lost may hold a storm seat.
    private func mine(_ s: Int, base: String) -> EventLoopFuture<Void> {
        let began = NIODeadline.now()
        counts.mineChecks += 1
        return connection.exchange(
            .GET, base + "/reservations/mine?upcoming_only=true&limit=100", token: students[s].student.token, json: nil
        ).assumeIsolated().map { answer in
            let sent = answer.sent
            let now = NIODeadline.now()
            switch sent {
            case .reply(200, let body):
                self.note("mine", sent, began: began, StormCounts.ok)
                let seats = Set(self.storm.seats)
                let starts = Set(self.storm.windows.map(\.start))
                let held = ((JSON.object(body)?["reservations"] as? [[String: Any]]) ?? []).contains { r in
                    guard let seat = JSON.int(r["seat_id"]), seats.contains(seat),
                        let start = (r["start_time"] as? String).flatMap(RFC3339.parse)
                    else { return false }
                    let status = r["status"] as? String
                    return starts.contains(start) && (status == "CONFIRMED" || status == "CHECKED_IN")
                }
                if held { return self.settle(s, .seat) }
                self.students[s].checkMine = false
                self.requeue(s)
            case .reply(let status, let body):
                self.note("mine", sent, began: began, StormCounts.other)
                if status >= 500 {
                    self.later(s, now + .milliseconds(50))
                } else {
                    let code = JSON.errorCode(status: status, body: body)
                    self.counts.unexpected["\(status) \(code)", default: 0] += 1
                    self.settle(s, .failed(code))
                }
            case .notSent:
                self.note("mine", sent, began: began, StormCounts.other)
                self.later(s, now + .milliseconds(20))
            case .unknown:
                self.note("mine", sent, began: began, StormCounts.other)
                self.requeue(s)
            }
        }.nonisolated()
    }
}

/// The effective rules of the storm's students, as `GET /rules` answers them with a token.
public struct StudentLimits: Sendable, Codable, Equatable {
    public var maxUpcoming: Int
    public var maxDurationMinutes: Int
    public var maxHoursPerDay: Int?

    public init(maxUpcoming: Int, maxDurationMinutes: Int, maxHoursPerDay: Int?) {
        self.maxUpcoming = maxUpcoming
        self.maxDurationMinutes = maxDurationMinutes
        self.maxHoursPerDay = maxHoursPerDay
    }
}

/// 50 ms of the storm, from the release instant.
public struct ReleaseBin: Sendable, Codable, Equatable {
    public var fromMs: Int
    public var requests: Int
    public var ok: Int
    public var conflicts: Int
    public var rateLimited: Int
    /// Students settled (a seat or a final no) by the end of this bin.
    public var settled: Int
}

/// What the release storm measured and what its own checks found.
public struct ReleaseResults: Sendable, Codable, Equatable {
    public var branch: String
    public var seats: Int
    /// The windows of the release day, `start/end` in RFC 3339.
    public var windows: [String]
    public var releaseAt: String
    /// Whether the server's release rule held the bookings back (false: `--no-release-rule`).
    public var releaseRule: Bool
    /// The answer to one booking just before the instant (the rule's proof): `409 not_open_yet`.
    public var probeBeforeInstant: String?
    /// `opens_at` as the server announced it for the first window.
    public var opensAt: String?
    public var connections: Int
    /// From the instant until the last student had a seat or a final no; nil if some never did.
    public var settleSeconds: Double?
    public var seated: Int
    public var finalNo: Int
    public var failed: Int
    public var unsettled: Int
    /// Per student: from the instant to their seat or final no.
    public var studentSettleMs: Percentiles
    /// Requests from the instant to the settling, per second of it.
    public var requestsPerSecond: Double
    public var bookings: Int
    public var searches: Int
    public var mineChecks: Int
    public var conflicts: Int
    public var rateLimited: Int
    public var notOpenYet: Int
    public var unavailable: Int
    public var unexpected: [String: Int]
    public var limits: StudentLimits
    public var seatWindows: Int
    public var seatWindowsBooked: Int
    /// Seat-windows left free although some student was given a final no.
    public var freeWhileRefused: Int
    /// Students holding more than their limits allow.
    public var overLimit: Int
    public var problems: [String]
    public var timeline: [ReleaseBin]

    /// The storm's own invariants (the checker's verdict is separate).
    public var passed: Bool { freeWhileRefused == 0 && overLimit == 0 && failed == 0 && unsettled == 0 }
    /// The issue's target: settled within 2 s of the instant, p99 ≤ 50 ms (over every request).
    public func targetMet(p99: Double) -> Bool { (settleSeconds ?? .infinity) <= 2 && p99 <= 50 }
}

/// The release storm: its own branch with a release rule, students ready on open connections,
/// everyone at the instant, then the checker.
enum ReleaseStorm {
    static let area = "Hall"

    static func run(
        _ config: LoadTestConfiguration, client: LoadClient, base: String, adminPassword: String?,
        _ supervisor: ServerSupervisor?
    ) async throws -> LoadReport {
        let startedAt = Int64(Date().timeIntervalSince1970)
        let connection = client.connection()
        defer { connection.close() }
        guard let adminPassword else { throw LoadTestError.invalid("the release storm needs the admin password") }
        let adminToken = try await LoadTest.login("admin", adminPassword, client: connection, base: base).token
        let (branch, seats) = try await makeBranch(config, token: adminToken, client: connection, base: base)
        let students = try await LoadTest.registerStudents(config, client: client, base: base)
        let limits = try await readLimits(token: students[0].token, client: connection, base: base)

        let (storm, day) = schedule(config, branch: branch, seats: seats)
        let (releaseAt, instant) = (storm.releaseAt, storm.instant)
        var probe: String?
        if config.release.releaseRule {
            probe = try await setReleaseRule(
                storm, token: adminToken, student: students[0], client: connection, base: base)
        }

        let recorder = Recorder(origin: instant)
        let target = Target(base: base)
        var rng = SplitMix64(seed: config.seed)
        let workers = makeWorkers(
            config, storm: storm, students: students, client: client, target: target, recorder: recorder, rng: &rng)
        let opensAt = try await warmUp(workers, storm: storm, base: base, releaseRule: config.release.releaseRule)
        config.progress(
            "release storm: \(students.count) students on \(workers.count) connections, \(seats.count) seats × 3 windows of \(RFC3339.format(day).prefix(10)); release at \(RFC3339.format(releaseAt))"
        )

        let cpuAtStart = processCPUSeconds()
        let shared = Shared()
        let chaosSeed = rng.next()
        await withTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { await worker.run() } }
            if let supervisor, let chaos = config.chaos {
                group.addTask {
                    try? await sleep(until: instant)
                    await runChaos(chaos, supervisor: supervisor, target: target, shared: shared, seed: chaosSeed)
                }
            }
        }
        let seconds = Double((NIODeadline.now() - instant).nanoseconds) / 1e9
        var results = recorder.results(seconds: seconds)
        results.clientCpuSeconds = processCPUSeconds() - cpuAtStart
        if let failure = shared.failure.withLock({ $0 }) { throw failure }

        var counts = StormCounts()
        var all: [StormStudent] = []
        var history: [Operation] = []
        for worker in workers {
            counts.add(worker.counts)
            all += worker.students
            history += worker.history
        }
        try refuseDegenerate(results: results, counts: counts, students: all, chaos: config.chaos != nil)

        let final = try await LoadTest.readFinalState(
            client: connection, base: await target.current(),
            fixture: Fixture(students: students, seats: seats, areas: [area], adminToken: adminToken, today: 0))
        let verdict = Checker.check(history: history, final: final, students: Set(students.map(\.userID)))
        var release = summarize(
            storm, students: all, counts: counts, results: results, limits: limits, connections: workers.count)
        release.releaseRule = config.release.releaseRule
        release.probeBeforeInstant = probe
        release.opensAt = opensAt
        check(
            &release, final: final, storm: storm, students: Set(students.map(\.userID)), limits: limits,
            anyFinalNo: release.finalNo > 0)
        return LoadReport(
            scenario: .release, startedAt: RFC3339.format(startedAt), url: base, connections: workers.count,
            durationSeconds: nil, students: students.count, seed: config.seed, rate: nil, contention: 0,
            machine: Machine.current(), chaos: config.chaos == nil ? nil : shared.events.withLock { $0 },
            results: results, check: verdict, release: release)
    }

    // MARK: Preparation

    /// The instant: at least `lead` from now, a whole minute when the server's rule sets it; the
    /// three windows of the next day.
    static func schedule(_ config: LoadTestConfiguration, branch: String, seats: [Int64]) -> (Storm, day: Int64) {
        let now = Date().timeIntervalSince1970
        var releaseAt = Int64((now + config.release.lead).rounded(.up))
        if config.release.releaseRule { releaseAt = (releaseAt + 59) / 60 * 60 }
        let day = releaseAt - releaseAt % 86_400 + 86_400
        let windows = [8, 12, 16].map { Storm.Window(start: day + Int64($0) * 3_600, end: day + Int64($0 + 4) * 3_600) }
        let instant = NIODeadline.now() + .nanoseconds(Int64((Double(releaseAt) - now) * 1e9))
        return (Storm(branch: branch, seats: seats, windows: windows, releaseAt: releaseAt, instant: instant), day)
    }

    /// A new branch (UTC, open around the clock) with `seats` seats, made through the catalog import.
    static func makeBranch(_ config: LoadTestConfiguration, token: String, client: Connection, base: String)
        async throws -> (String, [Int64])
    {
        let branch = "Release Storm " + String(UInt64.random(in: 0...UInt64.max) % 2_176_782_336, radix: 36)
        var csv = "branch,area,seat_label,has_power,has_monitor,accessible,x,y\n"
        for i in 0..<config.release.seats {
            csv += "\(branch),\(area),R-\(i + 1),\(i % 2 == 0),false,false,\(i % 50),\(i / 50)\n"
        }
        let sent = await client.send(
            .POST, base + "/admin/catalog.csv", token: token, body: csv, contentType: "text/csv")
        guard case .reply(let status, _) = sent, (200..<300).contains(status) else {
            throw LoadTestError.preparation("importing the storm's branch (POST /admin/catalog.csv): \(sent)")
        }
        var seats: [Int64] = []
        var cursor = ""
        for _ in 0..<10_000 {
            let page = try await LoadTest.getJSON(
                base + "/seats?branch=" + LoadTest.encode(branch) + "&available_only=false&limit=1000" + cursor,
                token: token, client: client)
            seats += ((page["seats"] as? [[String: Any]]) ?? []).compactMap { JSON.int($0["id"]) }
            guard let next = page["next_cursor"] as? String else { break }
            cursor = "&cursor=" + LoadTest.encode(next)
        }
        guard seats.count == config.release.seats else {
            throw LoadTestError.preparation("'\(branch)' lists \(seats.count) seats, not \(config.release.seats)")
        }
        return (branch, seats.sorted())
    }

    /// The students' effective rules (`GET /rules` with one of their tokens: they share their groups).
    static func readLimits(token: String, client: Connection, base: String) async throws -> StudentLimits {
        let rules = try await LoadTest.getJSON(base + "/rules", token: token, client: client)
        guard let upcoming = JSON.int(rules["max_upcoming_per_student"]),
            let duration = JSON.int(rules["max_duration_minutes"])
        else { throw LoadTestError.preparation("GET /rules without max_upcoming_per_student: \(rules)") }
        return StudentLimits(
            maxUpcoming: Int(upcoming), maxDurationMinutes: Int(duration),
            maxHoursPerDay: JSON.int(rules["max_hours_per_day"]).map(Int.init))
    }

    /// Sets the branch's release rule (the day before, at the instant's minute, UTC) and proves
    /// it: a booking before the instant must be `409 not_open_yet`. Returns that answer.
    static func setReleaseRule(
        _ storm: Storm, token: String, student: Student, client: Connection, base: String
    ) async throws -> String {
        let minute = Int(storm.releaseAt % 86_400 / 60)
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let time = two(minute / 60) + ":" + two(minute % 60)
        let url = base + "/admin/branches/" + LoadTest.encode(storm.branch) + "/release"
        let sent = await client.send(.PUT, url, token: token, json: "{\"days_before\":1,\"time\":\"\(time)\"}")
        guard case .reply(let status, _) = sent, status == 200 else {
            throw LoadTestError.preparation(
                "setting the release rule (PUT \(url)): \(sent); a server without release times needs --no-release-rule"
            )
        }
        let window = storm.windows[0]
        let body =
            "{\"seat_id\":\(storm.seats[0]),\"start_time\":\"\(RFC3339.format(window.start))\",\"end_time\":\"\(RFC3339.format(window.end))\"}"
        let probe = await client.send(.POST, base + "/reservations", token: student.token, json: body)
        guard case .reply(409, let reply) = probe, JSON.errorCode(status: 409, body: reply) == "not_open_yet" else {
            throw LoadTestError.preparation(
                "the release rule at \(time) UTC does not hold a booking back before the instant: \(probe)")
        }
        return "409 not_open_yet"
    }

    static func makeWorkers(
        _ config: LoadTestConfiguration, storm: Storm, students: [Student], client: LoadClient, target: Target,
        recorder: Recorder, rng: inout SplitMix64
    ) -> [StormWorker] {
        let cutoff = storm.instant + .nanoseconds(Int64(config.duration * 1e9))
        let hot = max(1, storm.seats.count / 10)
        var all: [StormStudent] = []
        for student in students {
            let roll = Double(rng.next() >> 11) / Double(1 << 53)
            let window = roll < Storm.windowShare[0] ? 0 : roll < Storm.windowShare[0] + Storm.windowShare[1] ? 1 : 2
            var favourites: [Int64] = []
            while favourites.count < min(3, storm.seats.count) {
                let fromHot = Double(rng.next() >> 11) / Double(1 << 53) < Storm.hotShare
                let seat = storm.seats[Int(rng.next() % UInt64(fromHot ? hot : storm.seats.count))]
                if !favourites.contains(seat) { favourites.append(seat) }
            }
            all.append(
                StormStudent(
                    student: student, favourites: favourites, window: window,
                    windowsLeft: [window] + storm.windows.indices.filter { $0 != window }))
        }
        return (0..<config.connections).map { w in
            StormWorker(
                storm: storm, students: stride(from: w, to: all.count, by: config.connections).map { all[$0] },
                rng: SplitMix64(seed: rng.next()), connection: client.connection(), target: target,
                recorder: recorder, cutoff: cutoff)
        }
    }

    /// Opens every connection shortly before the instant (64 at a time, so that the server's
    /// listen queue never overflows); returns `opens_at` as the server announced it.
    static func warmUp(_ workers: [StormWorker], storm: Storm, base: String, releaseRule: Bool) async throws
        -> String?
    {
        try? await sleep(until: storm.instant - .seconds(Int64(3 + workers.count / 1_000)))
        let answers = await withTaskGroup(of: [Sent].self) { group in
            for t in 0..<min(64, workers.count) {
                group.addTask {
                    var sent: [Sent] = []
                    for i in stride(from: t, to: workers.count, by: 64) {
                        sent.append(await workers[i].warmUp(base: base))
                    }
                    return sent
                }
            }
            var all: [Sent] = []
            for await part in group { all += part }
            return all
        }
        guard NIODeadline.now() < storm.instant else {
            throw LoadTestError.preparation("opening \(workers.count) connections overran the instant: raise --lead")
        }
        for answer in answers {
            guard case .reply(200, _) = answer else {
                throw LoadTestError.preparation("opening a connection (GET /rules?branch=…): \(answer)")
            }
        }
        guard case .reply(_, let body) = answers[0], let rules = JSON.object(body) else { return nil }
        let opensAt = (rules["release"] as? [String: Any])?["opens_at"] as? String
        if releaseRule, opensAt == nil {
            throw LoadTestError.preparation(
                "the server does not announce the release (GET /rules?branch=…: release.opens_at)")
        }
        if releaseRule, let opensAt, RFC3339.parse(opensAt) != storm.releaseAt {
            throw LoadTestError.preparation(
                "the server opens the first window at \(opensAt), not at \(RFC3339.format(storm.releaseAt))")
        }
        return opensAt
    }

    /// Kills the server -9 `cycles` times during the storm (after a random uptime each) and restarts it.
    static func runChaos(
        _ chaos: ChaosConfiguration, supervisor: ServerSupervisor, target: Target, shared: Shared, seed: UInt64
    ) async {
        var rng = SplitMix64(seed: seed)
        let origin = NIODeadline.now()
        for _ in 1...chaos.cycles {
            try? await Task.sleep(for: .seconds(Double.random(in: chaos.uptime, using: &rng)))
            switch await supervisor.killAndRestart(target: target, origin: origin) {
            case .success(let event): shared.events.withLock { $0.append(event) }
            case .failure(let error):
                shared.failure.withLock { $0 = error }
                return
            }
        }
    }

    // MARK: Results

    /// A run whose answers are refusals of the run itself measures nothing: refuse it.
    static func refuseDegenerate(results: LoadResults, counts: StormCounts, students: [StormStudent], chaos: Bool)
        throws
    {
        var reasons: [String] = []
        let answered = results.statusCounts.values.reduce(0, +)
        let unauthorised = ["401", "403"].reduce(0) { $0 + results.statusCounts[$1, default: 0] }
        if answered == 0 { reasons.append("no request was answered") }
        if results.statusCounts["201", default: 0] == 0 { reasons.append("no booking was acknowledged") }
        if unauthorised > 0 { reasons.append("\(unauthorised) answers were 401/403") }
        let unexpected = counts.unexpected.values.reduce(0, +)
        if unexpected * 100 > max(answered, 1) {
            reasons.append("\(unexpected) answers the storm does not expect: \(counts.unexpected)")
        }
        if !chaos && (results.unknown + results.notSent) * 100 > max(results.requests, 1) {
            reasons.append("\(results.unknown + results.notSent) requests got no answer: \(results.transportErrors)")
        }
        if !students.contains(where: { $0.outcome == .seat }) { reasons.append("no student got a seat") }
        if !reasons.isEmpty {
            throw LoadTestError.degenerate(reasons.joined(separator: "; "))
        }
    }

    static func summarize(
        _ storm: Storm, students: [StormStudent], counts: StormCounts, results: LoadResults, limits: StudentLimits,
        connections: Int
    ) -> ReleaseResults {
        var settle = Recorder.histogram()
        var last: NIODeadline?
        for s in students {
            guard let at = s.settledAt else { continue }
            _ = settle.record(UInt64(max(0, (at - storm.instant).nanoseconds / 1_000)))
            last = max(last ?? at, at)
        }
        let unsettled = students.filter { $0.outcome == nil }.count
        let settleSeconds = unsettled == 0 ? last.map { Double(($0 - storm.instant).nanoseconds) / 1e9 } : nil
        // The timeline, in 50 ms bins.
        let settledMs = students.compactMap { s in
            s.settledAt.map { Int(($0 - storm.instant).nanoseconds / 1_000_000) }
        }.sorted()
        let lastMs = max(counts.events.map { Int($0.ms) }.max() ?? 0, settledMs.last ?? 0)
        var bins = (0...max(0, lastMs) / 50).map {
            ReleaseBin(fromMs: $0 * 50, requests: 0, ok: 0, conflicts: 0, rateLimited: 0, settled: 0)
        }
        for e in counts.events {
            let b = max(0, Int(e.ms)) / 50
            bins[b].requests += 1
            switch e.kind {
            case StormCounts.ok: bins[b].ok += 1
            case StormCounts.conflict: bins[b].conflicts += 1
            case StormCounts.limited: bins[b].rateLimited += 1
            default: break
            }
        }
        var k = 0
        for b in bins.indices {
            while k < settledMs.count && settledMs[k] < bins[b].fromMs + 50 { k += 1 }
            bins[b].settled = k
        }
        let requestsInStorm = counts.events.count
        return ReleaseResults(
            branch: storm.branch, seats: storm.seats.count,
            windows: storm.windows.map { RFC3339.format($0.start) + "/" + RFC3339.format($0.end) },
            releaseAt: RFC3339.format(storm.releaseAt), releaseRule: true, probeBeforeInstant: nil, opensAt: nil,
            connections: connections, settleSeconds: settleSeconds,
            seated: students.filter { $0.outcome == .seat }.count,
            finalNo: students.filter { $0.outcome == .no }.count,
            failed: students.filter { if case .failed? = $0.outcome { return true } else { return false } }.count,
            unsettled: unsettled, studentSettleMs: Percentiles(settle),
            requestsPerSecond: Double(requestsInStorm) / max(settleSeconds ?? results.seconds, 0.001),
            bookings: counts.bookings, searches: counts.searches, mineChecks: counts.mineChecks,
            conflicts: counts.conflicts, rateLimited: counts.rateLimited, notOpenYet: counts.notOpenYet,
            unavailable: counts.unavailable, unexpected: counts.unexpected, limits: limits,
            seatWindows: storm.seats.count * storm.windows.count, seatWindowsBooked: 0, freeWhileRefused: 0,
            overLimit: 0, problems: [], timeline: bins)
    }

    /// The storm's invariants over the final state: every seat-window booked when anyone was told
    /// no, and nobody above their limits.
    static func check(
        _ release: inout ReleaseResults, final: [FinalReservation], storm: Storm, students: Set<Int64>,
        limits: StudentLimits, anyFinalNo: Bool
    ) {
        let seats = Set(storm.seats)
        var booked = Set<[Int64]>()
        var upcoming: [Int64: Int] = [:]
        var hoursByDay: [[Int64]: Int64] = [:]
        var problems: [String] = []
        var overLimit = Set<Int64>()
        for r in final where r.heldTheSeat {
            if seats.contains(r.key.seatID), storm.windows.contains(Storm.Window(start: r.key.start, end: r.key.end)) {
                booked.insert([r.key.seatID, r.key.start])
            }
            guard students.contains(r.key.userID) else { continue }
            upcoming[r.key.userID, default: 0] += 1
            hoursByDay[[r.key.userID, r.key.start / 86_400], default: 0] += r.key.end - r.key.start
            if r.key.end - r.key.start > Int64(limits.maxDurationMinutes) * 60 {
                overLimit.insert(r.key.userID)
                problems.append("reservation \(r.id) is longer than \(limits.maxDurationMinutes) minutes")
            }
        }
        for (user, n) in upcoming.sorted(by: { $0.key < $1.key }) where n > limits.maxUpcoming {
            overLimit.insert(user)
            problems.append("user \(user) holds \(n) reservations, above max_upcoming \(limits.maxUpcoming)")
        }
        if let cap = limits.maxHoursPerDay {
            for (key, seconds) in hoursByDay where seconds > Int64(cap) * 3_600 {
                overLimit.insert(key[0])
                problems.append("user \(key[0]) holds \(seconds / 3_600) h on one day, above \(cap) h")
            }
        }
        release.seatWindowsBooked = booked.count
        if anyFinalNo {
            for seat in storm.seats {
                for w in storm.windows where !booked.contains([seat, w.start]) {
                    release.freeWhileRefused += 1
                    if problems.count < 20 {
                        problems.append(
                            "seat \(seat) was free for \(RFC3339.format(w.start)) while a student was told no")
                    }
                }
            }
        }
        release.overLimit = overLimit.count
        release.problems = Array(problems.prefix(20))
    }

    /// The storm's lines of the end-of-run summary.
    static func summary(_ r: ReleaseResults, results: LoadResults) -> [String] {
        func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
        let p = results.latencyMs
        var lines = [
            "release storm: branch '\(r.branch)', \(r.seats) seats × \(r.windows.count) windows, release at \(r.releaseAt)"
                + (r.releaseRule
                    ? " (server rule; before it: \(r.probeBeforeInstant ?? "?"), opens_at \(r.opensAt ?? "not announced"))"
                    : " (client-chosen instant, no server rule)"),
            "settled: " + (r.settleSeconds.map { "\(f($0, 3)) s after the instant" } ?? "NOT within the cutoff")
                + " — \(r.seated) seated, \(r.finalNo) final no, \(r.failed) failed, \(r.unsettled) unsettled;"
                + " per student p50 \(f(r.studentSettleMs.p50)) ms, p99 \(f(r.studentSettleMs.p99)) ms",
            "storm requests: \(r.bookings) bookings, \(r.searches) searches, \(r.mineChecks) checks of mine = \(f(r.requestsPerSecond, 0))/s until settled;"
                + " \(r.conflicts) seat_conflict, \(r.rateLimited) rate_limited (429), \(r.notOpenYet) not_open_yet, \(r.unavailable) unavailable",
            "seat-windows: \(r.seatWindowsBooked) of \(r.seatWindows) booked; free while someone was told no: \(r.freeWhileRefused);"
                + " above the limits (max_upcoming \(r.limits.maxUpcoming)): \(r.overLimit)",
            "target (settled ≤ 2 s, p99 ≤ 50 ms): \(r.targetMet(p99: p.p99) ? "MET" : "NOT MET") — settled \(r.settleSeconds.map { f($0, 3) } ?? "never") s, p99 \(f(p.p99)) ms",
        ]
        if !r.unexpected.isEmpty { lines.append("unexpected answers: \(r.unexpected)") }
        lines += r.problems.map { "  " + $0 }
        return lines
    }
}
