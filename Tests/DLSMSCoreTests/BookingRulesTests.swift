import DLSMSCore
import Testing

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
