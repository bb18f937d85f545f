import Foundation

/// The languages DL-SMS speaks: the web app, the notification texts, the emails and the calendar
/// feed. A student's choice (``DLSMSCore/User/language``) wins; otherwise the request's
/// `Accept-Language`; otherwise English.
public enum Language: String, Sendable, CaseIterable, Hashable {
    case english = "en"
    case german = "de"
    case simplifiedChinese = "zh-CN"

    /// The language a BCP 47 tag names, if DL-SMS has it: `de`, `de-AT` → German; `zh`, `zh-CN`,
    /// `zh-Hans`, `zh-SG` and also `zh-TW`/`zh-Hant` (no traditional table yet) → Simplified
    /// Chinese; `en-*` → English.
    public init?(tag: some StringProtocol) {
        let parts = tag.trimmingCharacters(in: .whitespaces).lowercased().split(separator: "-")
        guard let primary = parts.first, parts.count <= 8, tag.utf8.count <= 64 else { return nil }
        switch primary {
        case "en": self = .english
        case "de": self = .german
        case "zh": self = .simplifiedChinese
        default: return nil
        }
    }

    /// The first language of an `Accept-Language` header (RFC 9110 §12.5.4) that DL-SMS has, by
    /// weight (`q`), then by order; `nil` when none (or the header is absent or malformed).
    public static func negotiate(_ header: String?) -> Language? {
        guard let header, header.utf8.count <= 1_024 else { return nil }
        var best: (weight: Double, index: Int, language: Language)?
        for (index, item) in header.split(separator: ",").prefix(32).enumerated() {
            let fields = item.split(separator: ";")
            guard let tag = fields.first, let language = Language(tag: tag) else { continue }
            var weight = 1.0
            for parameter in fields.dropFirst() {
                let pair = parameter.split(separator: "=", maxSplits: 1)
                if pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == "q" {
                    weight = Double(pair[1].trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            guard weight > 0, weight <= 1 else { continue }
            if best == nil || weight > best!.weight { best = (weight, index, language) }
        }
        return best?.language
    }

    /// The student's setting if any, else the header's choice, else English.
    public static func choose(setting: String, acceptLanguage: String?) -> Language {
        Language(rawValue: setting) ?? negotiate(acceptLanguage) ?? .english
    }

    /// Foundation's locale for dates and numbers.
    public var locale: Locale {
        switch self {
        case .english: Locale(identifier: "en_GB")
        case .german: Locale(identifier: "de_DE")
        case .simplifiedChinese: Locale(identifier: "zh_CN")
        }
    }

    /// The table of this language's texts.
    var table: [String: String] {
        switch self {
        case .english: MessageCatalog.english
        case .german: MessageCatalog.german
        case .simplifiedChinese: MessageCatalog.chinese
        }
    }

    /// The text `key` in this language, its `{name}` placeholders filled from `values` (English
    /// when this language lacks the key; the key itself only when English lacks it too, which the
    /// catalog's completeness test forbids).
    public func text(_ key: String, _ values: [String: String] = [:]) -> String {
        let template = table[key] ?? MessageCatalog.english[key] ?? key
        return MessageCatalog.fill(template, values)
    }

    /// A time as this language writes it, in `zone`: a date and the time of day.
    public func dateTime(_ t: Int64, zone: TimeZone) -> String {
        format(t, zone: zone, date: .abbreviated, time: .shortened)
    }

    /// The time of day only.
    public func time(_ t: Int64, zone: TimeZone) -> String { format(t, zone: zone, date: .omitted, time: .shortened) }

    /// `start`–`end` on one day (`Monday, 7 December 2026, 10:00–12:00`), or two full times.
    public func range(_ start: Int64, _ end: Int64, zone: TimeZone) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let a = Date(timeIntervalSince1970: TimeInterval(start))
        let b = Date(timeIntervalSince1970: TimeInterval(end))
        if calendar.isDate(a, inSameDayAs: b) {
            return text(
                "time.range",
                [
                    "day": format(start, zone: zone, date: .complete, time: .omitted),
                    "start": time(start, zone: zone), "end": time(end, zone: zone),
                ])
        }
        return text("time.range_days", ["start": dateTime(start, zone: zone), "end": dateTime(end, zone: zone)])
    }

    /// Foundation's format styles (values that cache their ICU formatters, unlike a
    /// `DateFormatter` made for every call).
    private func format(
        _ t: Int64, zone: TimeZone, date: Date.FormatStyle.DateStyle, time: Date.FormatStyle.TimeStyle
    ) -> String {
        let style = Date.FormatStyle(
            date: date, time: time, locale: locale, calendar: Calendar(identifier: .gregorian), timeZone: zone)
        return Date(timeIntervalSince1970: TimeInterval(t)).formatted(style)
    }
}
