import Foundation

/// An email as RFC 5322 / MIME text (RFC 2045–2047): headers (non-ASCII ones as RFC 2047
/// encoded-words), a plain-text and an HTML alternative (quoted-printable, UTF-8), and optionally
/// one attachment (base64). Written by hand: no maintained Swift MIME library is among the offline
/// packages, and this is the small part of MIME an outgoing notification needs; the tests parse
/// what it writes with Python's `email` package.
public struct MIMEMessage: Sendable {
    public struct Attachment: Sendable {
        /// E.g. `text/calendar; charset=utf-8; method=REQUEST`.
        public var contentType: String
        public var filename: String
        public var bytes: [UInt8]

        public init(contentType: String, filename: String, bytes: [UInt8]) {
            self.contentType = contentType
            self.filename = filename
            self.bytes = bytes
        }
    }

    public var fromName: String
    public var fromAddress: String
    public var to: String
    public var subject: String
    public var date: Int64
    /// Without angle brackets: `local@domain`.
    public var messageID: String
    public var text: String
    public var html: String
    public var attachment: Attachment?
    /// More headers, in order (e.g. `List-Unsubscribe`), each value ASCII.
    public var headers: [(String, String)] = []

    public init(
        fromName: String, fromAddress: String, to: String, subject: String, date: Int64, messageID: String,
        text: String, html: String, attachment: Attachment? = nil, headers: [(String, String)] = []
    ) {
        self.fromName = fromName
        self.fromAddress = fromAddress
        self.to = to
        self.subject = subject
        self.date = date
        self.messageID = messageID
        self.text = text
        self.html = html
        self.attachment = attachment
        self.headers = headers
    }

    /// The message, lines ending in CRLF, every line at most 998 octets (RFC 5322 §2.1.1).
    /// `boundary` makes the part boundaries unique (a message's id does).
    public func rendered() -> String {
        let boundary =
            "=_dlsms_"
            + String(
                messageID.utf8.reduce(UInt64(14_695_981_039_346_656_037)) {
                    ($0 ^ UInt64($1)) &* 1_099_511_628_211
                }, radix: 36)
        var out = ""
        func header(_ name: String, _ value: String) { out += Self.fold("\(name): \(value)") + "\r\n" }
        header("Date", Self.date(date))
        header("From", Self.mailbox(name: fromName, address: fromAddress))
        header("To", "<\(to)>")
        header("Subject", Self.encodedWords(subject))
        header("Message-ID", "<\(messageID)>")
        header("MIME-Version", "1.0")
        header("Auto-Submitted", "auto-generated")
        for (name, value) in headers { header(name, value) }
        let alternative = attachment == nil ? boundary : boundary + "_alt"
        if let attachment {
            header("Content-Type", "multipart/mixed; boundary=\"\(boundary)\"")
            out += "\r\n--\(boundary)\r\n"
            out += "Content-Type: multipart/alternative; boundary=\"\(alternative)\"\r\n"
            out += alternatives(boundary: alternative)
            out += "\r\n--\(boundary)\r\n"
            out += Self.fold("Content-Type: \(attachment.contentType); name=\"\(attachment.filename)\"") + "\r\n"
            out += "Content-Disposition: attachment; filename=\"\(attachment.filename)\"\r\n"
            out += "Content-Transfer-Encoding: base64\r\n\r\n"
            out += Self.base64Lines(attachment.bytes)
            out += "\r\n--\(boundary)--\r\n"
        } else {
            header("Content-Type", "multipart/alternative; boundary=\"\(alternative)\"")
            out += alternatives(boundary: alternative)
        }
        return out
    }

    private func alternatives(boundary: String) -> String {
        var out = "\r\n--\(boundary)\r\n"
        out += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        out += Self.quotedPrintable(text)
        out += "\r\n--\(boundary)\r\n"
        out += "Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        out += Self.quotedPrintable(html)
        out += "\r\n--\(boundary)--\r\n"
        return out
    }

    // MARK: - Encodings

