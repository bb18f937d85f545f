import DLSMSCore
import Testing

@Suite struct StateMachineTests {
    private let base = Reservation(id: 1, seatID: 1, userID: 1, start: 1_000, end: 5_000, createdAt: 0)

    private func with(_ status: ReservationStatus) -> Reservation {
        var r = base
        r.status = status
        return r
    }

    @Test func legalTransitions() throws {
        let checkedIn = try with(.confirmed).applying(.checkIn(at: 900))
        #expect(checkedIn.status == .checkedIn && checkedIn.checkedInAt == 900)
        #expect(try with(.confirmed).applying(.cancel(at: 10)).status == .cancelled)
        #expect(try with(.confirmed).applying(.noShow(at: 1_900)).status == .noShow)
        let left = try checkedIn.applying(.checkout(at: 3_000))
        #expect(left.status == .completed && left.end == 3_000)
        #expect(try checkedIn.applying(.checkout(at: 800)).end == 1_000)  // never before the start
        #expect(try checkedIn.applying(.checkout(at: 9_000)).end == 5_000)  // never after the end
        #expect(
            try checkedIn.applying(.complete(at: 5_000))
                == {
                    var r = checkedIn
                    r.status = .completed
                    return r
                }())
    }

    @Test func everyOtherTransitionIsAnError() {
        let moves: [ReservationTransition] = [
            .checkIn(at: 1), .cancel(at: 1), .noShow(at: 1), .checkout(at: 1), .complete(at: 1),
        ]
        let legal: Set<String> = [
            "CONFIRMED check-in", "CONFIRMED cancel", "CONFIRMED no-show", "CHECKED_IN checkout", "CHECKED_IN complete",
        ]
        for status in ReservationStatus.allCases {
            for move in moves where !legal.contains("\(status.name) \(move.name)") {
                #expect(throws: InvalidTransition(from: status, transition: move)) { try with(status).applying(move) }
            }
        }
    }

    @Test func onlyConfirmedAndCheckedInHoldTheSeat() {
        #expect(ReservationStatus.allCases.filter(\.holdsSeat) == [.confirmed, .checkedIn])
        #expect(ReservationStatus(name: "NO_SHOW") == .noShow)
        #expect(ReservationStatus(name: "no_show") == nil)
    }
}

@Suite struct BookingRulesTests {
    let rules = BookingRules.default
    let now: Int64 = 1_760_000_000
    let h = Seconds.hour
    let m = Seconds.minute

    private func check(_ start: Int64, _ end: Int64, hours: OpeningHours? = .alwaysOpen, offset: Int = 0)
        -> EngineError?
    {
        do {
            try rules.validateWindow(start: start, end: end, now: now, openingHours: hours, utcOffset: offset)
            return nil
        } catch {
            return error
        }
    }

    @Test func eachTimeRule() {
        #expect(check(now + h, now + 2 * h) == nil)
        #expect(check(now + h, now + h) == .invalidTimeRange)
        #expect(check(now + h, now) == .invalidTimeRange)
        #expect(check(now, now + 14 * m) == .tooShort(minimumSeconds: 15 * m))
        #expect(check(now, now + 15 * m) == nil)
        #expect(check(now, now + 4 * h) == nil)
        #expect(check(now, now + 4 * h + 1) == .tooLong(maximumSeconds: 4 * h))
        #expect(check(now - 5 * m, now + h) == nil)
        #expect(check(now - 5 * m - 1, now + h) == .inThePast)
        #expect(check(now + 14 * Seconds.day, now + 14 * Seconds.day + h) == nil)
        #expect(
            check(now + 14 * Seconds.day + 1, now + 14 * Seconds.day + h)
                == .tooFarAhead(maximumSeconds: 14 * Seconds.day))
        #expect(check(now + h, now + 2 * h, hours: .daily(openMinute: 0, closeMinute: 1)) == .outsideOpeningHours)
    }

    @Test func openingHoursInLocalTime() {
        let hours = OpeningHours.daily(openMinute: 8 * 60, closeMinute: 22 * 60)
        let midnight: Int64 = 1_760_054_400  // 2025-10-10T00:00:00Z
        #expect(hours.permits(start: midnight + 8 * h, end: midnight + 10 * h, utcOffset: 0))
        #expect(!hours.permits(start: midnight + 7 * h, end: midnight + 9 * h, utcOffset: 0))
        #expect(hours.permits(start: midnight + 20 * h, end: midnight + 22 * h, utcOffset: 0))
        #expect(!hours.permits(start: midnight + 21 * h, end: midnight + 23 * h, utcOffset: 0))
        // 06:00Z is 08:00 at UTC+2: open there.
        #expect(hours.permits(start: midnight + 6 * h, end: midnight + 7 * h, utcOffset: 2 * 3600))
        #expect(OpeningHours.alwaysOpen.permits(start: midnight + 23 * h, end: midnight + 26 * h, utcOffset: 0))
        #expect(hours.description == "08:00-22:00")
    }

    @Test func studentIDs() {
        #expect((try? BookingRules.validateStudentID("S2021001")) != nil)
        #expect((try? BookingRules.validateStudentID("")) == nil)
        #expect((try? BookingRules.validateStudentID("a b")) == nil)
        #expect((try? BookingRules.validateStudentID(String(repeating: "x", count: 65))) == nil)
    }

    @Test func errorsMapToContractCodes() {
        #expect(EngineError.seatConflict.kind == .conflict && EngineError.seatConflict.code == "seat_conflict")
        #expect(EngineError.inThePast.kind == .badRequest && EngineError.inThePast.code == "in_the_past")
        #expect(
            EngineError.reservationNotFound(3).kind == .notFound
                && EngineError.reservationNotFound(3).code == "not_found")
        #expect(EngineError.limitReached(limit: 3).code == "limit_reached")
    }
}

