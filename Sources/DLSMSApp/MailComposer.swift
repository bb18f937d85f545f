import Crypto
import DLSMSCore
import DLSMSEngine
import Foundation

/// The signed links in emails: one-click unsubscribe (RFC 8058) and the confirmation of an
/// address a student set. A token is base64url of its content and the first 16 bytes of an
/// HMAC-SHA256 over it, keyed by a key derived from the server's token secret (so a standby,
/// which shares the secret, accepts the links its primary sent).
public struct MailLinks: Sendable {
    let key: SymmetricKey
    public let base: String

    public init(secret: [UInt8], base: String) {
        key = SymmetricKey(
            data: HMAC<SHA256>.authenticationCode(
                for: Array("dlsms mail links".utf8), using: SymmetricKey(data: secret))
        )
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
    }

    /// How long an address confirmation link works.
    public static let confirmationLifetime: Int64 = 24 * 3_600

    func seal(_ content: [UInt8]) -> String {
        Base64URL.encode(content + HMAC<SHA256>.authenticationCode(for: content, using: key).prefix(16))
    }

    func open(_ token: String, limit: Int = 400) -> [UInt8]? {
        guard let bytes = Base64URL.decode(token, limit: limit), bytes.count > 16 else { return nil }
        let content = Array(bytes.dropLast(16))
        let mac = Array(HMAC<SHA256>.authenticationCode(for: content, using: key).prefix(16))
        // Constant time: compare every byte.
        guard zip(mac, bytes.suffix(16)).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else { return nil }
        return content
    }

    public func unsubscribeToken(_ user: UserID) -> String {
        seal(Array("u".utf8) + Base64URL.bytes(UInt32(bitPattern: user)))
    }

    public func unsubscribeURL(_ user: UserID) -> String { base + "/mail/unsubscribe?t=" + unsubscribeToken(user) }

    /// The account an unsubscribe token names.
    public func unsubscriber(_ token: String) -> UserID? {
        guard let c = open(token), c.count == 5, c[0] == UInt8(ascii: "u") else { return nil }
        return UserID(bitPattern: Base64URL.uint32(Array(c[1...])))
    }

    public func confirmationToken(_ user: UserID, address: String, expires: Int64, serial: UInt32) -> String {
        var content = Array("a".utf8) + Base64URL.bytes(UInt32(bitPattern: user))
        content += withUnsafeBytes(of: expires.bigEndian) { Array($0) } + Base64URL.bytes(serial)
        return seal(content + Array(address.utf8))
    }

    /// What a confirmation token names: the account, the address and the serial it was sent
    /// under, if it has not expired at `now`.
    public func confirmation(_ token: String, now: Int64) -> (user: UserID, address: String, serial: UInt32)? {
        guard let c = open(token), c.count > 17, c[0] == UInt8(ascii: "a") else { return nil }
        let expires = c[5..<13].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        guard now <= expires else { return nil }
        return (
            UserID(bitPattern: Base64URL.uint32(Array(c[1..<5]))), String(decoding: c[17...], as: UTF8.self),
            Base64URL.uint32(Array(c[13..<17]))
        )
    }
}

/// Renders an outbox message as an email, in the language it was queued in.
public struct MailComposer: Sendable {
    public var fromName: String
    public var fromAddress: String
    public var links: MailLinks
    /// The host part of `Message-ID`s.
    public var domain: String

    public init(fromName: String, fromAddress: String, links: MailLinks) {
        self.fromName = fromName
        self.fromAddress = fromAddress
        self.links = links
        domain = fromAddress.split(separator: "@").last.map(String.init) ?? "dl-sms"
    }

    /// What the message says: subject, paragraphs, an action link, an attachment.
    struct Content {
        var subject: String
        var paragraphs: [String]
        var action: (text: String, url: String)?
        var attachment: MIMEMessage.Attachment?
    }

