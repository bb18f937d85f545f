import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSHTTP

/// `GET`/`PUT /me/preferences`, the language of notification texts, and the email routes on a
/// server without a mail transport.
@Suite struct PreferenceRouteTests {
    @Test func preferencesAreCheckedWholeAndKept() async throws {
        try await withService { client, service, _ in
            let student = try await client.login("S2021003")
            #expect(try await client.call(.get, "/me/preferences").status == .unauthorized)
            let first = try await client.call(.get, "/me/preferences", token: student)
            #expect(first.json["language"] is NSNull && first.json["reminder_minutes"] as? Int == 30)
            #expect((first.json["email_kinds"] as? [String: Bool])?.count == MailKind.preferences.count)
            #expect(first.json["languages"] as? [String] == ["en", "de", "zh-CN"])
            for bad in [
                #"{"language":"fr"}"#, #"{"language":5}"#, #"{"reminder_minutes":-1}"#, #"{"reminder_minutes":1441}"#,
                #"{"reminder_minutes":1e300}"#, #"{"email_kinds":{"spam":true}}"#,
                #"{"email_kinds":{"address":false}}"#,
                #"{"email_kinds":{"reminder":"no"}}"#, #"{"colour":"red"}"#, "[]", "{",
                #"{"EMAIL_KINDS":{"offer":false}}"#, #"{"reminderMinutes":7}"#, #"{"Language":"de"}"#,
                #"{"language":"de","reminder_minutes":-5}"#,
            ] {
                let r = try await client.call(.put, "/me/preferences", token: student, json: bad)
                #expect(r.status == .badRequest && r.code == "bad_request", "\(bad): \(r.text)")
            }
            // Nothing of a refused body was kept (the language of the last one included).
            #expect(service.engine.user(studentID: "S2021003")?.language == "")
            let set = try await client.call(
                .put, "/me/preferences", token: student,
                json: #"{"language":"zh-CN","email_kinds":{"reminder":false,"offer":false},"reminder_minutes":15}"#)
            #expect(set.status == .ok, "\(set.text)")
            let kinds = set.json["email_kinds"] as? [String: Bool] ?? [:]
            #expect(kinds["reminder"] == false && kinds["offer"] == false && kinds["confirmed"] == true)
            #expect(set.json["language"] as? String == "zh-CN" && set.json["reminder_minutes"] as? Int == 15)
            // A partial change leaves the rest; null clears the language.
            let cleared = try await client.call(.put, "/me/preferences", token: student, json: #"{"language":null}"#)
            #expect(cleared.json["language"] is NSNull && cleared.json["reminder_minutes"] as? Int == 15)
        }
    }

    @Test func notificationTextsComeInTheStudentsLanguageElseTheBrowsers() async throws {
        try await withService { client, service, clock in
            let student = try await client.login("S2021004")
            let admin = try await client.login("admin", "admin-password")
            let now = clock.now()
            let booked = try await client.call(
                .post, "/reservations", token: student, json: booking(30, now + 3_600, now + 7_200))
            let id = try #require(booked.json["id"] as? Int, "\(booked.text)")
            #expect(try await client.call(.delete, "/reservations/\(id)", token: admin).status == .ok)
            func message(_ headers: HTTPFields = [:]) async throws -> String {
                let list = try await client.call(.get, "/notifications", token: student, headers: headers)
                return ((list.json["notifications"] as? [[String: Any]])?.last?["message"] as? String) ?? ""
            }
            #expect(try await message() == "Reservation \(id) on seat 30 was cancelled by the library staff.")
            let chinese = try await message([.acceptLanguage: "zh-CN,zh;q=0.9,en;q=0.5"])
            #expect(chinese == "座位 30 的预约 \(id) 已被图书馆工作人员取消。")
            _ = try await client.call(.put, "/me/preferences", token: student, json: #"{"language":"de"}"#)
            let german = try await message([.acceptLanguage: "zh-CN"])
            #expect(german == "Die Reservierung \(id) für Platz 30 wurde vom Bibliothekspersonal storniert.")
            #expect(service.engine.user(studentID: "S2021004")?.language == "de")
        }
    }

    @Test func emailRoutesWithoutATransportSayEmailIsOff() async throws {
        try await withService { client, _, _ in
            let student = try await client.login("S2021005")
            let off = try await client.call(.post, "/me/email", token: student, json: #"{"address":"s@example.edu"}"#)
            #expect(off.status == .forbidden && off.code == "mail_off", "\(off.text)")
            for bad in [#"{"address":"not an address"}"#, #"{"address":"a@b.edu\r\nBcc: c@d.edu"}"#, "{}"] {
                let r = try await client.call(.post, "/me/email", token: student, json: bad)
                #expect(r.status == .badRequest, "\(bad): \(r.text)")
            }
            #expect(try await client.call(.get, "/admin/mail", token: student).status == .forbidden)
            let admin = try await client.login("admin", "admin-password")
            let status = try await client.call(.get, "/admin/mail", token: admin)
            #expect(
                status.status == .ok && status.json["enabled"] as? Bool == false && status.json["pending"] as? Int == 0)
            #expect(try await client.call(.get, "/admin/mail?limit=0", token: admin).status == .badRequest)
            // The signed links refuse what is not theirs, with a page, never a 500.
            for path in [
                "/mail/unsubscribe", "/mail/unsubscribe?t=abc",
                "/mail/confirm?t=" + String(repeating: "A", count: 5_000),
            ] {
                let page = try await client.call(.get, path)
                #expect(page.status == .badRequest && page.text.contains("not valid"), "\(path)")
                #expect(try await client.call(.post, path).status == .badRequest)
            }
            #expect(try await client.call(.delete, "/me/email", token: student).status == .noContent)
        }
    }
}
