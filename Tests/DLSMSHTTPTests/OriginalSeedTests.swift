import DLSMSCore
import DLSMSTestSupport
import Foundation
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSHTTP

/// The demo data is the original's: its 50 seats, row for row, as `original-seed-seats.csv` (the
/// rows of the original's `db/seed.sql`, kept beside this test) says, read back through the
/// catalog export of a freshly seeded server.
@Suite struct OriginalSeedTests {
    static let rows: [[String]] = {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("original-seed-seats.csv")
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.dropFirst()
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }()

    @Test func theFiftySeatsAreTheOriginalsRowForRow() async throws {
        #expect(Self.rows.count == 50)
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let csv = try await client.call(.get, "/admin/catalog.csv", token: admin)
            #expect(csv.status == .ok)
            // branch, area, seat_label, has_power, has_monitor, …: the seed seats in id order.
            let exported = csv.text.split(whereSeparator: \.isNewline).dropFirst()
                .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            #expect(exported.count == 50)
            for (i, row) in Self.rows.enumerated() where i < exported.count {
                let seat = exported[i]
                #expect(
                    [seat[0], seat[1], seat[3], seat[4]] == row,
                    "seat \(i + 1): exported \(seat.prefix(5)), seed.sql \(row)")
            }
        }
    }

    @Test func theAccountsAndSamplesAreTheOriginals() async throws {
        #expect(SeedData.studentNames.count == 10)
        #expect(SeedData.studentNames[4] == "Eve Adams" && SeedData.studentNames[6] == "Grace Hopper")
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let users = try await client.call(.get, "/admin/users?limit=100", token: admin)
            for (i, name) in SeedData.studentNames.enumerated() {
                #expect(users.text.contains(#""student_id":"\#(SeedData.studentID(i + 1))""#))
                #expect(users.text.contains(#""name":"\#(name)""#))
            }
            // seed.sql's upcoming five, its two completed stays and its no-show.
            let all = try await client.call(.get, "/reservations?limit=100", token: admin)
            let list = all.json["reservations"] as? [[String: Any]] ?? []
            let seen = Set(list.map { "\($0["user_id"] ?? ""):\($0["seat_id"] ?? ""):\($0["status"] ?? "")" })
            let expected: Set<String> = [
                "1:1:CONFIRMED", "2:2:CONFIRMED", "3:15:CONFIRMED", "4:26:CONFIRMED", "5:30:CONFIRMED",
                "1:5:COMPLETED", "2:10:COMPLETED", "3:20:NO_SHOW",
            ]
            #expect(seen == expected)
        }
    }
}
