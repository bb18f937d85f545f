import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSHTTP

/// A student's own data through REST.
@Suite struct PrivacyRouteTests {
    /// One of each kind of data held about a student, made through the service, is in their
    /// export — an archived reservation (read back from `archive.log`) too — and nothing of
    /// another student's is.
    @Test func theExportHoldsOneOfEachKindOfDataAndNothingOfAnyoneElse() async throws {
        try await withService { client, service, clock in
            let engine = service.engine
            let student0 = try await client.login("S2021007")
            let me = try #require(engine.user(studentID: "S2021007"))
            // A finished reservation that leaves memory for the archive.
            let old = try await client.call(
                .post, "/reservations", token: student0, json: booking(8, t0 + 300, t0 + 3_900))
            let oldID = try #require(old.json["id"] as? Int)
            #expect(try await client.call(.delete, "/reservations/\(oldID)", token: student0).status == .ok)
            clock.advance(by: 100 * Seconds.day)
            #expect(try await service.durable.archiveFinished() >= 1)
            let now = clock.now()
            // Tokens of 100 days ago have expired.
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021007")
            let other = try await client.login("S2021001")
            #expect(await engine.reservations(of: me.id).items.isEmpty)

            // Another student's reservation, made before strikes suspend anyone.
            let later = now + 2 * Seconds.hour
            let theirs = try await client.call(
                .post, "/reservations", token: other, json: booking(12, later, later + 3_600))
            let theirID = try #require(theirs.json["id"] as? Int, "\(theirs.text)")
            // A no-show: a strike, its notification, and (with a threshold of 1) a suspension.
            let policy = try await client.call(
                .put, "/admin/groups/default/policy", token: admin, json: #"{"strike_threshold": 1}"#)
            #expect(policy.status == .ok, "\(policy.text)")
            let missed = try await client.call(
                .post, "/reservations", token: student, json: booking(9, now + 300, now + 3_900))
            let missedID = try #require(missed.json["id"] as? Int)
            clock.advance(by: 30 * Seconds.minute)
            _ = await engine.sweep(now: clock.now())
            #expect(
                try await client.call(
                    .post, "/admin/users/\(me.id)/suspension/lift", token: admin, json: #"{"reason": "a test"}"#
                ).status == .ok)
            // An upcoming reservation, a place on a waitlist, groups, a calendar feed.
            let upcoming = try await client.call(
                .post, "/reservations", token: student, json: booking(10, later, later + 3_600))
            let upcomingID = try #require(upcoming.json["id"] as? Int, "\(upcoming.text)")
            let waiting = try await client.call(
                .post, "/waitlist", token: student, json: #"{"seat_id": 12, "desired_time": "\#(iso(later))"}"#)
            let waitingID = try #require(waiting.json["id"] as? Int, "\(waiting.text)")
            #expect(
                try await client.call(
                    .put, "/admin/users/\(me.id)/groups", token: admin, json: #"{"groups": ["night-owls"]}"#
                ).status == .ok)
            _ = try await engine.updateUser(id: me.id) { $0.groups = ["campus-idp-group"] }
            #expect(try await client.call(.post, "/calendar/feed", token: student).status == .created)

            let export = try await client.call(.get, "/me/export", token: student)
            #expect(export.status == .ok)
            #expect(export.headers[.contentDisposition]?.hasPrefix("attachment;") == true)
            #expect(export.headers[.cacheControl] == "no-store")
            let j = export.json
            let account = try #require(j["account"] as? [String: Any], "\(export.text)")
            #expect(account["student_id"] as? String == "S2021007" && account["name"] as? String == me.name)
            let groups = try #require(j["groups"] as? [String: Any])
            #expect(groups["identity"] as? [String] == ["campus-idp-group"])
            #expect(groups["assigned"] as? [String] == ["night-owls"])
            #expect((groups["effective"] as? [String])?.contains("default") == true)
            #expect((j["sign_in"] as? [String: Any])?["source"] as? String == "local")
            #expect((j["calendar"] as? [String: Any])?["feed_enabled"] as? Bool == true)
            func ids(_ key: String) -> [Int] { (j[key] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int } }
            #expect(ids("archived_reservations") == [oldID])
            #expect(Set(ids("reservations")) == [missedID, upcomingID])
            #expect(!ids("reservations").contains(theirID))
            // The seed data's entry of this student too.
            let held = engine.waitlist(of: me.id).map { Int($0.entry.id) }
            #expect(ids("waitlist").contains(waitingID) && ids("waitlist").sorted() == held.sorted())
            let told = (j["notifications"] as? [[String: Any]] ?? []).compactMap { $0["type"] as? String }
            #expect(told.contains("strike_recorded"), "\(told)")
            let strikes = try #require(j["strikes"] as? [String: Any])
            #expect((strikes["strikes"] as? [[String: Any]])?.first?["reservation_id"] as? Int == missedID)
            #expect((strikes["last_lift"] as? [String: Any])?["reason"] as? String == "a test", "\(strikes)")
            // Nothing of the other student's, and no secret: no password hash, no feed token.
            #expect(!export.text.contains("S2021001"))
            #expect(!export.text.contains("$2"), "a bcrypt hash in the export")

            #expect(try await client.call(.get, "/me/export").status == .unauthorized)
        }
    }