    /// `Mon, 07 Dec 2026 11:13:02 +0000` (RFC 5322 §3.3), in UTC.
    public static func date(_ t: Int64) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents(
            [.year, .month, .day, .hour, .minute, .second, .weekday], from: Date(timeIntervalSince1970: Double(t)))
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ n: Int?) -> String { n.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        return "\(days[(c.weekday ?? 1) - 1]), \(two(c.day)) \(months[(c.month ?? 1) - 1]) \(c.year ?? 1970) "
            + "\(two(c.hour)):\(two(c.minute)):\(two(c.second)) +0000"
    }

    /// `"Name" <address>`, the name an encoded-word when not plain ASCII.
    static func mailbox(name: String, address: String) -> String {
        guard !name.isEmpty else { return "<\(address)>" }
        let plain = name.unicodeScalars.allSatisfy {
            $0.isASCII && $0.value >= 0x20 && $0 != "\"" && $0 != "\\" && $0.value != 0x7F
        }
        return (plain ? "\"\(name)\"" : encodedWords(name)) + " <\(address)>"
    }

    /// A header text as it is when printable ASCII, else as UTF-8 `B` encoded-words (RFC 2047),
    /// each at most 75 characters and never splitting a character, separated by folding space.
    public static func encodedWords(_ text: String) -> String {
        let clean = text.filter { !$0.isNewline }
        if clean.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F })
            && !clean.contains("=?")
        {
            return clean
        }
        // 75 - "=?utf-8?B?".count - "?=".count = 63 base64 characters: 45 bytes of UTF-8.
        var words: [String] = []
        var chunk: [UInt8] = []
        for ch in clean {
            let bytes = Array(String(ch).utf8)
            if chunk.count + bytes.count > 45 && !chunk.isEmpty {
                words.append("=?utf-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk = []
            }
            chunk += bytes
        }
        if !chunk.isEmpty { words.append("=?utf-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        return words.joined(separator: "\r\n ")
    }

    /// Folds a header line longer than 78 characters at spaces (already-folded parts kept).
    static func fold(_ line: String) -> String {
        guard line.utf8.count > 78, !line.contains("\r\n") else { return line }
        var out = ""
        var current = ""
        for (i, word) in line.split(separator: " ", omittingEmptySubsequences: false).enumerated() {
            // Never between the name and the first word of its value.
            if i > 1 && !current.isEmpty && current.utf8.count + 1 + word.utf8.count > 78 {
                out += current + "\r\n"
                current = " " + word
            } else {
                current += (current.isEmpty ? "" : " ") + word
            }
        }
        return out + current
    }

    /// Quoted-printable (RFC 2045 §6.7): text line breaks as CRLF, lines at most 76 characters
    /// with soft breaks, `=`, non-ASCII and control bytes encoded, and white space before a
    /// line break encoded (so no transport strips it).
    public static func quotedPrintable(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        let lines = text.replacingOccurrences(of: "\r\n", with: "\n").split(
            separator: "\n", omittingEmptySubsequences: false)
        for (n, line) in lines.enumerated() {
            var width = 0
            let bytes = Array(line.utf8)
            for (i, b) in bytes.enumerated() {
                let last = i == bytes.count - 1
                let plain = (b >= 33 && b <= 126 && b != UInt8(ascii: "=")) || ((b == 32 || b == 9) && !last)
                let piece: [UInt8] = plain ? [b] : [UInt8(ascii: "="), hex[Int(b >> 4)], hex[Int(b & 15)]]
                if width + piece.count > 75 {
                    out += Array("=\r\n".utf8)
                    width = 0
                }
                out += piece
                width += piece.count
            }
            if n < lines.count - 1 { out += [13, 10] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func base64Lines(_ bytes: [UInt8]) -> String {
        let encoded = Data(bytes).base64EncodedString()
        var out = ""
        var rest = Substring(encoded)
        while !rest.isEmpty {
            out += rest.prefix(76) + "\r\n"
            rest = rest.dropFirst(76)
        }
        return out
    }
}
