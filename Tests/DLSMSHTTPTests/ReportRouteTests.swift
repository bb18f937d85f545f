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

/// `GET /admin/reports/utilisation` (JSON, CSV) and `GET /admin/reservations.csv`, cross-checked
/// against `GET /reservations`.
@Suite struct ReportRouteTests {
    @Test func theReportAgreesWithTheReservationListing() async throws {
        try await withService { client, _, clock in
            let admin = try await client.login("admin", "admin-password")
            // Some activity on top of the seed data: bookings, a cancellation, a check-in.
            for (n, seat) in [(1, 3), (2, 4), (3, 16), (4, 27), (5, 40)] {
                let token = try await client.login("S202100\(n + 4 > 9 ? 9 : n + 4)")
                let start = t0 + Int64(n) * 3_600
                let r = try await client.call(
                    .post, "/reservations", token: token, json: booking(seat, start, start + 5_400))
                #expect(r.status == .created, "\(r.text)")
                if n == 2 {
                    _ = try await client.call(.delete, "/reservations/\(r.json["id"] as? Int ?? 0)", token: token)
                }
            }
            clock.advance(by: 1_800)
            let from = t0 - 4 * 86_400
            let to = t0 + 3 * 86_400
            let now = clock.now()

            // What GET /reservations says, summed by hand.
            let list = try await client.call(.get, "/reservations?limit=10000", token: admin)
            let all = list.json["reservations"] as? [[String: Any]] ?? []
            #expect(all.count == list.json["total"] as? Int && all.count > 5)
            var booked: Int64 = 0
            var occupied: Int64 = 0
            var noShows = 0
            var cancellations = 0
            for r in all {
                let start = RFC3339.parse(r["start_time"] as? String ?? "")!
                let end = RFC3339.parse(r["end_time"] as? String ?? "")!
                let status = r["status"] as? String ?? ""
                let inRange = start >= from && start < to
                if status == "CANCELLED" && inRange { cancellations += 1 }
                if status == "NO_SHOW" && inRange { noShows += 1 }
                if ["CONFIRMED", "CHECKED_IN", "COMPLETED", "NO_SHOW"].contains(status) {
                    booked += max(0, min(end, to) - max(start, from))
                }
                if let inAt = (r["checked_in_at"] as? String).flatMap(RFC3339.parse),
                    status == "CHECKED_IN" || status == "COMPLETED"
                {
                    let stop = status == "CHECKED_IN" ? min(end, now) : end
                    occupied += max(0, min(stop, to) - max(max(inAt, start), from))
                }
            }
            #expect(cancellations >= 1 && noShows >= 1 && occupied > 0)

            let query = "from=\(iso(from))&to=\(iso(to))"
            let report = try await client.call(.get, "/admin/reports/utilisation?\(query)", token: admin)
            #expect(report.status == .ok, "\(report.text)")
            let buckets = report.json["buckets"] as? [[String: Any]] ?? []
            func sum(_ key: String) -> Int64 { buckets.reduce(0) { $0 + Int64($1[key] as? Int ?? 0) } }
            #expect(sum("booked_seconds") == booked)
            #expect(sum("occupied_seconds") == occupied)
            #expect(sum("no_shows") == Int64(noShows))
            #expect(sum("cancellations") == Int64(cancellations))
            let heat = (report.json["heatmap"] as? [[String: Any]] ?? []).reduce(Int64(0)) {
                $0 + Int64($1["booked_seconds"] as? Int ?? 0)
            }
            #expect(heat == booked)

            // The same as CSV (by format= and by Accept), one line per bucket.
            let csv = try await client.call(.get, "/admin/reports/utilisation?\(query)&format=csv", token: admin)
            #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let lines = csv.text.split(separator: "\r\n")
            #expect(lines.first == "branch,area,bucket_start,booked_hours,occupied_hours,no_shows,cancellations")
            #expect(lines.count == buckets.count + 1)
            let accepted = try await client.call(
                .get, "/admin/reports/utilisation?\(query)", token: admin, headers: [.accept: "text/csv"])
            #expect(accepted.text == csv.text)
            // Hourly buckets hold the same totals.
            let hourly = try await client.call(
                .get, "/admin/reports/utilisation?\(query)&granularity=hour&branch=Main%20Library", token: admin)
            let mainDaily = buckets.filter { $0["branch"] as? String == "Main Library" }
            let hb = hourly.json["buckets"] as? [[String: Any]] ?? []
            #expect(
                hb.reduce(0) { $0 + ($1["booked_seconds"] as? Int ?? 0) }
                    == mainDaily.reduce(0) { $0 + ($1["booked_seconds"] as? Int ?? 0) })
        }
    }

    @Test func theReservationExportMatchesTheListing() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let csv = try await client.call(.get, "/admin/reservations.csv", token: admin)
            #expect(csv.status == .ok && csv.headers[.contentType]?.hasPrefix("text/csv") == true)
            let lines = csv.text.split(separator: "\r\n")
            #expect(lines.first == "id,seat_id,user_id,start_time,end_time,status,created_at,checked_in_at")
            let listed = try await client.call(.get, "/reservations?limit=10000", token: admin)
            let items = listed.json["reservations"] as? [[String: Any]] ?? []
            let ids = Set(lines.dropFirst().map { Int($0.split(separator: ",").first ?? "") ?? -1 })
            #expect(ids == Set(items.compactMap { $0["id"] as? Int }))
            // The filters of GET /reservations.
            let confirmed = try await client.call(.get, "/admin/reservations.csv?status=CONFIRMED", token: admin)
            let rows = confirmed.text.split(separator: "\r\n").dropFirst()
            #expect(!rows.isEmpty && rows.allSatisfy { $0.contains(",CONFIRMED,") })
            #expect(rows.allSatisfy { $0.hasSuffix(",") })  // not checked in: an empty last field
            let seat = try await client.call(.get, "/admin/reservations.csv?seat_id=26", token: admin)
            #expect(seat.text.split(separator: "\r\n").dropFirst().allSatisfy { $0.split(separator: ",")[1] == "26" })
        }
    }

    @Test func badReportRequestsGetClearErrors() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021001")
            let path = "/admin/reports/utilisation"
            #expect(try await client.call(.get, path).status == .unauthorized)
            #expect(try await client.call(.get, path, token: student).status == .forbidden)
            #expect(try await client.call(.get, "/admin/reservations.csv", token: student).status == .forbidden)
            let cases: [(String, HTTPResponse.Status, String)] = [
                ("?granularity=week", .badRequest, "bad_request"),
                ("?format=xml", .badRequest, "bad_request"),
                ("?from=yesterday", .badRequest, "bad_request"),
                ("?from=\(iso(t0))&to=\(iso(t0))", .badRequest, "invalid_time_range"),
                ("?from=\(iso(t0))&to=\(iso(t0 + 400 * 86_400))", .badRequest, "bad_request"),
                ("?from=0001-01-01T00:00:00Z&to=9999-12-31T00:00:00Z", .badRequest, "bad_request"),
                ("?branch=Nowhere", .notFound, "not_found"),
            ]
            for (query, status, code) in cases {
                let r = try await client.call(.get, path + query, token: admin)
                #expect(r.status == status && r.code == code, "\(query): \(r.text)")
            }
            // A name a spreadsheet would run as a formula is defused in the CSV.
            #expect(
                try await client.call(
                    .post, "/admin/branches", token: admin, json: #"{"name": "=HYPERLINK(1)", "areas": ["@A"]}"#
                ).status == .created)
            _ = try await client.call(
                .post, "/admin/seats", token: admin, json: #"{"branch": "=HYPERLINK(1)", "area": "@A", "id": 500}"#)
            _ = try await client.call(
                .post, "/reservations", token: student, json: booking(500, t0 + 3_600, t0 + 7_200))
            let csv = try await client.call(
                .get, "\(path)?branch=%3DHYPERLINK(1)&format=csv&from=\(iso(t0))&to=\(iso(t0 + 86_400))", token: admin)
            #expect(csv.text.contains("\r\n'=HYPERLINK(1),'@A,"), "\(csv.text)")
            let bad = try await client.call(.get, "/admin/reservations.csv?status=LOST", token: admin)
            #expect(bad.status == .badRequest && bad.code == "bad_request")
        }
    }
}
