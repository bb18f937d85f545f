import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

/// The catalog as CSV: the sample library in `docs/`, line-numbered errors that change nothing,
/// and an export that imports back to the same catalog.
@Suite struct CatalogCSVTests {
    static let sample: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/sample-library.csv")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

    @Test func theSampleLibraryParses() throws {
        let rows = try CatalogCSV.parse(Self.sample)
        #expect(rows.count == 300)
        #expect(rows[0].area == "Ground Floor, Reading Room" && rows[0].label == "G-001" && rows[0].line == 2)
        #expect(Set(rows.map(\.branch)) == ["Central Library", "Law Library"])
        #expect(rows.last?.line == 301)
    }

    @Test func problemsNameTheirLinesAndQuotedLineBreaksCount() {
        let text = """
            branch,area,seat_label,has_power,has_monitor,accessible,x,y
            Main,A,S-1,true,false,false,,
            Main,"Reading
            Room",S-2,true,false,false,,
            Main,A,S-3,maybe,false,false,,
            Main,A,S-1,true,false,false,,
            Main,A,S-4,true,false,false,20000,
            Main,A,,true,false,false,,
            Main,A,S-5,true,false,false,1,2,3
            """
        do {
            _ = try CatalogCSV.parse(text)
            Issue.record("a bad file was accepted")
        } catch {
            #expect(error.lines.count == 6, "\(error.lines)")
            #expect(error.lines[0].hasPrefix("line 3: area must not contain control"))
            #expect(error.lines[1].hasPrefix("line 5: has_power must be true or false"))
            #expect(error.lines[2].hasPrefix("line 6: seat 'S-1' of Main is on line 2 already"))
            #expect(error.lines[3].hasPrefix("line 7: x must be empty or 0…10000"))
            #expect(error.lines[4].hasPrefix("line 8: seat_label is required"))
            #expect(error.lines[5].hasPrefix("line 9: 9 fields"))
        }
        #expect(throws: CatalogCSV.Problems.self) { try CatalogCSV.parse("name,area\nx,y\n") }
        #expect(throws: CatalogCSV.Problems.self) { try CatalogCSV.parse("") }
    }

    /// More than a branch's areas, or two imports at once: nothing half-applied, no seat twice.
    @Test func importsAreWholeAndOneAtATime() async throws {
        try await withService(Configure { $0.demoData = false }) { client, service, _ in
            let admin = try await client.login("admin", "admin-password")
            let header = "branch,area,seat_label,has_power,has_monitor,accessible,x,y\r\n"
            // 4,096 seats in 100 areas (a whole batch), then 101 more areas: 201 in all.
            var tooMany = header
            for i in 0..<4_096 { tooMany += "Areas Branch,A\(i % 100),L-\(i),true,false,false,,\r\n" }
            for i in 0..<101 { tooMany += "Areas Branch,B\(i),M-\(i),true,false,false,,\r\n" }
            let refused = try await client.execute(
                uri: "/admin/catalog.csv", method: .post,
                headers: [.authorization: "Bearer \(admin)", .contentType: "text/csv"],
                body: ByteBuffer(string: tooMany))
            #expect(refused.status == .badRequest, "\(String(buffer: refused.body))")
            #expect(service.engine.branch(named: "Areas Branch") == nil)
            // The same new rows twice at once: created once.
            var rows = header
            for i in 0..<5_000 { rows += "Race Branch,Hall,R-\(i),false,false,false,,\r\n" }
            let body = rows
            let outcomes = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        let r = try await client.execute(
                            uri: "/admin/catalog.csv", method: .post,
                            headers: [.authorization: "Bearer \(admin)", .contentType: "text/csv"],
                            body: ByteBuffer(string: body))
                        let reply = Reply(status: r.status, headers: r.headers, text: String(buffer: r.body))
                        return reply.json["seats_created"] as? Int ?? -1
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(outcomes.sorted() == [0, 5_000])
            let seats = await service.engine.searchSeats(SeatFilter(branch: "Race Branch"))
            #expect(seats.count == 5_000 && Set(seats.map(\.seat.label)).count == 5_000)
        }
    }

