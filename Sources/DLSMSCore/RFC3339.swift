/// RFC 3339 times, as the contract uses them: out in UTC with `Z` and whole seconds; in with or
/// without an offset (none means UTC), fractional seconds truncated. Impossible dates are refused.
public enum RFC3339 {
    /// Days since 1970-01-01 of a civil date (proleptic Gregorian).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day number.
    static func civil(days z0: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// `2025-10-11T14:00:00Z`.
    public static func format(_ t: Timestamp) -> String {
        var out = [UInt8]()
        out.reserveCapacity(20)
        format(t, into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `2025-10-11T14:00:00Z` to `out`.
    public static func format(_ t: Timestamp, into out: inout [UInt8]) {
        let days = floorDiv(t, Seconds.day)
        let secs = t - days * Seconds.day
        let (y, m, d) = civil(days: days)
        func put(_ v: Int64, _ width: Int) {
            var divisor: Int64 = 1
            for _ in 1..<width { divisor *= 10 }
            var x = v
            while divisor > 0 {
                out.append(UInt8(48 + x / divisor % 10))
                x %= divisor * 10
                divisor /= 10
            }
        }
        put(y, 4)
        out.append(45)
        put(m, 2)
        out.append(45)
        put(d, 2)
        out.append(84)
        put(secs / 3_600, 2)
        out.append(58)
        put(secs / 60 % 60, 2)
        out.append(58)
        put(secs % 60, 2)
        out.append(90)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]` (also a space or `t` for `T`, `z` for `Z`).
    /// Any number of fractional digits is accepted (and truncated), up to a text of 1,024 bytes.
    public static func parse(_ text: String) -> Timestamp? {
        guard text.utf8.count >= 19, text.utf8.count <= 1_024 else { return nil }
        let b = Array(text.utf8)
        func num(_ from: Int, _ n: Int) -> Int64? {
            var v: Int64 = 0
            for i in from..<(from + n) {
                guard i < b.count, b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard let year = num(0, 4), b[4] == 45, let month = num(5, 2), b[7] == 45, let day = num(8, 2),
            b[10] == 84 || b[10] == 116 || b[10] == 32, let hour = num(11, 2), b[13] == 58, let minute = num(14, 2),
            b[16] == 58, let second = num(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour <= 23, minute <= 59,
            second <= 59, year >= 1970
        else { return nil }
        var i = 19
        if i < b.count && b[i] == 46 {  // fraction: truncated
            i += 1
            let start = i
            while i < b.count && b[i] >= 48 && b[i] <= 57 { i += 1 }
            guard i > start else { return nil }
        }
        var offset: Int64 = 0
        if i < b.count {
            if b[i] == 90 || b[i] == 122 {
                i += 1
            } else if b[i] == 43 || b[i] == 45 {
                guard let oh = num(i + 1, 2), i + 3 < b.count, b[i + 3] == 58, let om = num(i + 4, 2), oh <= 23,
                    om <= 59
                else { return nil }
                offset = (oh * 3_600 + om * 60) * (b[i] == 45 ? -1 : 1)
                i += 6
            } else {
                return nil
            }
        }
        guard i == b.count else { return nil }
        let t = days(year: year, month: month, day: day) * Seconds.day + hour * 3_600 + minute * 60 + second - offset
        // An offset may carry a time past the years a timestamp is written in (1970–9999, UTC).
        guard t >= 0, t <= latest else { return nil }
        return t
    }

    /// 9999-12-31T23:59:59Z, the last instant written with four year digits.
    public static let latest: Timestamp = 253_402_300_799

    /// Parses `YYYY-MM-DD` to the timestamp of its midnight UTC.
    public static func parseDate(_ text: String) -> Timestamp? {
        guard text.utf8.count == 10 else { return nil }
        return parse(text + "T00:00:00Z")
    }
}