@Suite struct SeedDataTests {
    @Test func matchesTheContract() {
        #expect(SeedData.seats.count == 50)
        #expect(SeedData.seats.filter { $0.branch == "Main Library" }.map(\.id) == Array(1...25))
        #expect(SeedData.seats.filter { $0.area == "Silent Study Zone" }.map(\.id) == Array(1...15))
        #expect(SeedData.seats.filter { $0.area == "Group Study Zone" }.map(\.id) == Array(16...25))
        #expect(SeedData.seats.filter { $0.branch == "Science Library" }.map(\.id) == Array(26...37))
        #expect(SeedData.seats.filter { $0.branch == "Engineering Library" }.map(\.id) == Array(38...50))
        #expect(SeedData.studentNames.first == "Alice Johnson" && SeedData.studentNames.last == "Jack Wilson")
        #expect(SeedData.studentID(1) == "S2021001" && SeedData.studentID(10) == "S2021010")
        #expect(SeedData.reservations.count == 8)
    }
}

@Suite struct RFC3339Tests {
    @Test func formatsAndParses() {
        #expect(RFC3339.format(0) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.format(1_760_191_200) == "2025-10-11T14:00:00Z")
        #expect(RFC3339.parse("2025-10-11T14:00:00") == 1_760_191_200)  // no offset: UTC
        #expect(RFC3339.parse("2025-10-11T14:00:00Z") == 1_760_191_200)
        #expect(RFC3339.parse("2025-10-11T14:00:00.999Z") == 1_760_191_200)  // truncated
        // Any number of fractional digits is truncated (the contract), not only nine.
        #expect(RFC3339.parse("2025-10-11T14:00:00.1234567890123Z") == 1_760_191_200)
        #expect(RFC3339.parse("2025-10-11T14:00:00." + String(repeating: "9", count: 200) + "+02:00") == 1_760_184_000)
        #expect(RFC3339.parse("2025-10-11T14:00:00." + String(repeating: "9", count: 2_000) + "Z") == nil)
        #expect(RFC3339.parse("2025-10-11T16:00:00+02:00") == 1_760_191_200)
        #expect(RFC3339.parse("2025-10-11T09:30:00-04:30") == 1_760_191_200)
        #expect(RFC3339.parse("2024-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parseDate("2025-10-11") == 1_760_140_800)
    }

    @Test func refusesImpossibleAndMalformedTimes() {
        for bad in [
            "2025-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-00-10T00:00:00Z", "2025-10-32T00:00:00Z",
            "2025-10-11T24:00:00Z", "2025-10-11T14:60:00Z", "2025-10-11T14:00:61Z", "2025-10-11", "tomorrow", "",
            "2025-10-11T14:00:00+25:00", "2025-10-11T14:00:00ZZ", "2025-10-11T14:00:00.Z", "１２３４-10-11T14:00:00Z",
            "1900-01-01T00:00:00Z",
        ] {
            #expect(RFC3339.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func roundTripsOverAWideRange() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<10_000 {
            let t = Int64.random(in: 0...4_102_444_800, using: &rng)
            #expect(RFC3339.parse(RFC3339.format(t)) == t)
        }
    }
}
