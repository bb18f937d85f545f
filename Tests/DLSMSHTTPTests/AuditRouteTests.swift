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

/// The audit trail through REST: every audited action leaves exactly one entry, with its actor,
/// address and the values before and after; students' own actions leave none.
@Suite struct AuditRouteTests {
    /// Runs `action`, then checks that it added exactly one entry and that the newest is of
    /// `kind`, about `subject`, by `actor`; returns it (as the API shows it) for more checks.
    static func expectOne(
        _ client: any TestClientProtocol, _ service: LibraryService, admin: String, actor: UserID, _ kind: String,
        subject: String? = nil, _ action: () async throws -> Reply, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> [String: Any] {
        let before = service.engine.audit.count
        let reply = try await action()
        #expect(reply.status.code < 300, "\(kind): \(reply.text)", sourceLocation: sourceLocation)
        #expect(
            service.engine.audit.count == before + 1, "\(kind): \(service.engine.audit.count - before) entries",
            sourceLocation: sourceLocation)
        let list = try await client.call(.get, "/admin/audit?limit=1", token: admin)
        let entry = try #require((list.json["entries"] as? [[String: Any]])?.first, sourceLocation: sourceLocation)
        #expect(entry["kind"] as? String == kind, "\(entry)", sourceLocation: sourceLocation)
        #expect(entry["actor_id"] as? Int == Int(actor), "\(entry)", sourceLocation: sourceLocation)
        #expect(entry["address"] as? String != nil, sourceLocation: sourceLocation)
        if let subject { #expect(entry["subject"] as? String == subject, "\(entry)", sourceLocation: sourceLocation) }
        return entry
    }

    static func value(_ entry: [String: Any], _ side: String) -> [String: Any] {
        entry[side] as? [String: Any] ?? [:]
    }

    @Test func everyAuditedActionLeavesOneEntryWithItsActorAndValues() async throws {
        let backups = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: backups) }
        let configure = Configure {
            $0.backupDirectory = backups
            $0.webhooks.allowedHosts = ["127.0.0.1"]
        }
        try await withService(configure) { client, service, clock in
            let engine = service.engine
            let adminID = try #require(engine.user(studentID: "admin")?.id)
            // A staff sign-in is an entry of its own; a student's is not.
            let admin = try await client.login("admin", "admin-password")
            let signIn = try #require(engine.audit.all.last)
            #expect(engine.audit.count == 1 && signIn.kind == "staff.sign_in" && signIn.actorID == adminID)
            #expect(signIn.subject == "user:\(adminID)" && signIn.after.contains("local"))
            let count = engine.audit.count
            let student = try await client.login("S2021003")
            let studentID = try #require(engine.user(studentID: "S2021003")?.id)
            let own = try await client.call(
                .post, "/reservations", token: student, json: booking(8, t0 + 3_600, t0 + 7_200))
            #expect(
                try await client.call(.delete, "/reservations/\(own.json["id"] as? Int ?? 0)", token: student).status
                    == .ok)
            #expect(engine.audit.count == count, "a student's own actions are not audited")

            func one(_ kind: String, subject: String? = nil, _ action: () async throws -> Reply) async throws
                -> [String: Any]
            {
                try await Self.expectOne(client, service, admin: admin, actor: adminID, kind, subject: subject, action)
            }

            // Bookings on a student's behalf, moved and cancelled by staff.
            var booked = 0
            let onBehalf = try await one("reservation.booked_on_behalf") {
                let r = try await client.call(
                    .post, "/reservations", token: admin,
                    json:
                        #"{"seat_id": 9, "start_time": "\#(iso(t0 + 3_600))", "end_time": "\#(iso(t0 + 7_200))", "user_id": \#(studentID)}"#
                )
                booked = r.json["id"] as? Int ?? 0
                return r
            }
            #expect(onBehalf["subject"] as? String == "reservation:\(booked)")
            #expect(Self.value(onBehalf, "after")["user_id"] as? Int == Int(studentID))
            let moved = try await one("reservation.moved_by_staff", subject: "reservation:\(booked)") {
                try await client.call(.post, "/reservations/\(booked)/move", token: admin, json: #"{"seat_id": 10}"#)
            }
            #expect(
                Self.value(moved, "before")["seat_id"] as? Int == 9
                    && Self.value(moved, "after")["seat_id"] as? Int == 10)
            let newID = try #require(Self.value(moved, "after")["id"] as? Int)
            let cancelled = try await one("reservation.cancelled_by_staff", subject: "reservation:\(newID)") {
                try await client.call(.delete, "/reservations/\(newID)", token: admin)
            }
            #expect(Self.value(cancelled, "before")["status"] as? String == "CONFIRMED")
            #expect(Self.value(cancelled, "after")["status"] as? String == "CANCELLED")

