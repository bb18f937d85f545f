import DLSMSCore
import Foundation

/// RFC 3339 in UTC with `Z`, whole seconds.
func rfc3339(_ t: Timestamp) -> String {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    f.timeZone = TimeZone(identifier: "UTC")
    return f.string(from: Date(timeIntervalSince1970: TimeInterval(t)))
}

/// Parses RFC 3339 (an input without an offset means UTC; fractional seconds are truncated) or
/// whole seconds since the epoch.
func parseTime(_ text: String) -> Timestamp? {
    if let n = Int64(text) { return n }
    var s = text
    if let dot = s.firstIndex(of: "."), let end = s[dot...].firstIndex(where: { !$0.isNumber && $0 != "." }) {
        s.removeSubrange(dot..<end)
    } else if let dot = s.firstIndex(of: ".") {
        s.removeSubrange(dot...)
    }
    let hasOffset = s.hasSuffix("Z") || s.dropFirst(19).contains("+") || s.dropFirst(19).contains("-")
    if !hasOffset { s += "Z" }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    return f.date(from: s).map { Timestamp($0.timeIntervalSince1970.rounded(.down)) }
}
