import DLSMSCore
import Foundation
import NIOCore
import NIOHTTP1

/// One load connection: it drives its own students one request at a time and records every write
/// with its outcome for the checker. Everything it does runs on its connection's event loop, as
/// a chain of futures: a request's answer starts the next request on the same thread.
final class Worker: @unchecked Sendable {
    let config: LoadTestConfiguration
    let fixture: Fixture
    var students: [Student]
    var rng: SplitMix64
    let connection: Connection
    let target: Target
    let recorder: Recorder
    let shared: Shared
    let origin: NIODeadline
    let loop: any EventLoop
    let end: NIODeadline
    var history: [Operation] = []
    var next = 0
    var finished: EventLoopPromise<[Operation]>?

    init(
        config: LoadTestConfiguration, fixture: Fixture, students: [Student], rng: SplitMix64, connection: Connection,
        target: Target, recorder: Recorder, shared: Shared, origin: NIODeadline
    ) {
        self.config = config
        self.fixture = fixture
        self.students = students
        self.rng = rng
        self.connection = connection
        self.target = target
        self.recorder = recorder
        self.shared = shared
        self.origin = origin
        loop = connection.loop
        end = origin + .nanoseconds(Int64(config.duration * 1e9))
    }

    /// Runs until the shared stop flag is set (or, open loop, the schedule ends); returns the writes.
    func run() async -> [Operation] {
        let promise = loop.makePromise(of: [Operation].self)
        loop.execute {
            self.finished = promise
            self.issue()
        }
        return (try? await promise.futureResult.get()) ?? []
    }

    private func finish() {
        connection.close()
        finished?.succeed(history)
        finished = nil
    }

    /// Starts the next request, or finishes.
    private func issue() {
        guard !shared.stop.load(ordering: .acquiring) else { return finish() }
        guard let rate = config.rate else {
            return send(intended: nil)
        }
        // Open loop: request n is due at origin + n/rate, whether or not earlier ones were answered;
        // its latency counts from then.
        let n = shared.ticket.wrappingAdd(1, ordering: .relaxed).oldValue
        let intended = origin + .nanoseconds(Int64(Double(n) / rate * 1e9))
        if config.chaos == nil && intended >= end { return finish() }
        if intended > .now() {
            loop.assumeIsolated().scheduleTask(deadline: intended) { self.send(intended: intended) }
        } else {
            send(intended: intended)
        }
    }

    private func send(intended: NIODeadline?) {
        target.current(on: loop).assumeIsolated().whenSuccess { base in
            guard !self.shared.stop.load(ordering: .acquiring) else { return self.finish() }
            let s = self.next % self.students.count
            self.next += 1
            self.step(s, base: base, intended: intended ?? .now()).whenComplete { _ in
                // Through the loop's queue, so that answers completed at once never nest.
                self.loop.execute { self.issue() }
            }
        }
    }

    /// One request for student `s`.
    private func step(_ s: Int, base: String, intended: NIODeadline) -> EventLoopFuture<Void> {
        switch config.scenario {
        case .book, .release:  // the release storm has workers of its own (StormWorker)
            return book(s, base: base, intended: intended, now: false)
        case .extend, .move, .group:
            return stay(s, base: base, intended: intended)
        case .search:
            return search(s, base: base, intended: intended)
        case .login:
            let body =
                "{\"student_id\":\(JSON.quote(students[s].studentID)),\"password\":\(JSON.quote(LoadTest.password))}"
            return request("login", intended, .POST, base + "/auth/login", token: nil, json: body).map { _ in }
        case .mixed:
            // What a library sees: 55% searches, 10% "my reservations", 20% bookings, 10% cancels, 5% check-ins.
            let roll = Int(rng.next() % 100)
            if roll < 55 { return search(s, base: base, intended: intended) }
            if roll < 65 {
                return request(
                    "mine", intended, .GET, base + "/reservations/mine?upcoming_only=true&limit=20",
                    token: students[s].token, json: nil, keepBody: false
                ).map { _ in }
            }
            if roll < 85 { return book(s, base: base, intended: intended, now: false) }
            if roll < 95, !students[s].held.isEmpty {
                let id = students[s].held.remove(at: Int(rng.next() % UInt64(students[s].held.count))).id
                return request(
                    "cancel", intended, .DELETE, base + "/reservations/\(id)", token: students[s].token, json: nil
                ).assumeIsolated().map { sent in self.history.append(.cancel(reservationID: id, sent.outcome)) }
                    .nonisolated()
            }
            if roll >= 95, let i = students[s].held.firstIndex(where: { $0.now }) {
                let id = students[s].held.remove(at: i).id
                return request(
                    "checkin", intended, .POST, base + "/reservations/\(id)/checkin", token: students[s].token,
                    json: nil
                ).assumeIsolated().map { sent in self.history.append(.checkIn(reservationID: id, sent.outcome)) }
                    .nonisolated()
            }
            // Nothing to cancel or check in to: book (for "now" when a check-in was due).
            return book(s, base: base, intended: intended, now: roll >= 95)
        }
    }

