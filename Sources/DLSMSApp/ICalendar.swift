import DLSMSCore
import Foundation

/// Reservations as iCalendar (RFC 5545): the private feed (`GET /calendar/{token}.ics`) and the
/// booking confirmation email's attachment, in the student's language.
public enum CalendarEvents {
    /// One event per reservation, with its seat (`nil` when unknown). `method`: `PUBLISH` (a
    /// feed) or `REQUEST` (an invitation in an email).
    public static func render(
        _ reservations: [(Reservation, Seat?)], name: String, language: Language = .english,
        method: String = "PUBLISH"
    ) -> String {
        var out = ICalendar()
        out.line("BEGIN:VCALENDAR")
        out.line("VERSION:2.0")
        out.line("PRODID:-//DL-SMS//Library seat reservations//EN")
        out.line("CALSCALE:GREGORIAN")
        out.line("METHOD:\(method)")
        out.property("X-WR-CALNAME", text: language.text("calendar.name", ["name": name]))
        for (r, seat) in reservations {
            let label = seat?.displayLabel ?? String(r.seatID)
            out.line("BEGIN:VEVENT")
            out.line("UID:reservation-\(r.id)@dl-sms")
            out.line("DTSTAMP:\(ICalendar.utc(r.createdAt))")
            out.line("DTSTART:\(ICalendar.utc(r.start))")
            out.line("DTEND:\(ICalendar.utc(r.end))")
            let values = ["seat": label, "branch": seat?.branch ?? "", "area": seat?.area ?? ""]
            out.property(
                "SUMMARY", text: language.text(seat == nil ? "calendar.summary_bare" : "calendar.summary", values))
            out.property(
                "LOCATION", text: language.text(seat == nil ? "calendar.location_bare" : "calendar.location", values))
            out.property(
                "DESCRIPTION",
                text: language.text("calendar.description", ["reservation": String(r.id), "status": r.status.name]))
            let cancelled = r.status == .cancelled || r.status == .noShow
            out.line("STATUS:\(cancelled ? "CANCELLED" : "CONFIRMED")")
            // Later states are later revisions (clients replace an event with a higher sequence).
            out.line("SEQUENCE:\(r.status.stage)")
            out.line("END:VEVENT")
        }
        out.line("END:VCALENDAR")
        return out.text
    }
}

/// RFC 5545 content lines: CRLF, folded at 75 octets (never inside a UTF-8 sequence), TEXT
/// values escaped.
public struct ICalendar {
    public private(set) var text = ""

    public init() {}

    /// Folds by code points (never inside a UTF-8 sequence, as the RFC asks; a line may split a
    /// character made of several code points, which unfolding joins again), each line taking at
    /// least one code point.
    public mutating func line(_ content: String) {
        var octets = 0
        var line = ""
        for scalar in content.unicodeScalars {
            let n = String(scalar).utf8.count
            if octets + n > 75 && octets > 1 {
                text += line + "\r\n"
                line = " "  // a continuation line starts with a space
                octets = 1
            }
            line.unicodeScalars.append(scalar)
            octets += n
        }
        text += line + "\r\n"
    }

    public mutating func property(_ name: String, text value: String) { line("\(name):\(Self.escape(value))") }

    /// By code points: a comma followed by a combining mark is still escaped.
    public static func escape(_ s: String) -> String {
        var out = ""
        var lastWasCR = false
        for scalar in s.unicodeScalars {
            defer { lastWasCR = scalar == "\r" }
            switch scalar {
            case "\\": out += "\\\\"
            case ";": out += "\\;"
            case ",": out += "\\,"
            case "\r": out += "\\n"
            case "\n": if !lastWasCR { out += "\\n" }
            default:
                // Other control characters are not allowed in TEXT.
                if scalar.value < 0x20 || scalar.value == 0x7F { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `20261201T090000Z`.
    public static func utc(_ t: Timestamp) -> String {
        let s = RFC3339.format(t)  // 2026-12-01T09:00:00Z
        return s.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
    }
}
