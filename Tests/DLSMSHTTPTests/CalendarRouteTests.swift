import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

/// Private calendar feeds: `POST`/`DELETE /calendar/feed`, `GET /calendar/{token}.ics`.
@Suite struct CalendarRouteTests {
    static let checker = peerScript("ical_check.py")

    /// The independent parser is there (CI installs it; elsewhere the test is skipped if not).
    static let parserAvailable = peerAvailable(pythonModule: "icalendar")

    @Test func aFeedListsTheStudentsReservationsAndIsRevocable() async throws {
        try await withService { client, _, _ in
            let student = try await client.login("S2021007")
            let booked = try await client.call(
                .post, "/reservations", token: student, json: booking(40, t0 + 3_600, t0 + 7_200))
            let dropped = try await client.call(
                .post, "/reservations", token: student, json: booking(41, t0 + 3 * 3_600, t0 + 4 * 3_600))
            #expect(booked.status == .created && dropped.status == .created)
            _ = try await client.call(.delete, "/reservations/\(dropped.json["id"] as? Int ?? 0)", token: student)

            let made = try await client.call(.post, "/calendar/feed", token: student)
            #expect(made.status == .created, "\(made.text)")
            let url = try #require(made.json["url"] as? String)
            #expect(url.hasPrefix("/calendar/") && url.hasSuffix(".ics"))

            // No bearer token: the URL is the credential.
            let feed = try await client.call(.get, url)
            #expect(feed.status == .ok)
            #expect(feed.headers[.contentType] == "text/calendar; charset=utf-8")
            #expect(feed.text.hasPrefix("BEGIN:VCALENDAR\r\n") && feed.text.hasSuffix("END:VCALENDAR\r\n"))
            let uid = "UID:reservation-\(booked.json["id"] as? Int ?? 0)@dl-sms"
            #expect(feed.text.contains(uid))
            #expect(feed.text.contains("UID:reservation-\(dropped.json["id"] as? Int ?? 0)@dl-sms"))
            #expect(feed.text.contains("STATUS:CANCELLED"))
            #expect(feed.text.contains(#"LOCATION:Engineering Library\, Computer Lab\, seat 40"#))
            // Only this student's reservations.
            let mine = try await client.call(.get, "/reservations/mine?limit=100", token: student)
            let count = (mine.json["reservations"] as? [Any])?.count ?? -1
            #expect(feed.text.components(separatedBy: "BEGIN:VEVENT").count - 1 == count)

            // ETag: the same answer is 304, a change gives a new tag; UIDs stay.
            let etag = try #require(feed.headers[.eTag])
            let again = try await client.call(.get, url, headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified && again.text.isEmpty)
            _ = try await client.call(
                .post, "/reservations", token: student, json: booking(42, t0 + 5 * 3_600, t0 + 6 * 3_600))
            let changed = try await client.call(.get, url, headers: [.ifNoneMatch: etag])
            #expect(changed.status == .ok && changed.headers[.eTag] != etag && changed.text.contains(uid))

            // A new feed replaces the old; revoking ends it.
            let second = try await client.call(.post, "/calendar/feed", token: student)
            let url2 = try #require(second.json["url"] as? String)
            #expect(url2 != url)
            #expect(try await client.call(.get, url).status == .notFound)
            #expect(try await client.call(.get, url2).status == .ok)
            let revoked = try await client.call(.delete, "/calendar/feed", token: student)
            #expect(revoked.json["revoked"] as? Bool == true)
            #expect(try await client.call(.get, url2).status == .notFound)
            #expect(try await client.call(.delete, "/calendar/feed", token: student).json["revoked"] as? Bool == false)
            #expect(try await client.call(.post, "/calendar/feed").status == .unauthorized)
        }
    }