            // The catalog: a branch, a seat, its changes, retiring it and an area, hours, release,
            // check-in settings, seat codes, a CSV import.
            _ = try await one("branch.created", subject: "branch:Audit Hall") {
                try await client.call(
                    .post, "/admin/branches", token: admin,
                    json: #"{"name": "Audit Hall", "areas": ["North", "South"]}"#)
            }
            var seatID = 0
            let created = try await one("seat.created") {
                let r = try await client.call(
                    .post, "/admin/seats", token: admin,
                    json: #"{"branch": "Audit Hall", "area": "North", "label": "N-1"}"#)
                seatID = r.json["id"] as? Int ?? 0
                return r
            }
            #expect(created["before"] is NSNull && Self.value(created, "after")["label"] as? String == "N-1")
            let changed = try await one("seat.changed", subject: "seat:\(seatID)") {
                try await client.call(.patch, "/admin/seats/\(seatID)", token: admin, json: #"{"has_power": true}"#)
            }
            #expect(Self.value(changed, "before")["has_power"] as? Bool == false)
            #expect(Self.value(changed, "after")["has_power"] as? Bool == true)
            let maintenance = try await one("seat.maintenance", subject: "seat:\(seatID)") {
                try await client.call(
                    .put, "/admin/seats/\(seatID)/maintenance", token: admin, json: #"{"maintenance": true}"#)
            }
            #expect(Self.value(maintenance, "after")["maintenance"] as? Bool == true)
            let retired = try await one("seat.retired", subject: "seat:\(seatID)") {
                try await client.call(.delete, "/admin/seats/\(seatID)?reason=broken", token: admin)
            }
            #expect(retired["reason"] as? String == "broken")
            _ = try await one("area.retired", subject: "area:Audit Hall/South") {
                try await client.call(.delete, "/admin/branches/Audit%20Hall/areas/South", token: admin)
            }
            let hours = try await one("branch.hours", subject: "branch:Audit Hall") {
                try await client.call(
                    .put, "/admin/branches/Audit%20Hall/hours", token: admin,
                    json: #"{"time_zone": "Europe/Berlin", "hours": "always"}"#)
            }
            #expect(Self.value(hours, "before")["time_zone"] as? String == "UTC")
            #expect(Self.value(hours, "after")["time_zone"] as? String == "Europe/Berlin")
            let release = try await one("branch.release", subject: "branch:Audit Hall") {
                try await client.call(
                    .put, "/admin/branches/Audit%20Hall/release", token: admin,
                    json: #"{"days_before": 2, "time": "08:00"}"#)
            }
            #expect((Self.value(release, "after")["release"] as? [String: Any])?["days_before"] as? Int == 2)
            _ = try await one("branch.checkin", subject: "branch:Audit Hall") {
                try await client.call(
                    .put, "/admin/branches/Audit%20Hall/checkin", token: admin, json: #"{"presence_required": true}"#)
            }
            let display = try await one("branch.display", subject: "branch:Audit Hall") {
                try await client.call(
                    .put, "/admin/branches/Audit%20Hall/display", token: admin, json: #"{"enabled": false}"#)
            }
            #expect(Self.value(display, "before")["display_enabled"] as? Bool == true)
            #expect(Self.value(display, "after")["display_enabled"] as? Bool == false)
            let rotated = try await one("seat_codes.rotated", subject: "branch:Audit Hall") {
                try await client.call(.post, "/admin/branches/Audit%20Hall/seat-codes/rotate", token: admin)
            }
            #expect(Self.value(rotated, "after")["seat_code_generation"] as? Int == 1)
            let catalog = try await client.call(.get, "/admin/catalog.csv", token: admin).text
            _ = try await one("catalog.imported", subject: "catalog") {
                let r = try await client.execute(
                    uri: "/admin/catalog.csv", method: .post,
                    headers: [.authorization: "Bearer \(admin)", .contentType: "text/csv"],
                    body: ByteBuffer(string: catalog))
                return Reply(status: r.status, headers: r.headers, text: String(buffer: r.body))
            }

            // Closures.
            var closure = 0
            let declared = try await one("closure.created") {
                let r = try await client.call(
                    .post, "/admin/branches/Main%20Library/closures", token: admin,
                    json:
                        #"{"start_time": "\#(iso(t0 + 86_400))", "end_time": "\#(iso(t0 + 90_000))", "reason": "exam"}"#
                )
                closure = (r.json["closure"] as? [String: Any])?["id"] as? Int ?? 0
                return r
            }
            #expect(
                declared["subject"] as? String == "closure:Main Library/\(closure)"
                    && declared["reason"] as? String == "exam")
            _ = try await one("closure.changed", subject: "closure:Main Library/\(closure)") {
                try await client.call(
                    .patch, "/admin/branches/Main%20Library/closures/\(closure)", token: admin,
                    json: #"{"reason": "exams"}"#)
            }
            _ = try await one("closure.removed", subject: "closure:Main Library/\(closure)") {
                try await client.call(.delete, "/admin/branches/Main%20Library/closures/\(closure)", token: admin)
            }

            // Groups, policies, strikes, suspensions.
            let policy = try await one("group.policy_set", subject: "group:default") {
                try await client.call(
                    .put, "/admin/groups/default/policy", token: admin, json: #"{"strike_threshold": 1}"#)
            }
            #expect(policy["before"] is NSNull && Self.value(policy, "after")["strike_threshold"] as? Int == 1)
            let members = try await one("group.members_set", subject: "user:\(studentID)") {
                try await client.call(
                    .put, "/admin/users/\(studentID)/groups", token: admin, json: #"{"groups": ["night"]}"#)
            }
            #expect(Self.value(members, "before")["groups"] as? [String] == [])
            #expect(Self.value(members, "after")["groups"] as? [String] == ["night"])
            _ = try await one("group.imported", subject: "groups") {
                try await client.call(.post, "/admin/groups/import", token: admin, json: "S2021003,exam\n")
            }
            // A no-show: a strike and (threshold 1) a suspension.
            let missed = try await client.call(
                .post, "/reservations", token: student, json: booking(11, clock.now() + 300, clock.now() + 3_900))
            #expect(missed.status == .created, "\(missed.text)")
            clock.advance(by: 30 * Seconds.minute)
            _ = await engine.sweep(now: clock.now())
            let strike = try #require(engine.strikes(of: studentID).first)
            _ = try await one("suspension.lifted", subject: "user:\(studentID)") {
                try await client.call(
                    .post, "/admin/users/\(studentID)/suspension/lift", token: admin, json: #"{"reason": "ill"}"#)
            }
            let removed = try await one("strike.removed", subject: "user:\(studentID)") {
                try await client.call(.delete, "/admin/strikes/\(strike.id)", token: admin, json: #"{"reason": "ill"}"#)
            }
            #expect(Self.value(removed, "before")["removed"] as? Bool == false)
            #expect(Self.value(removed, "after")["removed"] as? Bool == true)
            _ = try await one("group.policy_removed", subject: "group:default") {
                try await client.call(.delete, "/admin/groups/default/policy", token: admin)
            }

            // Accounts.
            var newUser = 0
            _ = try await one("account.created") {
                let r = try await client.call(
                    .post, "/admin/users", token: admin,
                    json: #"{"student_id": "S9990001", "password": "a-long-password", "name": "Nia New"}"#)
                newUser = r.json["id"] as? Int ?? 0
                return r
            }
            let disabled = try await one("account.disabled", subject: "user:\(newUser)") {
                try await client.call(.post, "/admin/users/\(newUser)/disable", token: admin)
            }
            #expect(Self.value(disabled, "before")["disabled"] as? Bool == false)
            #expect(Self.value(disabled, "after")["disabled"] as? Bool == true)
            _ = try await one("account.enabled", subject: "user:\(newUser)") {
                try await client.call(.post, "/admin/users/\(newUser)/enable", token: admin)
            }
            _ = try await one("account.password_reset", subject: "user:\(newUser)") {
                try await client.call(
                    .post, "/admin/users/\(newUser)/password", token: admin, json: #"{"password": "another-password"}"#)
            }
            _ = try await one("account.sessions_revoked", subject: "user:\(newUser)") {
                try await client.call(.post, "/admin/users/\(newUser)/revoke-sessions", token: admin)
            }
            let erased = try await one("account.erased", subject: "user:\(newUser)") {
                try await client.call(
                    .delete, "/admin/users/\(newUser)", token: admin, json: #"{"confirm": true, "reason": "left"}"#)
            }
            #expect(erased["reason"] as? String == "left" && Self.value(erased, "after")["erased"] as? Bool == true)

            // Webhooks and a backup.
            var hook = 0
            _ = try await one("webhook.registered") {
                let r = try await client.call(
                    .post, "/admin/webhooks", token: admin, json: #"{"url": "http://127.0.0.1:9/hook"}"#)
                hook = r.json["id"] as? Int ?? 0
                return r
            }
            let unhooked = try await one("webhook.removed", subject: "webhook:\(hook)") {
                try await client.call(.delete, "/admin/webhooks/\(hook)", token: admin)
            }
            #expect(Self.value(unhooked, "before")["secret"] == nil, "no secret in the trail")
            _ = try await one("backup.created") { try await client.call(.post, "/admin/backup", token: admin) }

            // Every kind but the promotion (ReplicationEndToEndTests) was made; the chain holds.
            let made = Set(engine.audit.all.map(\.kind))
            #expect(
                made == Set(AuditKind.all).subtracting(["standby.promoted"]), "\(Set(AuditKind.all).subtracting(made))")
            #expect(AuditChain.verify(engine.audit.all) == nil)
            // Nothing in the trail names a student: no student id, no name.
            let trail = try await client.call(.get, "/admin/audit.csv", token: admin).text
            #expect(!trail.contains("S2021003") && !trail.contains("S9990001") && !trail.contains("Nia New"))
        }
    }

    @Test func filtersPagingCSVAndRefusals() async throws {
        try await withService { client, service, _ in
            let admin = try await client.login("admin", "admin-password")
            for id in 1...5 {
                #expect(try await client.call(.post, "/admin/users/\(id)/revoke-sessions", token: admin).status == .ok)
            }
            #expect(try await client.call(.post, "/admin/users/2/disable", token: admin).status == .ok)
            // Newest first, pages by `before`.
            let first = try await client.call(.get, "/admin/audit?limit=3", token: admin)
            let page1 = try #require(first.json["entries"] as? [[String: Any]])
            #expect(page1.compactMap { $0["seq"] as? Int } == [7, 6, 5])
            let next = try #require(first.json["next_before"] as? Int)
            let second = try await client.call(.get, "/admin/audit?limit=3&before=\(next)", token: admin)
            #expect((second.json["entries"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == [4, 3, 2])
            let last = try await client.call(.get, "/admin/audit?limit=3&before=2", token: admin)
            #expect((last.json["entries"] as? [[String: Any]])?.count == 1 && last.json["next_before"] is NSNull)
            // Filters.
            let kind = try await client.call(.get, "/admin/audit?kind=account.disabled", token: admin)
            #expect((kind.json["entries"] as? [[String: Any]])?.map { $0["subject"] as? String } == ["user:2"])
            let subject = try await client.call(.get, "/admin/audit?subject=user:2", token: admin)
            #expect((subject.json["entries"] as? [[String: Any]])?.count == 2)
            let none = try await client.call(.get, "/admin/audit?actor_id=1", token: admin)
            #expect((none.json["entries"] as? [[String: Any]])?.isEmpty == true)
            let window = try await client.call(
                .get, "/admin/audit?from=\(iso(t0 - 10))&to=\(iso(t0 + 10))", token: admin)
            #expect((window.json["entries"] as? [[String: Any]])?.count == 7)
            // Bad filters: 400 with the contract's error; students: 403; no sign-in: 401.
            for bad in [
                "kind=nope", "limit=0", "limit=201", "before=0", "before=x", "actor_id=-1", "from=yesterday",
                "from=\(iso(t0))&to=\(iso(t0))", "subject=",
            ] {
                let r = try await client.call(.get, "/admin/audit?\(bad)", token: admin)
                #expect(r.status == .badRequest && r.code == "bad_request", "\(bad): \(r.text)")
            }
            let student = try await client.login("S2021004")
            #expect(try await client.call(.get, "/admin/audit", token: student).status == .forbidden)
            #expect(try await client.call(.get, "/admin/audit.csv").status == .unauthorized)
            // No way to change or delete an entry.
            for method in [HTTPRequest.Method.delete, .put, .patch, .post] {
                let r = try await client.call(method, "/admin/audit", token: admin)
                #expect(r.status == .notFound || r.status == .methodNotAllowed, "\(method): \(r.status)")
            }
            // The CSV, oldest first, reads back into the same chain.
            let csv = try await client.call(.get, "/admin/audit.csv", token: admin)
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let parsed = try AuditCSV.parse(csv.text) { AuditChain.bytes(hex: $0) }
            #expect(parsed == service.engine.audit.all && parsed.count == 7)
            #expect(AuditChain.verify(parsed) == nil)
        }
    }
}
