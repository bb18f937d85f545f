import DLSMSCore
import Foundation

/// Every text the server writes for a person, per language: notification texts, emails and the
/// calendar feed (the web app has its own tables, `strings-<lang>.js`). `{name}` marks a value
/// filled in; every language has every key with the same placeholders (`MessageCatalogTests`).
///
/// **Notifications.** The engine records each notification's text in English (the contract's
/// `message`, kept as written). A `notice.*` template is that English text with its values as
/// placeholders; ``MessageCatalog/translate(_:into:zone:)`` recognises which template a text was
/// made from, takes the values out and writes them into the same template of another language.
/// A text no template matches (a staff member's own message) is shown as written.
public enum MessageCatalog {
    /// The notification templates, in the order they are tried.
    static let notices = [
        "notice.cancelled_by_staff", "notice.no_show", "notice.stay_ended", "notice.offered", "notice.offer_expired",
        "notice.strike", "notice.suspended", "notice.cancelled_by_library", "notice.closed_now", "notice.closes_at",
        "notice.extended", "notice.away_ended", "notice.waitlist_closed", "notice.booked_by_staff",
        "notice.waitlist_cancelled", "notice.moved", "notice.together",
    ]

    public static let english: [String: String] = [
        "time.range": "{day}, {start}–{end}",
        "time.range_days": "{start} – {end}",

        "notice.cancelled_by_staff": "Reservation {reservation} on seat {seat} was cancelled by the library staff.",
        "notice.no_show":
            "Reservation {reservation} on seat {seat} was released: nobody checked in within the grace period.",
        "notice.stay_ended": "Your stay on seat {seat} (reservation {reservation}) has ended.",
        "notice.offered":
            "Seat {seat} ({branch}, {area}) is held for you until {until}. Accept waitlist entry {entry} to book it.",
        "notice.offer_expired":
            "The hold on seat {seat} for your waitlist entry {entry} ran out; it went to the next in line.",
        "notice.strike":
            "A strike was recorded ({strike}). It counts until {until}; {threshold} within {window} days suspend booking for {days} days.",
        "notice.suspended": "Booking is suspended until {until}: {strikes}.",
        "notice.cancelled_by_library": "Reservation {reservation} on seat {seat} was cancelled by the library: {why}",
        "notice.closed_now":
            "Your stay on seat {seat} (reservation {reservation}) ended: the library is closed now: {why}",
        "notice.closes_at":
            "Your stay on seat {seat} (reservation {reservation}) ends at {at}: the library closes it then: {why}",
        "notice.extended": "The library staff extended reservation {reservation} on seat {seat} to {end}.",
        "notice.away_ended":
            "You did not come back to seat {seat} by {at}: reservation {reservation} ended then and the seat was freed.",
        "notice.waitlist_closed":
            "Your waitlist entry {entry} was cancelled: {place} is closed {start} to {end}: {why}",
        "notice.booked_by_staff":
            "The library staff booked seat {seat} for you from {start} to {end} (reservation {reservation}).",
        "notice.waitlist_cancelled": "Your waitlist entry {entry} for seat {seat} was cancelled by the library: {why}",
        "notice.moved":
            "The library staff moved reservation {reservation} from seat {from} to seat {seat}: it is now reservation {new}.",
        "notice.together": "{who} booked seat {seat} for you with their group: reservation {reservation}.",

        "strike.no_show": "no-show: seat {seat}, reservation {reservation}, {at}",
        "strike.late_cancel": "late cancel: seat {seat}, reservation {reservation}, {at}",

        "calendar.name": "Library seats: {name}",
        "calendar.summary": "Seat {seat} ({branch})",
        "calendar.summary_bare": "Seat {seat}",
        "calendar.location": "{branch}, {area}, seat {seat}",
        "calendar.location_bare": "seat {seat}",
        "calendar.description": "Reservation {reservation}: {status}",

        "mail.greeting": "Hello {name},",
        "mail.signature": "Your library's seat booking (DL-SMS)",
        "mail.footer": "You receive this email about your seat reservations. Choose which emails you get: {link}",
        "mail.unsubscribe": "Unsubscribe from all of these emails: {link}",
        "mail.details": "Seat {seat} ({place}), {when}",
        "mail.confirmed.subject": "Booked: seat {seat}, {when}",
        "mail.confirmed.body":
            "Your seat is booked: {details}. Check in at the seat when you arrive; a seat nobody checks in to is given to someone else after the grace period. The attached calendar entry adds it to your calendar.",
        "mail.reminder.subject": "Reminder: seat {seat} at {time}",
        "mail.reminder.body": "Your reservation starts soon: {details}. Check in at the seat when you arrive.",
        "mail.checkin.subject": "Check in now: seat {seat}",
        "mail.checkin.body": "Check-in for your reservation is open: {details}.",
        "mail.no_show.subject": "Released: seat {seat}",
        "mail.offer.subject": "A seat is held for you: {seat}",
        "mail.offer.action": "Accept the offer: {link}",
        "mail.cancelled.subject": "Cancelled by the library: seat {seat}",
        "mail.strike.subject": "A strike was recorded",
        "mail.suspended.subject": "Your booking rights are suspended",
        "mail.address.subject": "Confirm your email address",
        "mail.address.body":
            "Someone, we hope you, asked for DL-SMS emails about the account {account} at this address. If it was not you, ignore this email.",
        "mail.address.action": "Confirm the address within 24 hours: {link}",

        "page.unsubscribe.title": "Unsubscribe",
        "page.unsubscribe.ask": "Stop all seat booking emails of this account?",
        "page.unsubscribe.button": "Unsubscribe",
        "page.unsubscribe.done": "You will get no more seat booking emails. You can turn them on again in the app.",
        "page.address.done": "Your email address {address} is confirmed.",
        "page.link.invalid": "This link is not valid, or it has expired.",
    ]
}

extension MessageCatalog {
    /// A notification's English text in `language`: the values of the template it was made from
    /// in that language's template, times (RFC 3339 in the English text) written the language's way
    /// in `zone`. English, and a text no template matches, are returned as they are.
    /// With `timesInEnglish` an English text gets its times written the readable way too (an
    /// email); otherwise English is returned as recorded (the contract's `message`).
    public static func translate(_ text: String, into language: Language, zone: TimeZone, timesInEnglish: Bool = false)
        -> String
    {
        guard language != .english || timesInEnglish else { return text }
        return translate(text, keys: notices, into: language, zone: zone) ?? text
    }

    static func translate(_ text: String, keys: [String], into language: Language, zone: TimeZone) -> String? {
        for key in keys {
            guard let template = english[key], var values = match(text, template: template) else { continue }
            for (name, value) in values {
                if let t = RFC3339.parse(value) {
                    values[name] = language.dateTime(t, zone: zone)
                } else if name == "strike" || name == "strikes" {
                    // A strike's own description (`no-show: seat 2, reservation 5, <time>`), each.
                    values[name] = value.components(separatedBy: "; ").map {
                        translate($0, keys: ["strike.no_show", "strike.late_cancel"], into: language, zone: zone) ?? $0
                    }.joined(separator: language == .simplifiedChinese ? "；" : "; ")
                }
            }
            return language.text(key, values)
        }
        return nil
    }
}
