import DLSMSCore
import Foundation
import NIOHTTP1

/// One load connection: it drives its own students one request at a time and records every write
/// with its outcome for the checker.
struct Worker: Sendable {
    let config: LoadTestConfiguration
    let fixture: Fixture
    var students: [Student]
    var rng: SplitMix64
    let client: Connection
    let target: Target
    let recorder: Recorder
    let shared: Shared
    let origin: ContinuousClock.Instant
    var history: [Operation] = []
    var next = 0

    mutating func run() async -> [Operation] {
        let end = origin + .seconds(config.duration)
        while !shared.stop.load(ordering: .acquiring) {
            var intended = ContinuousClock.now
            if let rate = config.rate {
                // Open loop: request n is due at origin + n/rate, whether or not earlier ones were answered.
                let n = shared.ticket.wrappingAdd(1, ordering: .relaxed).oldValue
                intended = origin + .seconds(Double(n) / rate)
                if config.chaos == nil && intended >= end { break }
                if intended > .now { try? await Task.sleep(until: intended, clock: .continuous) }
            }
            let base = await target.current()
            if shared.stop.load(ordering: .acquiring) { break }
            if config.rate == nil { intended = .now }
            let s = next % students.count
            next += 1
            var student = students[s]
            await step(&student, base: base, intended: intended)
            students[s] = student
        }
        client.close()
        return history
    }

    mutating func step(_ student: inout Student, base: String, intended: ContinuousClock.Instant) async {
        switch config.scenario {
        case .book:
            await book(&student, base: base, intended: intended, now: false)
        case .search:
            await search(student, base: base, intended: intended)
        case .login:
            let body = "{\"student_id\":\(JSON.quote(student.studentID)),\"password\":\(JSON.quote(LoadTest.password))}"
            let sent = await client.send(.POST, base + "/auth/login", json: body)
            recorder.record("login", intended: intended, end: .now, sent)
        case .mixed:
            // What a library sees: 55% searches, 10% "my reservations", 20% bookings, 10% cancels, 5% check-ins.
            let roll = Int(rng.next() % 100)
            if roll < 55 {
                await search(student, base: base, intended: intended)
            } else if roll < 65 {
                let sent = await client.send(
                    .GET, base + "/reservations/mine?upcoming_only=true&limit=20", token: student.token)
                recorder.record("mine", intended: intended, end: .now, sent)
            } else if roll < 85 {
                await book(&student, base: base, intended: intended, now: false)
            } else if roll < 95, !student.held.isEmpty {
                let i = Int(rng.next() % UInt64(student.held.count))
                let id = student.held.remove(at: i).id
                let sent = await client.send(.DELETE, base + "/reservations/\(id)", token: student.token)
                recorder.record("cancel", intended: intended, end: .now, sent)
                history.append(.cancel(reservationID: id, sent.outcome))
            } else if roll >= 95, let i = student.held.firstIndex(where: { $0.now }) {
                let id = student.held.remove(at: i).id
                let sent = await client.send(.POST, base + "/reservations/\(id)/checkin", token: student.token)
                recorder.record("checkin", intended: intended, end: .now, sent)
                history.append(.checkIn(reservationID: id, sent.outcome))
            } else {
                // Nothing to cancel or check in to: book (for "now" when a check-in was due).
                await book(&student, base: base, intended: intended, now: roll >= 95)
            }
        }
    }

    mutating func book(_ student: inout Student, base: String, intended: ContinuousClock.Instant, now: Bool) async {
        let (seat, start, end) = now ? nowSlot() : slot(contended: true)
        let body =
            "{\"seat_id\":\(seat),\"start_time\":\"\(RFC3339.format(start))\",\"end_time\":\"\(RFC3339.format(end))\"}"
        let sent = await client.send(.POST, base + "/reservations", token: student.token, json: body)
        recorder.record("book", intended: intended, end: .now, sent)
        var id: Int64?
        if case .reply(let status, let reply) = sent, (200..<300).contains(status) {
            id = JSON.integer("id", in: reply)
        }
        let key = BookingKey(userID: student.userID, seatID: seat, start: start, end: end)
        history.append(.book(key, sent.outcome, reservationID: id))
        if let id, config.scenario == .mixed { student.held.append((id, start, now)) }
    }

    mutating func search(_ student: Student, base: String, intended: ContinuousClock.Instant) async {
        let (_, start, end) = slot(contended: false)
        let area = fixture.areas[Int(rng.next() % UInt64(fixture.areas.count))]
        var url =
            base + "/seats?branch=" + LoadTest.encode(LoadTest.branch) + "&area=" + LoadTest.encode(area)
            + "&start_time=" + RFC3339.format(start) + "&end_time=" + RFC3339.format(end)
        if rng.next() % 3 == 0 { url += "&has_power=true" }
        let sent = await client.send(.GET, url, token: student.token)
        recorder.record("search", intended: intended, end: .now, sent)
    }

    /// A seat and window on one of the next 12 days: with probability `contention` the hot one
    /// (the 10th seat, 14:00–15:00 tomorrow), otherwise a random seat, quarter-hour and 1–2 hours.
    mutating func slot(contended: Bool) -> (seat: Int64, start: Int64, end: Int64) {
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

    /// A random seat from the next quarter-hour for an hour: its check-in window is open now.
    mutating func nowSlot() -> (seat: Int64, start: Int64, end: Int64) {
        let now = Int64(Date().timeIntervalSince1970)
        let start = (now + 899) / 900 * 900
        return (fixture.seats[Int(rng.next() % UInt64(fixture.seats.count))], start, start + 3_600)
    }
}
