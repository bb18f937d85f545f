import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Testing

/// The server's texts in English, German and Simplified Chinese: complete, with the same
/// placeholders everywhere; every notification the engine writes is recognised and translated;
/// languages chosen as `Accept-Language` asks.
@Suite struct MessageCatalogTests {
    @Test func everyLanguageHasEveryKeyWithTheSamePlaceholders() {
        for (name, table) in [("de", MessageCatalog.german), ("zh-CN", MessageCatalog.chinese)] {
            #expect(Set(table.keys) == Set(MessageCatalog.english.keys), "\(name): keys differ")
            for (key, english) in MessageCatalog.english {
                guard let text = table[key] else { continue }
                #expect(
                    MessageCatalog.placeholders(text).sorted() == MessageCatalog.placeholders(english).sorted(),
                    "\(name) \(key)")
                #expect(!text.isEmpty && text != key)
            }
        }
    }

    /// The engine's own notification texts (a staff cancel, a no-show and its strike, a closure,
    /// an offer and its expiry), each recognised by a template and translated, times in the
    /// branch's zone.
    @Test func everyNotificationTheEngineWritesIsTranslated() async throws {
        let clock = ManualClock(1_760_184_000)
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 1), clock: clock)
        try await engine.define(branch: Branch(name: "B", areas: ["A"], timeZone: "Europe/Berlin"))
        for s in 1...3 {
            try await engine.define(
                seat: Seat(id: SeatID(s), branch: "B", area: "A", hasPower: false, hasMonitor: false))
        }
        for u in 1...2 { _ = try await engine.register(studentID: "U\(u)", name: "N", passwordHash: "") }
        let t = clock.now() + 3_600
        let a = try await engine.book(user: 1, seat: 1, start: t, end: t + 3_600)
        _ = try await engine.cancel(id: a.id, requester: Requester(userID: 99, isAdmin: true))
        let b = try await engine.book(user: 1, seat: 2, start: t, end: t + 3_600)
        _ = try await engine.book(user: 2, seat: 3, start: t, end: t + 3_600)
        _ = try await engine.joinWaitlist(user: 1, target: .seat(3), desired: t, end: t + 3_600)
        _ = try await engine.cancel(id: b.id + 1, requester: Requester(userID: 2, isAdmin: false))
        clock.set(t + 3_600 + 1)
        _ = await engine.sweep(now: clock.now())
        let messages = engine.notifications.list(user: 1).map(\.message)
        #expect(messages.count >= 4, "\(messages)")
        let zone = TimeZone(identifier: "Europe/Berlin")!
        for message in messages {
            let german = MessageCatalog.translate(message, into: .german, zone: zone)
            let chinese = MessageCatalog.translate(message, into: .simplifiedChinese, zone: zone)
            #expect(german != message && chinese != message, "not recognised: \(message)")
            #expect(!german.contains("{") && !chinese.contains("{"), "\(german) / \(chinese)")
            #expect(!german.contains("T1") && !german.hasSuffix("Z."), "an RFC 3339 time left in: \(german)")
            #expect(MessageCatalog.translate(message, into: .english, zone: zone) == message)
        }
        // A staff member's own text is shown as written.
        #expect(MessageCatalog.translate("Bring your own lamp.", into: .german, zone: zone) == "Bring your own lamp.")
    }

    @Test func theLanguageIsTheStudentsChoiceElseTheBrowsersElseEnglish() {
        #expect(Language.negotiate("de-AT;q=0.8, zh-CN;q=0.9, en;q=0.1") == .simplifiedChinese)
        #expect(Language.negotiate("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7") == .english)
        #expect(Language.negotiate("zh-Hant-TW") == .simplifiedChinese)
        #expect(Language.negotiate("de;q=0, en") == .english)
        for bad in ["", "*", "fr", ";;;,,,", "de;q=abc", String(repeating: "x", count: 5_000), "de;q=2"] {
            #expect(Language.negotiate(bad) == nil, "\(bad.prefix(20))")
        }
        #expect(Language.choose(setting: "de", acceptLanguage: "zh-CN") == .german)
        #expect(Language.choose(setting: "", acceptLanguage: "zh-CN") == .simplifiedChinese)
        #expect(Language.choose(setting: "xx", acceptLanguage: nil) == .english)
    }

    @Test func headersAreEncodedWordsThatDecodeBackAndBodiesQuotedPrintableWithinLineLimits() throws {
        let subject = "预约成功：座位 A-12（主图书馆，静音区），2026年12月7日星期一 10:00–12:00 Grüße"
        let encoded = MIMEMessage.encodedWords(subject)
        var decoded: [UInt8] = []
        for word in encoded.components(separatedBy: "\r\n ") {
            #expect(word.utf8.count <= 75 && word.hasPrefix("=?utf-8?B?") && word.hasSuffix("?="))
            let base64 = word.dropFirst(10).dropLast(2)
            decoded += try #require(Data(base64Encoded: String(base64)))
            // Each word is whole UTF-8 on its own (RFC 2047 §5: no character split).
            #expect(String(bytes: try #require(Data(base64Encoded: String(base64))), encoding: .utf8) != nil)
        }
        #expect(String(decoding: decoded, as: UTF8.self) == subject)
        #expect(MIMEMessage.encodedWords("Plain ASCII") == "Plain ASCII")
        #expect(MIMEMessage.encodedWords("a =?utf-8?B?x?= trick").hasPrefix("=?utf-8?B?"))
        #expect(!MIMEMessage.encodedWords("line\r\nBcc: x@y").contains("\n"))

        let body = String(repeating: "Grüße aus der Bibliothek = schön. ", count: 20) + "trailing space \nnext"
        let qp = MIMEMessage.quotedPrintable(body)
        for line in qp.components(separatedBy: "\r\n") {
            #expect(line.utf8.count <= 76)
            #expect(!line.hasSuffix(" ") && !line.hasSuffix("\t"))
            #expect(line.unicodeScalars.allSatisfy { $0.isASCII })
        }
        #expect(Self.decodeQuotedPrintable(qp) == body.replacingOccurrences(of: "\n", with: "\r\n"))
        #expect(MIMEMessage.date(1_796_643_253) == "Mon, 07 Dec 2026 11:34:13 +0000")
    }

    static func decodeQuotedPrintable(_ text: String) -> String {
        var out: [UInt8] = []
        let bytes = Array(text.replacingOccurrences(of: "=\r\n", with: "").utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "="), i + 2 < bytes.count,
                let v = UInt8(String(decoding: bytes[(i + 1)...(i + 2)], as: UTF8.self), radix: 16)
            {
                out.append(v)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    @Test func mailLinksAreSignedAndConfirmationsExpire() {
        let links = MailLinks(secret: Array(repeating: 7, count: 32), base: "https://seats.example.edu/")
        let token = links.unsubscribeToken(42)
        #expect(links.unsubscriber(token) == 42)
        #expect(links.unsubscribeURL(42) == "https://seats.example.edu/mail/unsubscribe?t=" + token)
        var forged = Array(token)
        forged[3] = forged[3] == "A" ? "B" : "A"
        #expect(links.unsubscriber(String(forged)) == nil)
        #expect(MailLinks(secret: Array(repeating: 8, count: 32), base: "").unsubscriber(token) == nil)
        let confirm = links.confirmationToken(7, address: "a@b.edu", expires: 1_000, serial: 9)
        let named = links.confirmation(confirm, now: 999)
        #expect(named?.user == 7 && named?.address == "a@b.edu" && named?.serial == 9)
        #expect(links.confirmation(confirm, now: 1_001) == nil)
        #expect(links.unsubscriber(confirm) == nil && links.confirmation(token, now: 0) == nil)
        for junk in ["", "%%%", String(repeating: "A", count: 10_000), "AAAA"] {
            #expect(links.unsubscriber(junk) == nil)
        }
    }

    @Test func addressesThatCouldBreakAHeaderOrACommandAreRefused() {
        for good in ["a@b.edu", "first.last+tag@mail.uni-x.de", "x@xn--bcher-kva.example"] {
            #expect(MailAddress.problem(good) == nil)
        }
        for bad in [
            "", "no-at", "a@b", "a@@b.edu", "a b@c.edu", "a@b.edu\r\nRCPT TO:<x@y.z>", "<a@b.edu>", "a@.edu",
            "a@b..edu", "ü@b.edu", "a,b@c.edu", String(repeating: "a", count: 250) + "@b.edu", "x@localhost",
            ".@b.cc", "a.@b.cc", "a@-b.cc", "a@b-.cc", "a@b.c0", "a@127.0.0.1", "a@b_c.edu",
        ] {
            #expect(MailAddress.problem(bad) != nil, "\(bad)")
        }
    }
}
