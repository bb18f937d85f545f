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

/// `GET /public/occupancy`: off unless enabled; free and total per branch and area, nothing
/// personal; cacheable for 10 s with an ETag; CORS for the configured origins only.
@Suite struct OccupancyRouteTests {
    @Test func offUnlessEnabled() async throws {
        try await withService { client, _, _ in
            let r = try await client.call(.get, "/public/occupancy")
            #expect(r.status == .notFound && r.code == "not_found", "\(r.text)")
        }
    }

    @Test func freeAndTotalPerBranchAndAreaCachedTenSecondsWithCORS() async throws {
        let configure = Configure {
            $0.publicOccupancy = true
            $0.publicOccupancyOrigins = ["https://library.example.edu"]
        }
        try await withService(configure) { client, service, clock in
            let engine = service.engine
            let first = try await client.call(.get, "/public/occupancy")
            #expect(first.status == .ok)
            #expect(first.headers[.cacheControl] == "public, max-age=10")
            let etag = try #require(first.headers[.eTag])
            let branches = try #require(first.json["branches"] as? [[String: Any]])
            // The figures are the engine's own: every seat of the catalog, free as the seat search says.
            let expected = await engine.occupancy(now: clock.now())
            #expect(branches.map { $0["name"] as? String } == expected.map(\.branch))
            for (b, e) in zip(branches, expected) {
                let areas = b["areas"] as? [[String: Any]] ?? []
                #expect(areas.map { $0["name"] as? String } == e.areas.map(\.area))
                #expect(areas.map { $0["free"] as? Int } == e.areas.map(\.free))
                #expect(b["total"] as? Int == e.areas.reduce(0) { $0 + $1.total })
            }
            let summaries = await engine.branches()
            #expect(branches.map { $0["total"] as? Int } == summaries.map(\.totalSeats))
            #expect(branches.map { $0["free"] as? Int } == summaries.map(\.availableSeats))
            // Nothing about anyone: no student ids, names, user ids or reservations.
            for word in ["S20", "user", "reservation", "student"] { #expect(!first.text.contains(word), "\(word)") }

            // A booking now: unseen for 10 s (the cached answer), then one seat fewer.
            let student = try await client.login("S2021002")
            let now = clock.now()
            let booked = try await client.call(
                .post, "/reservations", token: student, json: booking(1, now + 60, now + 3_600))
            #expect(booked.status == .created, "\(booked.text)")
            func free(_ r: Reply) -> Int {
                (r.json["branches"] as? [[String: Any]] ?? []).reduce(0) { $0 + ($1["free"] as? Int ?? 0) }
            }
            clock.advance(by: 5)
            let cached = try await client.call(.get, "/public/occupancy", headers: [.ifNoneMatch: etag])
            #expect(cached.status == .notModified, "within 10 s the answer made before")
            clock.advance(by: 115)
            let fresh = try await client.call(.get, "/public/occupancy", headers: [.ifNoneMatch: etag])
            #expect(fresh.status == .ok && fresh.headers[.eTag] != etag, "\(fresh.status)")
            #expect(free(fresh) == free(first) - 1, "the booked seat is taken now")
            let unchanged = try await client.call(
                .get, "/public/occupancy", headers: [.ifNoneMatch: try #require(fresh.headers[.eTag])])
            #expect(unchanged.status == .notModified)

            // CORS: the configured origin, and only it.
            let allowed = try await client.call(
                .get, "/public/occupancy", headers: [.origin: "https://library.example.edu"])
            #expect(allowed.headers[.accessControlAllowOrigin] == "https://library.example.edu")
            #expect(allowed.headers[.vary]?.contains("Origin") == true)
            let other = try await client.call(.get, "/public/occupancy", headers: [.origin: "https://evil.example"])
            #expect(other.headers[.accessControlAllowOrigin] == nil && other.status == .ok)
        }
    }
}