    @Test func uploadDownloadAndRoundTrip() async throws {
        try await withService(Configure { $0.demoData = false }) { client, service, _ in
            let admin = try await client.login("admin", "admin-password")
            let upload = try await client.execute(
                uri: "/admin/catalog.csv", method: .post,
                headers: [.authorization: "Bearer \(admin)", .contentType: "text/csv"],
                body: ByteBuffer(string: Self.sample))
            #expect(upload.status == .ok, "\(String(buffer: upload.body))")
            let outcome = Reply(status: upload.status, headers: upload.headers, text: String(buffer: upload.body))
            #expect(outcome.json["seats_created"] as? Int == 300 && outcome.json["branches_created"] as? Int == 2)
            let law = service.engine.branch(named: "Law Library")
            #expect(law?.areas == ["Main Hall", "Carrels"])
            let accessible = try await client.call(
                .get, "/seats?branch=Central%20Library&accessible=true&available_only=false", token: admin)
            let expected = try CatalogCSV.parse(Self.sample).filter { $0.branch == "Central Library" && $0.accessible }
            #expect(accessible.json["count"] as? Int == expected.count)

            // The same file again changes nothing but updates in place.
            let again = try await client.execute(
                uri: "/admin/catalog.csv", method: .post, headers: [.authorization: "Bearer \(admin)"],
                body: ByteBuffer(string: Self.sample))
            let second = Reply(status: again.status, headers: again.headers, text: String(buffer: again.body))
            #expect(second.json["seats_created"] as? Int == 0 && second.json["seats_updated"] as? Int == 300)

            // The export reads back as the same rows (the seed catalog's 50 seats come first).
            let download = try await client.execute(
                uri: "/admin/catalog.csv", method: .get, headers: [.authorization: "Bearer \(admin)"])
            #expect(download.headers[.contentType] == "text/csv; charset=utf-8")
            let exported = try CatalogCSV.parse(String(buffer: download.body))
            func key(_ r: CatalogCSV.Row) -> [String] {
                [
                    r.branch, r.area, r.label, "\(r.hasPower)", "\(r.hasMonitor)", "\(r.accessible)", "\(r.x ?? -1)",
                    "\(r.y ?? -1)",
                ]
            }
            let imported = try CatalogCSV.parse(Self.sample)
            #expect(exported.count == 350)
            #expect(Set(exported.suffix(300).map(key)) == Set(imported.map(key)))

            // One bad line: 400 naming it, and nothing changes.
            let bad = Self.sample.replacingOccurrences(of: "L-007,", with: "L-007,perhaps,")
            let before = await CatalogCSV.export(service.engine)
            let refused = try await client.execute(
                uri: "/admin/catalog.csv", method: .post, headers: [.authorization: "Bearer \(admin)"],
                body: ByteBuffer(string: bad.replacingOccurrences(of: "G-001", with: "G-001-new")))
            let r = Reply(status: refused.status, headers: refused.headers, text: String(buffer: refused.body))
            #expect(r.status == .badRequest && r.code == "bad_request")
            #expect((r.json["error"] as? String)?.contains("line 218: 9 fields") == true, "\(r.text)")
            #expect(await CatalogCSV.export(service.engine) == before)
        }
    }

    /// Labels a spreadsheet would run as formulas leave every CSV neutralised (an apostrophe
    /// first), and an exported catalog imports back as it was.
    @Test func formulasAreNeutralisedAndRoundTrip() async throws {
        let labels = [#"=HYPERLINK("http://x","y")"#, "+cmd|' /C calc'!A0", "-1+2", "@SUM(A1)", "plain-1"]
        try await withService(Configure { $0.demoData = false }) { client, service, _ in
            let admin = try await client.login("admin", "admin-password")
            var csv = CatalogCSV.header.joined(separator: ",") + "\r\n"
            for label in labels {
                csv += ["=Lab", "Hall", label, "true", "false", "false", "", ""].map(CatalogCSV.quoted).joined(
                    separator: ",")
                csv += "\r\n"
            }
            let upload = try await client.execute(
                uri: "/admin/catalog.csv", method: .post, headers: [.authorization: "Bearer \(admin)"],
                body: ByteBuffer(string: csv))
            #expect(upload.status == .ok, "\(String(buffer: upload.body))")
            let exported = await CatalogCSV.export(service.engine)
            // (The seed catalog's 50 seats come first.)
            let lines = exported.components(separatedBy: "\r\n").filter { $0.contains(",Hall,") }
            #expect(lines.count == labels.count)
            for line in lines {
                // Every cell that starts like a formula starts with the apostrophe instead.
                #expect(line.hasPrefix("'=Lab,Hall,"), "\(line)")
                let label = line.dropFirst("'=Lab,Hall,".count)
                #expect(!["=", "+", "-", "@"].contains(label.first.map(String.init) ?? ""), "\(line)")
            }
            // Imported again: the same seats, nothing new, the labels as they were.
            let again = try await client.execute(
                uri: "/admin/catalog.csv", method: .post, headers: [.authorization: "Bearer \(admin)"],
                body: ByteBuffer(string: exported))
            let reply = Reply(status: again.status, headers: again.headers, text: String(buffer: again.body))
            let rows = try CatalogCSV.parse(exported)
            #expect(reply.json["seats_created"] as? Int == 0 && reply.json["seats_updated"] as? Int == rows.count)
            #expect(Set(rows.filter { $0.branch == "=Lab" }.map(\.label)) == Set(labels))
        }
    }
}
