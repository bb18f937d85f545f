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

/// `GET /public/display/{branch}[/{area}]`, the data of the display at a library's entrance, and
/// staff's switch for it.
@Suite struct DisplayRouteTests {
    @Test func freeNowAndForTheNextHourPerSeatWithoutAnythingPersonal() async throws {
        try await withService { client, service, clock in
            let engine = service.engine
            let main = try #require(engine.branch(named: "Main Library"))
            let first = try await client.call(.get, "/public/display/Main%20Library")
            #expect(first.status == .ok, "\(first.text)")
            let seats = try #require(first.json["seats"] as? [[String: Any]])
            let branchSeats = await engine.branches().first { $0.branch.name == "Main Library" }?.totalSeats
            #expect(seats.count == branchSeats && first.json["total"] as? Int == branchSeats)
            #expect(first.json["free_now"] as? Int == seats.filter { $0["free_now"] as? Bool == true }.count)
            #expect((first.json["areas"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == main.areas)
            for word in ["S20", "user", "student", "reservation", "name\":\"A"] {
                #expect(!first.text.contains(word), "\(word)")
            }
            let etag = try #require(first.headers[.eTag])
            #expect(
                try await client.call(.get, "/public/display/Main%20Library", headers: [.ifNoneMatch: etag]).status
                    == .notModified)

            // A seat booked from in 30 minutes: free now, not for the next hour; then taken.
            let seat = try #require(seats.first { $0["free_next_hour"] as? Bool == true }?["id"] as? Int)
            let student = try await client.login("S2021004")
            let now = clock.now()
            let booked = try await client.call(
                .post, "/reservations", token: student, json: booking(seat, now + 1_800, now + 3_600))
            #expect(booked.status == .created, "\(booked.text)")
            let soon = try await client.call(.get, "/public/display/Main%20Library", headers: [.ifNoneMatch: etag])
            #expect(soon.status == .ok)
            let mine = (soon.json["seats"] as? [[String: Any]])?.first { $0["id"] as? Int == seat }
            #expect(
                mine?["free_now"] as? Bool == true && mine?["free_next_hour"] as? Bool == false,
                "\(String(describing: mine))")
            clock.advance(by: 1_900)
            let later = try await client.call(.get, "/public/display/Main%20Library")
            let taken = (later.json["seats"] as? [[String: Any]])?.first { $0["id"] as? Int == seat }
            #expect(taken?["free_now"] as? Bool == false)

            // One area; an unknown area or library: 404.
            let area = try #require(main.areas.first)
            let path =
                "/public/display/Main%20Library/"
                + (area.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? area)
            let one = try await client.call(.get, path)
            #expect(
                one.status == .ok
                    && (one.json["seats"] as? [[String: Any]])?.allSatisfy { $0["area"] as? String == area } == true)
            #expect(try await client.call(.get, "/public/display/Main%20Library/Nowhere").status == .notFound)
            #expect(try await client.call(.get, "/public/display/Nowhere").status == .notFound)
        }
    }

    @Test func staffTurnADisplayOffAndOn() async throws {
        try await withService { client, service, _ in
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021004")
            let body = #"{"enabled": false}"#
            #expect(
                try await client.call(.put, "/admin/branches/Main%20Library/display", token: student, json: body).status
                    == .forbidden)
            let off = try await client.call(.put, "/admin/branches/Main%20Library/display", token: admin, json: body)
            #expect(off.status == .ok && off.json["display_enabled"] as? Bool == false, "\(off.text)")
            #expect(try await client.call(.get, "/public/display/Main%20Library").status == .notFound)
            #expect(service.engine.audit.all.last?.kind == "branch.display")
            #expect(
                try await client.call(.put, "/admin/branches/Main%20Library/display", token: admin, json: "{}").status
                    == .badRequest)
            let on = try await client.call(
                .put, "/admin/branches/Main%20Library/display", token: admin, json: #"{"enabled": true}"#)
            #expect(on.status == .ok && on.json["display_enabled"] as? Bool == true)
            #expect(try await client.call(.get, "/public/display/Main%20Library").status == .ok)
        }
    }
}