    /// Sends and records one request.
    private func request(
        _ kind: String, _ intended: NIODeadline, _ method: HTTPMethod, _ url: String, token: String?, json: String?,
        keepBody: Bool = true
    ) -> EventLoopFuture<Sent> {
        connection.request(method, url, token: token, json: json, keepBody: keepBody).assumeIsolated().map { sent in
            self.recorder.record(kind, intended: intended, end: .now(), sent)
            return sent
        }.nonisolated()
    }

    /// The extend, move and group scenarios: half single bookings (the baseline their figures are
    /// ratios of), half the scenario's own operation.
    private func stay(_ s: Int, base: String, intended: NIODeadline) -> EventLoopFuture<Void> {
        if rng.next() % 2 == 0 { return book(s, base: base, intended: intended, now: false) }
        let token = students[s].token
        switch config.scenario {
        case .group:
            return group(s, base: base, intended: intended)
        case .extend where !students[s].windows.isEmpty:
            let i = Int(rng.next() % UInt64(students[s].windows.count))
            let (id, end) = students[s].windows[i]
            let body = "{\"end_time\":\"\(RFC3339.format(end + 1_800))\"}"
            return request("extend", intended, .POST, base + "/reservations/\(id)/extend", token: token, json: body)
                .assumeIsolated().map { sent in
                    self.history.append(.extend(reservationID: id, end: end + 1_800, sent.outcome))
                    if sent.outcome == .ok, let j = self.students[s].windows.firstIndex(where: { $0.id == id }) {
                        self.students[s].windows[j].end = end + 1_800
                    }
                }.nonisolated()
        case .move where !students[s].windows.isEmpty:
            let i = Int(rng.next() % UInt64(students[s].windows.count))
            let (id, end) = students[s].windows.remove(at: i)
            let seat = fixture.seats[Int(rng.next() % UInt64(fixture.seats.count))]
            return request(
                "move", intended, .POST, base + "/reservations/\(id)/move", token: token, json: "{\"seat_id\":\(seat)}"
            ).assumeIsolated().map { sent in
                var newID: Int64?
                if case .reply(let status, let reply) = sent, (200..<300).contains(status) {
                    newID = JSON.object(reply).flatMap {
                        ($0["reservation"] as? [String: Any]).flatMap { JSON.int($0["id"]) }
                    }
                }
                self.history.append(.move(reservationID: id, seatID: seat, sent.outcome, newID: newID))
                if let newID { self.students[s].windows.append((newID, end)) }
            }.nonisolated()
        default:
            return book(s, base: base, intended: intended, now: false)
        }
    }