    /// The feed is part of the account's record: the same URL works after a restart from the WAL
    /// and from a snapshot.
    @Test func aFeedSurvivesARestart() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let config = testConfiguration(dir)
        func start() async throws -> ServerNode {
            try await DLSMSServer.makeNode(
                config, clock: ManualClock(t0), logger: Logger(label: "test"), announce: { _ in })
        }
        var service = try await start()
        let url = try await Application(router: DLSMSServer.makeRouter(service)).test(.router) { client in
            let student = try await client.login("S2021002")
            return try #require(try await client.call(.post, "/calendar/feed", token: student).json["url"] as? String)
        }
        for finalSnapshot in [false, true] {
            await service.durable.close(finalSnapshot: finalSnapshot)
            service = try await start()
            try await Application(router: DLSMSServer.makeRouter(service)).test(.router) { client in
                let feed = try await client.call(.get, url)
                #expect(feed.status == .ok, "snapshot: \(finalSnapshot)")
            }
        }
        await service.durable.close(finalSnapshot: false)
    }

    /// Folding takes code points, never stalls on a character of many of them, keeps lines within
    /// 75 octets and unfolds to the same text; escaping sees a comma under a combining mark.
    @Test func foldingNeverStallsAndUnfoldsToTheSameText() {
        for text in [
            "e" + String(repeating: "\u{301}", count: 200), String(repeating: "学", count: 100),
            String(repeating: "a", count: 300),
            "x", "",
        ] {
            var cal = ICalendar()
            cal.line("SUMMARY:" + text)
            let lines = cal.text.components(separatedBy: "\r\n").dropLast()
            #expect(lines.allSatisfy { $0.utf8.count <= 75 })
            let unfolded = lines.enumerated().map { n, line in
                n == 0 ? line : String(String.UnicodeScalarView(line.unicodeScalars.dropFirst()))
            }
            #expect(unfolded.joined() == "SUMMARY:" + text)
        }
        #expect(ICalendar.escape(",\u{301};\u{301}\\\r\na") == "\\,\u{301}\\;\u{301}\\\\\\na")
    }

    @Test func forgedAndMalformedFeedsAreNotFound() async throws {
        try await withService { client, service, _ in
            let student = try await client.login("S2021003")
            let url = try #require(
                try await client.call(.post, "/calendar/feed", token: student).json["url"] as? String)
            let token = String(url.dropFirst("/calendar/".count).dropLast(4))
            // Another student's id with this token's random part, one changed character, the
            // wrong length or alphabet, no suffix: all not found, and alike.
            var other = Array(token.utf8)
            other[5] = other[5] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            let forged = Base64URL.encode([0, 0, 0, 4] + Array(repeating: 7, count: 24))
            for path in [
                "/calendar/\(String(decoding: other, as: UTF8.self)).ics", "/calendar/\(forged).ics",
                "/calendar/\(token)", "/calendar/\(token).ical", "/calendar/\(token)x.ics", "/calendar/.ics",
                "/calendar/\(String(repeating: "A", count: 38)).ics", "/calendar/\(token.dropLast())!.ics",
                "/calendar/" + String(repeating: "é", count: 400) + ".ics",
            ] {
                let r = try await client.call(.get, path)
                #expect(r.status == .notFound && r.code == "not_found", "\(path.prefix(60)): \(r.text)")
            }
            // One spelling per token: the last character's unused bits must be zero.
            var twin = Array(token.utf8)
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
            let value = alphabet.firstIndex(of: twin[twin.count - 1])!
            twin[twin.count - 1] = alphabet[value ^ 1]
            #expect(
                try await client.call(.get, "/calendar/\(String(decoding: twin, as: UTF8.self)).ics").status
                    == .notFound)
            // HEAD and weak validators.
            let head = try await client.call(.head, url)
            #expect(head.status == .ok && head.text.isEmpty)
            let etag = try #require(head.headers[.eTag])
            #expect(try await client.call(.get, url, headers: [.ifNoneMatch: "W/" + etag]).status == .notModified)
            // A new password or revoked sessions void the feed (account recovery).
            let change = try await client.call(
                .post, "/auth/password", token: student,
                json: #"{"current_password": "password123", "new_password": "another-password-1"}"#)
            #expect(change.status == .ok, "\(change.text)")
            #expect(try await client.call(.get, url).status == .notFound)
            let fresh = try await client.login("S2021003", "another-password-1")
            let url2 = try #require(try await client.call(.post, "/calendar/feed", token: fresh).json["url"] as? String)
            #expect(try await client.call(.get, url2).status == .ok)
            let admin = try await client.login("admin", "admin-password")
            #expect(try await client.call(.post, "/admin/users/3/revoke-sessions", token: admin).status == .ok)
            #expect(try await client.call(.get, url2).status == .notFound)
            let again = try await client.login("S2021003", "another-password-1")
            let url3 = try #require(try await client.call(.post, "/calendar/feed", token: again).json["url"] as? String)
            // A disabled account's feed stops.
            #expect(try await client.call(.get, url3).status == .ok)
            _ = try await service.engine.updateUser(id: 3) { $0.disabled = true }
            #expect(try await client.call(.get, url3).status == .notFound)
        }
    }

    @Test(.enabled(if: parserAvailable, "Python's icalendar is not installed (CI installs it)"))
    func theFeedParsesWithAnIndependentParser() async throws {
        try await withService { client, _, _ in
            let student = try await client.login("S2021008")
            // A long, awkward name: commas, semicolons, backslashes, non-ASCII, folding, and
            // characters of many code points (one of 38, longer than a folded line).
            let renamed =
                String(repeating: "Zoë, O'Brien; \\ 学生 ", count: 8) + "e" + String(repeating: "\u{301}", count: 37)
                + ",\u{301};\u{301}\\\u{301}"
            let ids = try await [(43, 1), (44, 3)].asyncMap { seat, h in
                try await client.call(
                    .post, "/reservations", token: student,
                    json: booking(seat, t0 + Int64(h) * 3_600, t0 + Int64(h + 1) * 3_600)
                ).json["id"] as? Int ?? 0
            }
            _ = try await client.call(.delete, "/reservations/\(ids[1])", token: student)
            let url = try #require(
                try await client.call(.post, "/calendar/feed", token: student).json["url"] as? String)
            let feed = try await client.call(.get, url)
            let dir = temporaryDirectory()
            defer { cleanup(dir) }
            try Data(feed.text.utf8).write(to: URL(fileURLWithPath: dir + "/feed.ics"))
            let parsed = try await runProgram("/usr/bin/env", ["python3", Self.checker, dir + "/feed.ics"])
            #expect(parsed.status == 0, "\(parsed.error)")
            let events = try #require(
                try JSONSerialization.jsonObject(with: Data(parsed.output.utf8)) as? [[String: Any]])
            let byUID = Dictionary(uniqueKeysWithValues: events.map { ($0["uid"] as? String ?? "", $0) })
            let first = try #require(byUID["reservation-\(ids[0])@dl-sms"])
            #expect(first["status"] as? String == "CONFIRMED")
            #expect(first["start"] as? String == iso(t0 + 3_600) && first["end"] as? String == iso(t0 + 7_200))
            #expect(first["location"] as? String == "Engineering Library, Computer Lab, seat 43")
            #expect(byUID["reservation-\(ids[1])@dl-sms"]?["status"] as? String == "CANCELLED")

            // Escaping and folding of awkward text, through the same parser.
            var cal = ICalendar()
            cal.line("BEGIN:VCALENDAR")
            cal.line("VERSION:2.0")
            cal.line("PRODID:-//test//EN")
            cal.line("BEGIN:VEVENT")
            cal.line("UID:x@test")
            cal.line("DTSTAMP:20251011T120000Z")
            cal.line("DTSTART:20251011T120000Z")
            cal.line("DTEND:20251011T130000Z")
            cal.line("STATUS:CONFIRMED")
            cal.property("SUMMARY", text: renamed + "\nline two")
            cal.line("END:VEVENT")
            cal.line("END:VCALENDAR")
            try Data(cal.text.utf8).write(to: URL(fileURLWithPath: dir + "/awkward.ics"))
            let awkward = try await runProgram("/usr/bin/env", ["python3", Self.checker, dir + "/awkward.ics"])
            #expect(awkward.status == 0, "\(awkward.error)")
            let summary =
                (try JSONSerialization.jsonObject(with: Data(awkward.output.utf8)) as? [[String: Any]])?
                .first?["summary"] as? String
            #expect(summary == renamed + "\nline two")
        }
    }
}
