import DLSMSCore
import Foundation
import Testing

@Suite struct BookingRulesTests {
    let rules = BookingRules.default
    let now: Int64 = 1_760_000_000
    let h = Seconds.hour
    let m = Seconds.minute

    private func check(_ start: Int64, _ end: Int64, hours: OpeningHours? = .alwaysOpen) -> EngineError? {
        do {
            try rules.validateWindow(start: start, end: end, now: now, openingHours: hours)
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
        #expect(hours.permits(start: midnight + 8 * h, end: midnight + 10 * h, zone: .utc))
        #expect(!hours.permits(start: midnight + 7 * h, end: midnight + 9 * h, zone: .utc))
        #expect(hours.permits(start: midnight + 20 * h, end: midnight + 22 * h, zone: .utc))
        #expect(!hours.permits(start: midnight + 21 * h, end: midnight + 23 * h, zone: .utc))
        // 06:00Z is 08:00 in Berlin in October (UTC+2): open there.
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        #expect(hours.permits(start: midnight + 6 * h, end: midnight + 7 * h, zone: berlin))
        #expect(OpeningHours.alwaysOpen.permits(start: midnight + 23 * h, end: midnight + 26 * h, zone: .utc))
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

/// Weekly opening hours in the branch's own time zone, across the nights the clocks change, in a
/// northern (Berlin) and a southern (Sydney) time zone.
@Suite struct OpeningHoursTests {
    let h = Seconds.hour
    let m = Seconds.minute

    /// `YYYY-MM-DDTHH:MM:SSZ` as a timestamp.
    func t(_ text: String) -> Timestamp { RFC3339.parse(text)! }

    func every(_ periods: [OpeningPeriod]) -> OpeningHours {
        try! OpeningHours.weekly(validating: Array(repeating: periods, count: 7))
    }

    @Test func eightToTenStaysLocalAcrossBerlinsChanges() {
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        let hours = every([OpeningPeriod(open: 8 * 60, close: 22 * 60)])
        // 2026-03-29: 02:00 → 03:00, from UTC+1 to UTC+2. The day before, 08:00 local is 07:00Z.
        #expect(hours.permits(start: t("2026-03-28T07:00:00Z"), end: t("2026-03-28T08:00:00Z"), zone: berlin))
        #expect(!hours.permits(start: t("2026-03-28T06:00:00Z"), end: t("2026-03-28T07:00:00Z"), zone: berlin))
        // On the day itself and after, 08:00 local is 06:00Z, and 22:00 local is 20:00Z.
        #expect(hours.permits(start: t("2026-03-29T06:00:00Z"), end: t("2026-03-29T07:00:00Z"), zone: berlin))
        #expect(!hours.permits(start: t("2026-03-29T05:30:00Z"), end: t("2026-03-29T06:30:00Z"), zone: berlin))
        #expect(hours.permits(start: t("2026-03-29T19:00:00Z"), end: t("2026-03-29T20:00:00Z"), zone: berlin))
        #expect(!hours.permits(start: t("2026-03-29T20:00:00Z"), end: t("2026-03-29T21:00:00Z"), zone: berlin))
        // 2026-10-25: 03:00 → 02:00, back to UTC+1: 08:00 local is 07:00Z again.
        #expect(hours.permits(start: t("2026-10-25T07:00:00Z"), end: t("2026-10-25T08:00:00Z"), zone: berlin))
        #expect(!hours.permits(start: t("2026-10-25T06:30:00Z"), end: t("2026-10-25T07:30:00Z"), zone: berlin))
        #expect(hours.permits(start: t("2026-10-25T20:00:00Z"), end: t("2026-10-25T21:00:00Z"), zone: berlin))
    }

    /// A branch open around the clock on those days: a booking 01:30–03:30 local on the night of
    /// the change lasts one hour of real time in spring and three in autumn, and is inside.
    @Test func aBookingAcrossTheNightOfTheChange() {
        let berlin = TimeZone(identifier: "Europe/Berlin")!
        let hours = every([OpeningPeriod(open: 0, close: 1_440)])
        // Spring: 01:30 CET = 00:30Z, 03:30 CEST = 01:30Z.
        let springStart = t("2026-03-29T00:30:00Z")
        let springEnd = t("2026-03-29T01:30:00Z")
        #expect(springEnd - springStart == h)
        #expect(hours.permits(start: springStart, end: springEnd, zone: berlin))
        // Autumn: 01:30 CEST = 23:30Z the day before, 03:30 CET = 02:30Z.
        let autumnStart = t("2026-10-24T23:30:00Z")
        let autumnEnd = t("2026-10-25T02:30:00Z")
        #expect(autumnEnd - autumnStart == 3 * h)
        #expect(hours.permits(start: autumnStart, end: autumnEnd, zone: berlin))
        // Midnight to midnight joins the days: a night across midnight is inside too.
        #expect(hours.permits(start: t("2026-10-24T21:00:00Z"), end: t("2026-10-25T01:00:00Z"), zone: berlin))
        // Closed from 02:00 to 04:00 local every day: on the spring night 02:00–03:00 does not exist.
        let nightly = every([OpeningPeriod(open: 0, close: 120), OpeningPeriod(open: 240, close: 1_440)])
        #expect(!nightly.permits(start: springStart, end: springEnd, zone: berlin))  // 01:30–03:30 local
        #expect(nightly.permits(start: t("2026-03-29T02:00:00Z"), end: t("2026-03-29T03:00:00Z"), zone: berlin))
    }

    @Test func sydneySouthernChanges() {
        let sydney = TimeZone(identifier: "Australia/Sydney")!
        let hours = every([OpeningPeriod(open: 8 * 60, close: 22 * 60)])
        // 2026-04-05: daylight time ends, 03:00 → 02:00, from UTC+11 to UTC+10. 08:00 local was
        // 21:00Z the day before; from that day on it is 22:00Z.
        #expect(hours.permits(start: t("2026-04-03T21:00:00Z"), end: t("2026-04-03T22:00:00Z"), zone: sydney))
        #expect(!hours.permits(start: t("2026-04-04T21:00:00Z"), end: t("2026-04-04T22:00:00Z"), zone: sydney))
        #expect(hours.permits(start: t("2026-04-04T22:00:00Z"), end: t("2026-04-04T23:00:00Z"), zone: sydney))
        // 2026-10-04: daylight time starts, 02:00 → 03:00, back to UTC+11: 08:00 local is 21:00Z.
        #expect(hours.permits(start: t("2026-10-03T21:00:00Z"), end: t("2026-10-03T22:00:00Z"), zone: sydney))
        #expect(!hours.permits(start: t("2026-10-03T20:00:00Z"), end: t("2026-10-03T21:00:00Z"), zone: sydney))
        // 22:00 local on 2026-10-04 is 11:00Z: a booking until then is inside, one past it is not.
        #expect(hours.permits(start: t("2026-10-04T10:00:00Z"), end: t("2026-10-04T11:00:00Z"), zone: sydney))
        #expect(!hours.permits(start: t("2026-10-04T10:30:00Z"), end: t("2026-10-04T11:30:00Z"), zone: sydney))
    }

    @Test func weekdaysSplitDaysAndClosedDays() {
        let utc = TimeZone.utc
        var days = Array(
            repeating: [OpeningPeriod(open: 8 * 60, close: 12 * 60), OpeningPeriod(open: 13 * 60, close: 22 * 60)],
            count: 5)
        days.append([OpeningPeriod(open: 10 * 60, close: 16 * 60)])  // Saturday
        days.append([])  // Sunday: closed
        let hours = try! OpeningHours.weekly(validating: days)
        let monday = t("2026-11-23T00:00:00Z")
        #expect(hours.permits(start: monday + 9 * h, end: monday + 11 * h, zone: utc))
        #expect(!hours.permits(start: monday + 11 * h, end: monday + 13 * h + 30 * m, zone: utc))  // over lunch
        #expect(hours.permits(start: monday + 13 * h, end: monday + 15 * h, zone: utc))
        let saturday = monday + 5 * Seconds.day
        #expect(hours.permits(start: saturday + 10 * h, end: saturday + 12 * h, zone: utc))
        #expect(!hours.permits(start: saturday + 16 * h, end: saturday + 17 * h, zone: utc))
        #expect(!hours.permits(start: saturday + Seconds.day + 10 * h, end: saturday + Seconds.day + 11 * h, zone: utc))
        #expect(
            hours.description.hasPrefix("Mon 08:00-12:00,13:00-22:00; Tue") && hours.description.hasSuffix("Sun closed")
        )

        // Refused: not seven days, a period out of the day, periods out of order or overlapping.
        #expect(throws: EngineError.self) { try OpeningHours.weekly(validating: [[]]) }
        for bad in [
            [OpeningPeriod(open: 600, close: 600)], [OpeningPeriod(open: 0, close: 1_441)],
            [OpeningPeriod(open: 600, close: 700), OpeningPeriod(open: 650, close: 800)],
            [OpeningPeriod(open: 800, close: 900), OpeningPeriod(open: 600, close: 700)],
        ] {
            #expect(throws: EngineError.self) { try OpeningHours.weekly(validating: Array(repeating: bad, count: 7)) }
        }
    }
}