    /// Three seats of one window together, for this student and the next two.
    private func group(_ s: Int, base: String, intended: NIODeadline) -> EventLoopFuture<Void> {
        let (first, start, end) = slot(contended: false)
        var seats = [first]
        while seats.count < 3 && fixture.seats.count >= 3 {
            let seat = fixture.seats[Int(rng.next() % UInt64(fixture.seats.count))]
            if !seats.contains(seat) { seats.append(seat) }
        }
        let members = (0..<seats.count).map { students[(s + $0) % students.count] }
        let keys = zip(seats, members).map { BookingKey(userID: $1.userID, seatID: $0, start: start, end: end) }
        let body =
            "{\"seat_ids\":[\(seats.map(String.init).joined(separator: ","))],\"start_time\":\"\(RFC3339.format(start))\",\"end_time\":\"\(RFC3339.format(end))\",\"members\":[\(members.map { JSON.quote($0.studentID) }.joined(separator: ","))]}"
        return request("group", intended, .POST, base + "/reservations/group", token: students[s].token, json: body)
            .assumeIsolated().map { sent in
                var ids: [Int64]?
                if case .reply(let status, let reply) = sent, (200..<300).contains(status) {
                    ids = (JSON.object(reply)?["reservations"] as? [[String: Any]])?.compactMap { JSON.int($0["id"]) }
                }
                self.history.append(.group(keys, sent.outcome, ids: ids))
            }.nonisolated()
    }

    private func book(_ s: Int, base: String, intended: NIODeadline, now: Bool) -> EventLoopFuture<Void> {
        let (seat, start, end) = now ? nowSlot() : slot(contended: true)
        let body =
            "{\"seat_id\":\(seat),\"start_time\":\"\(RFC3339.format(start))\",\"end_time\":\"\(RFC3339.format(end))\"}"
        let key = BookingKey(userID: students[s].userID, seatID: seat, start: start, end: end)
        return request("book", intended, .POST, base + "/reservations", token: students[s].token, json: body)
            .assumeIsolated().map { sent in
                var id: Int64?
                if case .reply(let status, let reply) = sent, (200..<300).contains(status) {
                    id = JSON.integer("id", in: reply)
                }
                self.history.append(.book(key, sent.outcome, reservationID: id))
                if let id, self.config.scenario == .mixed { self.students[s].held.append((id, now)) }
                if let id, self.config.scenario == .extend || self.config.scenario == .move {
                    self.students[s].windows.append((id, end))
                }
            }.nonisolated()
    }

    private func search(_ s: Int, base: String, intended: NIODeadline) -> EventLoopFuture<Void> {
        let (_, start, end) = slot(contended: false)
        let area = fixture.areas[Int(rng.next() % UInt64(fixture.areas.count))]
        var url =
            base + "/seats?branch=" + LoadTest.encode(LoadTest.branch) + "&area=" + LoadTest.encode(area)
            + "&start_time=" + RFC3339.format(start) + "&end_time=" + RFC3339.format(end)
        if rng.next() % 3 == 0 { url += "&has_power=true" }
        return request("search", intended, .GET, url, token: students[s].token, json: nil, keepBody: false).map { _ in }
    }

    private func slot(contended: Bool) -> (seat: Int64, start: Int64, end: Int64) {
        Slots.slot(fixture, config, &rng, contended: contended)
    }

    /// A random seat from the next quarter-hour for an hour: its check-in window is open now.
    private func nowSlot() -> (seat: Int64, start: Int64, end: Int64) {
        let now = Int64(Date().timeIntervalSince1970)
        let start = (now + 899) / 900 * 900
        return (fixture.seats[Int(rng.next() % UInt64(fixture.seats.count))], start, start + 3_600)
    }
}

enum Slots {
    /// A seat and window on one of the next 12 days: with probability `contention` the hot one
    /// (the 10th seat, 14:00–15:00 tomorrow), otherwise a random seat, quarter-hour and 1–2 hours.
    static func slot(_ fixture: Fixture, _ config: LoadTestConfiguration, _ rng: inout SplitMix64, contended: Bool)
        -> (seat: Int64, start: Int64, end: Int64)
    {
        if contended && config.contention > 0 && Double(rng.next() >> 11) / Double(1 << 53) < config.contention {
            let start = fixture.today + 86_400 + 14 * 3_600
            return (fixture.seats[min(9, fixture.seats.count - 1)], start, start + 3_600)
        }
        let seat = fixture.seats[Int(rng.next() % UInt64(fixture.seats.count))]
        let day = 1 + Int64(rng.next() % 12)
        let quarter = Int64(rng.next() % 88)
        let start = fixture.today + day * 86_400 + quarter * 900
        return (seat, start, start + 3_600 * (1 + Int64(rng.next() % 2)))
    }
}
