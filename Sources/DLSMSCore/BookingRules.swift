import Foundation

/// A cap on booked time in one local period `[from, to)` (a day, a week).
public struct HoursCap: Sendable, Hashable {
    public var from: Timestamp
    public var to: Timestamp
    /// Seconds.
    public var limit: Int64
    /// `hours_per_day` or `hours_per_week`.
    public var rule: String
    public var hours: Int { Int(limit / Seconds.hour) }

    public init(from: Timestamp, to: Timestamp, limit: Int64, rule: String) {
        self.from = from
        self.to = to
        self.limit = limit
        self.rule = rule
    }

    /// Seconds of `[start, end)` inside the period.
    public func overlap(_ start: Timestamp, _ end: Timestamp) -> Int64 { max(0, min(end, to) - max(start, from)) }
}

/// The booking rules, one configuration value with the contract's defaults. All durations are seconds.
public struct BookingRules: Sendable, Hashable {
    public var minDuration: Int64 = 15 * Seconds.minute
    public var maxDuration: Int64 = 4 * Seconds.hour
    /// A start may lie this far in the past (clock skew, "book now").
    public var pastTolerance: Int64 = 5 * Seconds.minute
    public var maxAdvance: Int64 = 14 * Seconds.day
    /// Upcoming (not yet ended) seat-holding reservations per student.
    public var maxUpcomingPerUser: Int = 3
    /// Seat-holding reservations one student may hold at the same instant; `nil` = no limit (the default).
    public var maxConcurrentPerUser: Int? = nil
    /// Check-in opens this long before the start…
    public var checkInOpensBefore: Int64 = 15 * Seconds.minute
    /// …and closes this long after it; a `CONFIRMED` reservation is a no-show from then on.
    public var grace: Int64 = 15 * Seconds.minute
    /// `WAITING` entries per student.
    public var maxWaitingPerUser: Int = 10
    /// How long a freed seat is held for the first in line (never beyond the window's start plus
    /// the grace period).
    public var offerHold: Int64 = 10 * Seconds.minute
    /// Finished reservations leave memory for the archive file this long after their end.
    public var retention: Int64 = 90 * Seconds.day
    /// Finished reservations lose their link to their student this long after their end
    /// (anonymised: everything the reports count stays).
    public var anonymiseAfter: Int64 = 365 * Seconds.day
    /// Audit entries are kept this long.
    public var auditRetention: Int64 = 730 * Seconds.day
    /// Finished reservations kept in memory per student; older ones go to the archive.
    public var historyPerUser: Int = 200
    /// Finished waitlist entries kept in memory per student; older ones are dropped.
    public var finishedWaitlistPerUser: Int = 20
    /// Minimum password length for new accounts.
    public var minPasswordLength: Int = 8
    /// Booked seconds per student on one local day and in one local week (Monday to Sunday), in
    /// the booked seat's time zone; nil: no cap. Set by group policies (none by default).
    public var maxPerDay: Int64? = nil
    public var maxPerWeek: Int64? = nil
    /// A checked-in student may step away (the seat stays theirs) for this long…
    public var awayLimit: Int64 = 30 * Seconds.minute
    /// …this many times during one stay (0: never).
    public var awayTimes: Int = 3

    public init() {}

    public static let `default` = BookingRules()

    /// The window rules of `a` and `b` together, the more generous of each (staff overriding a
    /// student's policy still keep the server's own bounds as a floor).
    public static func lenient(_ a: BookingRules, _ b: BookingRules) -> BookingRules {
        var r = a
        r.maxDuration = max(a.maxDuration, b.maxDuration)
        r.maxAdvance = max(a.maxAdvance, b.maxAdvance)
        return r
    }

    /// Validates a window `[start, end)` asked for at `now`, in the contract's order of time errors.
    /// `openingHours` and `zone` are the branch's; pass `nil` hours to skip that check (unknown seat).
    public func validateWindow(
        start: Timestamp, end: Timestamp, now: Timestamp, openingHours: OpeningHours?, zone: TimeZone = .utc
    ) throws(EngineError) {
        guard end > start else { throw .invalidTimeRange }
        let duration = end - start
        if duration < minDuration { throw .tooShort(minimumSeconds: minDuration) }
        if duration > maxDuration { throw .tooLong(maximumSeconds: maxDuration) }
        if start < now - pastTolerance { throw .inThePast }
        if start > now + maxAdvance { throw .tooFarAhead(maximumSeconds: maxAdvance) }
        if let hours = openingHours, !hours.permits(start: start, end: end, zone: zone) {
            throw .outsideOpeningHours
        }
    }