    /// `DELETE /me` and `DELETE /admin/users/{id}`: only with the confirmation, never one's own
    /// staff account, once; afterwards the account signs in no more and names no one.
    @Test func erasureNeedsTheConfirmationAndHappensOnce() async throws {
        try await withService { client, service, _ in
            let engine = service.engine
            let student = try await client.login("S2021005")
            let me = try #require(engine.user(studentID: "S2021005"))
            for body in [
                nil, "{}", #"{"confirm": false}"#, #"{"confirm": "true"}"#, #"{"confirm": 1}"#, #"{"confirm": null}"#,
            ] {
                let r = try await client.call(.delete, "/me", token: student, json: body)
                #expect(r.status == .badRequest && r.code == "confirmation_required", "\(body ?? "none"): \(r.text)")
            }
            // Malformed JSON and a wrong type are the contract's 400 bad_request; over 64 KiB, 413.
            for body in ["nonsense", #"{"confirm": true, "reason": 5}"#] {
                let r = try await client.call(.delete, "/me", token: student, json: body)
                #expect(r.status == .badRequest && r.code == "bad_request", "\(body): \(r.text)")
            }
            let huge = #"{"confirm": true, "reason": "\#(String(repeating: "x", count: 70_000))"}"#
            #expect(try await client.call(.delete, "/me", token: student, json: huge).status == .contentTooLarge)
            #expect(engine.user(id: me.id)?.isErased == false)
            let admin = try await client.login("admin", "admin-password")
            let adminID = try #require(engine.user(studentID: "admin")?.id)
            let own = try await client.call(.delete, "/me", token: admin, json: #"{"confirm": true}"#)
            #expect(own.status == .conflict && own.code == "invalid_state", "\(own.text)")
            let ownByID = try await client.call(
                .delete, "/admin/users/\(adminID)", token: admin, json: #"{"confirm": true, "reason": "x"}"#)
            #expect(ownByID.status == .conflict, "\(ownByID.text)")
            let noReason = try await client.call(.delete, "/admin/users/3", token: admin, json: #"{"confirm": true}"#)
            #expect(noReason.status == .badRequest, "\(noReason.text)")
            // The body is checked before the account is looked up.
            let unknown = try await client.call(.delete, "/admin/users/99999", token: admin, json: "{}")
            #expect(unknown.code == "confirmation_required", "\(unknown.text)")
            let other = try await client.login("S2021006")
            #expect(
                try await client.call(
                    .delete, "/admin/users/3", token: other, json: #"{"confirm": true, "reason": "x"}"#
                ).status == .forbidden)
            #expect(
                try await client.call(
                    .delete, "/admin/users/999", token: admin, json: #"{"confirm": true, "reason": "x"}"#
                ).status == .notFound)

            let erased = try await client.call(.delete, "/me", token: student, json: #"{"confirm": true}"#)
            #expect(erased.status == .ok && erased.json["erased"] as? Bool == true, "\(erased.text)")
            #expect(erased.json["user_id"] as? Int == Int(me.id))
            #expect(try await client.call(.get, "/auth/me", token: student).status == .unauthorized)
            #expect(
                try await client.call(.delete, "/me", token: student, json: #"{"confirm": true}"#).status
                    == .unauthorized)
            let again = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021005","password":"password123"}"#)
            #expect(again.status == .unauthorized, "\(again.text)")
            // Nothing is set on it again: no booking on its behalf, no groups, no password, no enabling.
            for (method, path, body) in [
                (
                    HTTPRequest.Method.post, "/reservations",
                    #"{"seat_id": 3, "start_time": "\#(iso(t0 + 7_200))", "end_time": "\#(iso(t0 + 10_800))", "user_id": \#(me.id)}"#
                ),
                (.put, "/admin/users/\(me.id)/groups", #"{"groups": ["x"]}"#),
                (.post, "/admin/users/\(me.id)/password", #"{"password": "another-password"}"#),
                (.post, "/admin/users/\(me.id)/enable", nil),
            ] {
                let r = try await client.call(method, path, token: admin, json: body)
                #expect(r.status == .notFound, "\(path): \(r.text)")
            }
            #expect(engine.user(id: me.id)?.disabled == true && engine.assignedGroups(of: me.id).isEmpty)
            // Staff see the account as erased, and cannot erase it again.
            let shown = try await client.call(.get, "/admin/users/\(me.id)", token: admin)
            #expect(shown.json["student_id"] as? String == "~erased-\(me.id)" && shown.json["name"] as? String == "")
            let twice = try await client.call(
                .delete, "/admin/users/\(me.id)", token: admin, json: #"{"confirm": true, "reason": "x"}"#)
            #expect(twice.status.code == 400 || twice.status.code == 409, "\(twice.text)")
            // Nobody can take the erased account's student id, and the real one is free again.
            let taken = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"~erased-\#(me.id)","password":"a-long-password"}"#)
            #expect(taken.status == .badRequest, "\(taken.text)")
        }
    }
}
