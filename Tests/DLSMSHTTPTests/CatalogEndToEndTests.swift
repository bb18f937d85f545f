import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Foundation
import Testing

/// The catalog for real: `dlsms catalog import/export` on a data directory, and catalog changes
/// that survive `kill -9`.
@Suite struct CatalogEndToEndTests {
    static let samplePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("docs/sample-library.csv").path

    @Test func offlineImportAndExport() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let data = dir + "/data"
        let server = try ServerProcess(dataDirectory: data, extra: ["--demo-data", "false"])
        try await server.waitUntilListening()
        // While the server runs, the import is refused (the lock); the export only reads.
        let busy = try await runDLSMS(["catalog", "import", Self.samplePath, "--data-dir", data])
        #expect(busy.status != 0 && busy.error.contains("in use by process"), "\(busy)")
        #expect(await server.stopped() == 0)

        // A file with a wrong line: nothing imported, the line named.
        let bad = dir + "/bad.csv"
        let text = try String(contentsOfFile: Self.samplePath, encoding: .utf8)
        try text.replacingOccurrences(of: "C-010,true", with: "C-010,sometimes").write(
            toFile: bad, atomically: true, encoding: .utf8)
        let refused = try await runDLSMS(["catalog", "import", bad, "--data-dir", data])
        #expect(
            refused.status != 0 && refused.error.contains("line 281: has_power must be true or false"), "\(refused)")
        #expect(
            try await runDLSMS(["catalog", "export", "--data-dir", data]).output.split(separator: "\r\n").count == 51)

        let imported = try await runDLSMS(["catalog", "import", Self.samplePath, "--data-dir", data])
        #expect(imported.status == 0 && imported.output.contains("2 branches and 300 seats created"), "\(imported)")
        let exported = try await runDLSMS(["catalog", "export", "--data-dir", data, "-o", dir + "/out.csv"])
        #expect(exported.status == 0)
        let rows = try CatalogCSV.parse(try String(contentsOfFile: dir + "/out.csv", encoding: .utf8))
        #expect(rows.count == 350 && rows.filter { $0.branch == "Law Library" }.count == 90)
        // The snapshot tool sees the new branches too.
        let snapshot = try await runDLSMS(["snapshot", "export", "--data-dir", data])
        #expect(
            snapshot.output.contains("Law Library") && snapshot.output.contains("Central Library"), "\(snapshot.error)")
        #expect(snapshot.output.contains(#""label" : "C-010""#) && snapshot.output.contains(#""retired" : false"#))
    }

    @Test func catalogChangesSurviveKillDashNine() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let data = dir + "/data"
        var server = try ServerProcess(dataDirectory: data)
        try await server.waitUntilListening()
        let admin = try await server.login("admin", "admin-password")
        #expect(
            try await server.request(
                "POST", "/admin/branches", token: admin,
                json: #"{"name": "Night Owl", "areas": ["Loft"], "time_zone": "Europe/Berlin"}"#
            ).0 == 201)
        let (status, seat) = try await server.request(
            "POST", "/admin/seats", token: admin,
            json: #"{"branch": "Night Owl", "area": "Loft", "label": "N-1", "accessible": true, "x": 2, "y": 5}"#)
        #expect(status == 201)
        #expect(try await server.request("DELETE", "/admin/seats/7", token: admin).0 == 200)
        // A closure of an area for the coming hours, with a booking inside it.
        let student = try await server.login("S2021009")
        let soon = Timestamp(Date().timeIntervalSince1970) / 3_600 * 3_600 + 2 * 3_600
        let (booked, held) = try await server.request(
            "POST", "/reservations", token: student, json: booking(20, soon, soon + 3_600))
        #expect(booked == 201, "\(held)")
        let (closed, closure) = try await server.request(
            "POST", "/admin/branches/Main%20Library/closures", token: admin,
            json:
                #"{"area": "Group Study Zone", "start_time": "\#(RFC3339.format(soon - 3_600))", "end_time": "\#(RFC3339.format(soon + 3 * 3_600))", "reason": "exam"}"#
        )
        #expect(closed == 201, "\(closure)")
        #expect((closure["cancelled"] as? [[String: Any]])?.map { $0["id"] as? Int } == [held["id"] as? Int])
        server.child.signal(SIGKILL)
        _ = await server.child.waitForExit(timeout: 30)

        server = try ServerProcess(dataDirectory: data)
        try await server.waitUntilListening()
        let (_, back) = try await server.request("GET", "/seats/\(seat["id"] as? Int ?? 0)", token: admin)
        #expect(back["label"] as? String == "N-1" && back["accessible"] as? Bool == true && back["y"] as? Int == 5)
        #expect(try await server.request("GET", "/seats/7", token: admin).0 == 404)
        let (_, branches) = try await server.request("GET", "/branches", token: admin)
        let night = (branches["branches"] as? [[String: Any]])?.first { $0["branch"] as? String == "Night Owl" }
        #expect(night?["time_zone"] as? String == "Europe/Berlin" && night?["areas"] as? [String] == ["Loft"])
        // The closure is back, its cancellation too, and it still refuses bookings.
        let (_, listed) = try await server.request("GET", "/branches/Main%20Library/closures", token: student)
        let closures = listed["closures"] as? [[String: Any]]
        #expect(closures?.count == 1 && closures?.first?["reason"] as? String == "exam", "\(listed)")
        let (_, mine) = try await server.request("GET", "/reservations/\(held["id"] as? Int ?? 0)", token: student)
        #expect(mine["status"] as? String == "CANCELLED")
        let (refused, why) = try await server.request(
            "POST", "/reservations", token: student, json: booking(21, soon, soon + 3_600))
        #expect(refused == 409 && why["code"] as? String == "closed", "\(why)")
        #expect(await server.stopped() == 0)
        let snapshot = try await runDLSMS(["snapshot", "export", "--data-dir", data])
        #expect(snapshot.output.contains(#""reason" : "exam""#), "\(snapshot.error)")
    }
}