    /// The local days and weeks `[start, end)` touches, each with its cap (``maxPerDay``,
    /// ``maxPerWeek``), in `calendar`'s time zone; weeks run Monday to Sunday.
    public func hourCaps(start: Timestamp, end: Timestamp, calendar: Calendar) -> [HoursCap] {
        var caps: [HoursCap] = []
        func periods(_ component: Calendar.Component, limit: Int64, rule: String) {
            var cal = calendar
            cal.firstWeekday = 2
            var t = start
            while t < end, caps.count < 64 {
                guard let p = cal.dateInterval(of: component, for: Date(timeIntervalSince1970: TimeInterval(t))) else {
                    return
                }
                let from = Timestamp(p.start.timeIntervalSince1970)
                let to = Timestamp(p.end.timeIntervalSince1970)
                guard to > t else { return }
                caps.append(HoursCap(from: from, to: to, limit: limit, rule: rule))
                t = to
            }
        }
        if let day = maxPerDay { periods(.day, limit: day, rule: "hours_per_day") }
        if let week = maxPerWeek { periods(.weekOfYear, limit: week, rule: "hours_per_week") }
        return caps
    }

    /// The check-in window of a reservation starting at `start`: `[opens, closes)`.
    /// A reservation made after its start (a start may lie `pastTolerance` back) keeps the whole
    /// grace period from the moment it was made: nobody is a no-show before they could check in.
    public func checkInWindow(start: Timestamp, createdAt: Timestamp = .min) -> (opens: Timestamp, closes: Timestamp) {
        (start - checkInOpensBefore, noShowDeadline(start: start, createdAt: createdAt))
    }

    /// The moment a `CONFIRMED` reservation starting at `start` becomes a no-show.
    public func noShowDeadline(start: Timestamp, createdAt: Timestamp = .min) -> Timestamp {
        max(start, createdAt) + grace
    }

    /// A student id: 1–64 characters of letters, digits, `-`, `_` and `.`.
    /// A name people see: at most 200 bytes, no control characters (C0, DEL, C1) and no
    /// bidirectional overrides, so that it cannot forge lines or reorder text where it is shown.
    public static func validateName(_ name: String) throws(EngineError) {
        try validateText(name, field: "name", maxBytes: 200)
    }

    /// Text people see (a name, a label, notes, a reason) — one rule for all of it: at most
    /// `maxBytes`; no control characters (C0, DEL, C1), no bidirectional overrides, isolates or
    /// marks, and no invisible characters (zero-width space, word joiner and invisible operators,
    /// soft hyphen, byte order mark, line and paragraph separators, Mongolian vowel separator),
    /// so that it cannot forge lines, reorder text where it is shown, or look like other text.
    /// Zero-width joiner and non-joiner stay allowed in free text (Persian and Indic names, emoji
    /// sequences need them).
    /// `identifier`: a name things are found by (a branch, an area, a seat label): no leading or
    /// trailing spaces, and no joiners either.
    public static func validateText(
        _ text: String, field: String, maxBytes: Int, required: Bool = false, identifier: Bool = false
    ) throws(EngineError) {
        if required && text.trimmingCharacters(in: .whitespaces).isEmpty { throw .badRequest("\(field) is required") }
        if identifier {
            guard text == text.trimmingCharacters(in: .whitespacesAndNewlines) else {
                throw .badRequest("\(field) must not start or end with spaces")
            }
        }
        guard text.utf8.count <= maxBytes else { throw .badRequest("\(field) is longer than \(maxBytes) bytes") }
        for u in text.unicodeScalars {
            let v = u.value
            if v < 0x20 || (0x7F...0x9F).contains(v) || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
                || v == 0x200E || v == 0x200F || v == 0x061C
            {
                throw .badRequest("\(field) must not contain control or text-direction characters")
            }
            if v == 0x200B || v == 0x00AD || v == 0xFEFF || v == 0x2028 || v == 0x2029 || v == 0x180E
                || (0x2060...0x2064).contains(v) || (identifier && (v == 0x200C || v == 0x200D))
            {
                throw .badRequest("\(field) must not contain invisible characters")
            }
        }
    }

    public static func validateStudentID(_ s: String) throws(EngineError) {
        guard !s.isEmpty, s.utf8.count <= 64,
            s.utf8.allSatisfy({
                ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 45 || $0 == 95
                    || $0 == 46
            })
        else {
            throw .badRequest("student_id must be 1-64 letters, digits, '-', '_' or '.'")
        }
    }
}
