import DLSMSCore
import DLSMSEngine
import Foundation
import GRPCCore
import Hummingbird
import HummingbirdTesting
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP

/// The metadata `a` with the members of `b` added.
private func + (a: Metadata, b: [String: String]) -> Metadata {
    var out = a
    for (key, value) in b { out.addString(value, forKey: key) }
    return out
}

/// `GET /seats` and gRPC `GetSeats` answer pages: a limit (default and maximum
/// ``Limits/seatPageSize``), an offset or a cursor, and the total.
@Suite struct SeatPagingTests {
    /// The ids of a page's seats.
    static func ids(_ json: [String: Any]) -> [Int] {
        (json["seats"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? Int }
    }

    @Test func cursorsWalkTheWholeSearchInPages() async throws {
        try await withService { client, _, _ in
            let token = try await client.login("S2021001")
            var seen: [Int] = []
            var cursor = ""
            var pages = 0
            for _ in 0..<20 {
                let page = try await client.call(.get, "/seats?available_only=false&limit=7\(cursor)", token: token)
                #expect(page.status == .ok, "\(page.text)")
                let ids = Self.ids(page.json)
                #expect(ids.count <= 7 && page.json["count"] as? Int == ids.count && page.json["total"] as? Int == 50)
                seen += ids
                pages += 1
                guard let next = page.json["next_cursor"] as? String else { break }
                cursor = "&cursor=" + next
            }
            #expect(seen == Array(1...50) && pages == 8)

            // An offset skips that many matches (after the cursor, when there is one).
            let tail = try await client.call(.get, "/seats?available_only=false&limit=7&offset=45", token: token)
            #expect(Self.ids(tail.json) == Array(46...50) && tail.json["next_cursor"] is NSNull)
            let later = try await client.call(
                .get, "/seats?available_only=false&limit=3&offset=2&cursor=10", token: token)
            #expect(Self.ids(later.json) == [13, 14, 15] && later.json["next_cursor"] as? String == "15")
            let past = try await client.call(.get, "/seats?available_only=false&offset=50", token: token)
            #expect(Self.ids(past.json).isEmpty && past.json["total"] as? Int == 50)
            // Filters and the window count the same way: 47 bookable seats in that hour.
            let window = try await client.call(
                .get, "/seats?limit=5&start_time=\(iso(t0 + 3_600))&end_time=\(iso(t0 + 7_200))", token: token)
            #expect(Self.ids(window.json) == [2, 3, 4, 5, 6] && window.json["total"] as? Int == 47)
        }
    }

    @Test func aCursorHoldsItsPlaceAcrossNewSeats() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let first = try await client.call(.get, "/seats?available_only=false&limit=30", token: admin)
            let cursor = try #require(first.json["next_cursor"] as? String)
            #expect(cursor == "30")
            // Seats added meanwhile, before and after the cursor: the walk neither repeats nor skips.
            for body in [
                #"{"branch": "Main Library", "area": "Silent Study Zone"}"#,
                #"{"branch": "Science Library", "area": "Reading Room"}"#,
            ] {
                let made = try await client.call(.post, "/admin/seats", token: admin, json: body)
                #expect(made.status == .created, "\(made.text)")
            }
            let rest = try await client.call(
                .get, "/seats?available_only=false&limit=30&cursor=\(cursor)", token: admin)
            #expect(Self.ids(rest.json) == Array(31...52) && rest.json["total"] as? Int == 52)
            #expect(rest.json["next_cursor"] is NSNull)
        }
    }

    @Test func theDefaultPageIsTheMaximumAndIdsPickSeats() async throws {
        try await withService(Configure { $0.app.limits.seatPageSize = 20 }) { client, _, _ in
            let token = try await client.login("S2021002")
            let page = try await client.call(.get, "/seats?available_only=false", token: token)
            #expect(Self.ids(page.json) == Array(1...20) && page.json["total"] as? Int == 50)
            #expect(page.json["next_cursor"] as? String == "20")
            let picked = try await client.call(.get, "/seats?available_only=false&ids=40,3,1,3", token: token)
            #expect(Self.ids(picked.json) == [1, 3, 40] && picked.json["total"] as? Int == 3)
            // Other filters still apply to the seats picked: seat 40 is not in the Main Library.
            let main = try await client.call(
                .get, "/seats?available_only=false&ids=40,3&branch=Main%20Library", token: token)
            #expect(Self.ids(main.json) == [3])
            let tooMany = (1...21).map(String.init).joined(separator: ",")
            for bad in [
                "limit=0", "limit=21", "limit=ten", "offset=-1", "offset=99999999999", "cursor=abc", "cursor=-5",
                "ids=1,x", "ids=", "ids=0", "ids=\(tooMany)",
            ] {
                let r = try await client.call(.get, "/seats?\(bad)", token: token)
                #expect(r.status == .badRequest && r.json["code"] as? String == "bad_request", "\(bad): \(r.text)")
            }
        }
    }

    @Test func branchesArePagedToo() async throws {
        try await withService { client, _, _ in
            let token = try await client.login("S2021003")
            let page = try await client.call(.get, "/branches?limit=2&offset=1", token: token)
            let names = (page.json["branches"] as? [[String: Any]] ?? []).compactMap { $0["branch"] as? String }
            #expect(names == ["Science Library", "Engineering Library"])
            #expect(page.json["count"] as? Int == 2 && page.json["total"] as? Int == 3)
            let all = try await client.call(.get, "/branches", token: token)
            #expect(all.json["count"] as? Int == 3 && all.json["total"] as? Int == 3)
            for bad in ["limit=0", "limit=1001", "offset=-2"] {
                let r = try await client.call(.get, "/branches?\(bad)", token: token)
                #expect(r.status == .badRequest && r.json["code"] as? String == "bad_request", "\(bad): \(r.text)")
            }
        }
    }

    @Test func adminPagesHoldAtMostTheServedSize() async throws {
        try await withService(Configure { $0.app.limits.adminPageServed = 3 }) { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            // A limit up to the accepted maximum is fine, and served as the page size: a client
            // pages by count and total.
            for path in ["/admin/users?limit=10000", "/reservations?limit=10000"] {
                let page = try await client.call(.get, path, token: admin)
                #expect(page.status == .ok && page.json["count"] as? Int == 3, "\(path): \(page.text)")
                #expect((page.json["total"] as? Int ?? 0) > 3)
            }
            let users = try await client.call(.get, "/admin/users?limit=2&offset=9", token: admin)
            #expect(users.json["count"] as? Int == 2)
        }
    }

    /// A page ends before its limit when its answer would pass the byte bound; the cursor (or
    /// count and total) carries on from there.
    @Test func pagesStayWithinTheirBytes() async throws {
        try await withService(Configure { $0.app.limits.answerBytes = 1_000 }) { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            var seen: [Int] = []
            var cursor = ""
            for _ in 0..<60 {
                let page = try await client.call(.get, "/seats?available_only=false\(cursor)", token: admin)
                #expect(page.text.utf8.count <= 1_000 && page.json["total"] as? Int == 50)
                let ids = Self.ids(page.json)
                #expect(!ids.isEmpty && ids.count < 50)
                seen += ids
                guard let next = page.json["next_cursor"] as? String else { break }
                cursor = "&cursor=" + next
            }
            #expect(seen == Array(1...50))
            let users = try await client.call(.get, "/admin/users?limit=100", token: admin)
            #expect(users.text.utf8.count <= 1_000 && (users.json["count"] as? Int ?? 0) < 11)
            #expect(users.json["total"] as? Int == 11)
            let branches = try await client.call(.get, "/branches", token: admin)
            let listed = (branches.json["branches"] as? [Any] ?? []).count  // at least one, however long
            #expect(listed >= 1 && listed < 3 && branches.json["count"] as? Int == listed)
            #expect(branches.json["total"] as? Int == 3)
            // An id beyond any account's is simply not found.
            let none = try await client.call(.get, "/admin/users?ids=2147483648,9223372036854775807", token: admin)
            #expect(none.status == .ok && none.json["total"] as? Int == 0)
        }
    }

    @Test func grpcPagesThroughMetadata() async throws {
        try await withGRPC { g, _, _ in
            let token = try await g.token("S2021004")
            let (first, total, next) = try await g.seats.getSeats(.init(), metadata: token + ["dlsms-limit": "10"]) {
                response in
                (
                    try response.message, response.metadata[stringValues: "dlsms-total"].first { _ in true },
                    response.metadata[stringValues: "dlsms-next-cursor"].first { _ in true }
                )
            }
            #expect(first.seats.map(\.id) == Array(1...10) && first.count == 10 && total == "50" && next == "10")
            let (last, lastNext) = try await g.seats.getSeats(
                .init(), metadata: token + ["dlsms-limit": "10", "dlsms-cursor": "45"]
            ) { response in
                (try response.message, response.metadata[stringValues: "dlsms-next-cursor"].first { _ in true })
            }
            #expect(last.seats.map(\.id) == Array(46...50) && last.count == 5 && lastNext == nil)
            for (key, value) in [("dlsms-limit", "0"), ("dlsms-limit", "1001"), ("dlsms-cursor", "x")] {
                let bad = token + [key: value]
                #expect(await status { _ = try await g.seats.getSeats(.init(), metadata: bad) } == .invalidArgument)
            }
        }
    }
}