    /// The email for `m`; `seat` and `name` as the engine has them now.
    public func compose(_ m: MailItem, seat: Seat?, name: String, zone: TimeZone) -> MIMEMessage {
        let language = Language(rawValue: m.language) ?? .english
        let content = content(m, language: language, seat: seat, zone: zone, name: name)
        var text = [language.text("mail.greeting", ["name": name.isEmpty ? "" : name])] + content.paragraphs
        var html = text.map { "<p>\(xmlEscape($0))</p>" }
        if let action = content.action {
            text.append(action.text.replacingOccurrences(of: "{link}", with: action.url))
            let label = xmlEscape(action.text.replacingOccurrences(of: ": {link}", with: ""))
            html.append("<p><a href=\"\(xmlEscape(action.url))\">\(label)</a></p>")
        }
        text.append(language.text("mail.signature"))
        html.append("<p>\(xmlEscape(language.text("mail.signature")))</p>")
        var headers: [(String, String)] = []
        if m.kind != .address {
            let unsubscribe = links.unsubscribeURL(m.userID)
            let preferences = links.base + "/#/my-data"
            let footer = [
                language.text("mail.footer", ["link": preferences]),
                language.text("mail.unsubscribe", ["link": unsubscribe]),
            ]
            text.append("-- \n" + footer.joined(separator: "\n"))
            html.append(
                "<hr><p style=\"font-size:small\">"
                    + footer.map { linked(xmlEscape($0)) }.joined(separator: "<br>") + "</p>")
            headers = [
                ("List-Unsubscribe", "<\(unsubscribe)>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
            ]
        }
        let body =
            "<!doctype html><html lang=\"\(language.rawValue)\"><head><meta charset=\"utf-8\"><title>"
            + xmlEscape(content.subject) + "</title></head><body>" + html.joined(separator: "\n")
            + "</body></html>"
        return MIMEMessage(
            fromName: fromName, fromAddress: fromAddress, to: m.to, subject: content.subject, date: m.createdAt,
            messageID: "\(m.messageKey)@\(domain)", text: text.joined(separator: "\n\n"), html: body,
            attachment: content.attachment, headers: headers)
    }

    /// URLs in an escaped line as links.
    private func linked(_ escaped: String) -> String {
        guard let start = escaped.range(of: "http") else { return escaped }
        let url = escaped[start.lowerBound...].prefix { !$0.isWhitespace }
        return escaped.replacingOccurrences(of: url, with: "<a href=\"\(url)\">\(url)</a>")
    }

    func content(_ m: MailItem, language: Language, seat: Seat?, zone: TimeZone, name: String) -> Content {
        let label = seat?.displayLabel ?? String(m.seatID)
        let place = seat.map { "\($0.branch), \($0.area)" } ?? ""
        let when = language.range(m.start, m.end, zone: zone)
        let details = language.text("mail.details", ["seat": label, "place": place, "when": when])
        let notice = MessageCatalog.translate(m.text, into: language, zone: zone, timesInEnglish: true)
        let values = ["seat": label, "when": when, "details": details, "time": language.time(m.start, zone: zone)]
        switch m.kind {
        case .confirmed:
            let r = Reservation(
                id: m.reference, seatID: m.seatID, userID: m.userID, start: m.start, end: m.end, status: .confirmed,
                createdAt: m.createdAt)
            let ics = CalendarEvents.render([(r, seat)], name: label, language: language)
            return Content(
                subject: language.text("mail.confirmed.subject", values),
                paragraphs: [language.text("mail.confirmed.body", values)], action: nil,
                attachment: .init(
                    contentType: "text/calendar; charset=utf-8; method=PUBLISH",
                    filename: "reservation-\(m.reference).ics",
                    bytes: Array(ics.utf8)))
        case .reminder:
            return Content(
                subject: language.text("mail.reminder.subject", values),
                paragraphs: [language.text("mail.reminder.body", values)])
        case .checkIn:
            return Content(
                subject: language.text("mail.checkin.subject", values),
                paragraphs: [language.text("mail.checkin.body", values)])
        case .noShow: return Content(subject: language.text("mail.no_show.subject", values), paragraphs: [notice])
        case .cancelled: return Content(subject: language.text("mail.cancelled.subject", values), paragraphs: [notice])
        case .strike: return Content(subject: language.text("mail.strike.subject"), paragraphs: [notice])
        case .suspended: return Content(subject: language.text("mail.suspended.subject"), paragraphs: [notice])
        case .offer:
            return Content(
                subject: language.text("mail.offer.subject", values), paragraphs: [notice],
                action: (language.text("mail.offer.action"), links.base + "/#/accept/\(m.reference)"))
        case .address:
            return Content(
                subject: language.text("mail.address.subject"),
                paragraphs: [language.text("mail.address.body", ["account": name])],
                action: (language.text("mail.address.action"), links.base + "/mail/confirm?t=" + m.text))
        }
    }
}

extension MailComposer.Content {
    init(subject: String, paragraphs: [String]) {
        self.init(subject: subject, paragraphs: paragraphs, action: nil, attachment: nil)
    }

    init(subject: String, paragraphs: [String], action: (text: String, url: String)?) {
        self.init(subject: subject, paragraphs: paragraphs, action: action, attachment: nil)
    }
}

/// Email addresses people give (a student's own, the sender): checked before they are stored.
public enum MailAddress {
    /// `local@domain` in printable ASCII: no spaces, angle brackets, quotes, commas or control
    /// characters (nothing that could end a header or an SMTP command), one `@`, a domain name of
    /// two or more labels, at most 254 bytes.
    public static func problem(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= User.maxEmailBytes else { return "must be 1–254 bytes" }
        guard text.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }),
            !text.contains(where: { "<>()[],;:\"\\".contains($0) })
        else { return "must be a plain address like name@example.edu" }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].utf8.count <= 64, !parts[0].hasPrefix("."),
            !parts[0].hasSuffix("."), !parts[0].contains("..")
        else { return "must be a plain address like name@example.edu" }
        // A domain of two or more labels (letters, digits, inner hyphens), its last alphabetic:
        // no bare host name (`localhost`) and no address literal.
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2,
            labels.allSatisfy({ label in
                !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                    && label.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" }
            }), labels.last!.count >= 2, labels.last!.allSatisfy(\.isLetter)
        else { return "must be a plain address like name@example.edu" }
        return nil
    }

    package static func check(_ text: String) throws(ConfigurationError) -> String {
        if let problem = problem(text) { throw ConfigurationError(problem) }
        return text
    }
}
