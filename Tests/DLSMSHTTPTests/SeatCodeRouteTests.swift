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

/// Seat QR codes: making them, checking in with them, forging, rotating, presence-only branches.
@Suite struct SeatCodeRouteTests {
    static let zbarAvailable = peerAvailable(programs: ["/usr/bin/zbarimg", "/usr/bin/rsvg-convert"])

    func code(_ client: some TestClientProtocol, _ admin: String, seat: Int) async throws -> String {
        let r = try await client.call(.get, "/admin/seats/\(seat)/checkin-code", token: admin)
        #expect(r.status == .ok, "\(r.text)")
        return try #require(r.json["url"] as? String)
    }

    func path(_ url: String) -> String { String(url[url.range(of: "/checkin/")!.lowerBound...]) }

    @Test func scanningTheSeatsCodeChecksInTheCallersOwnReservation() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let url = try await code(client, admin, seat: 17)
            #expect(url.hasPrefix("http://127.0.0.1:") && url.contains("/checkin/"))
            let me = try await client.login("S2021006")
            let booked = try await client.call(.post, "/reservations", token: me, json: booking(17, t0, t0 + 3_600))
            #expect(booked.status == .created)

            // Someone else scanning it: they hold nothing there.
            let other = try await client.login("S2021007")
            let theirs = try await client.call(.post, path(url), token: other)
            #expect(theirs.status == .badRequest && theirs.code == "invalid_state", "\(theirs.text)")
            #expect(try await client.call(.post, path(url)).status == .unauthorized)

            let scanned = try await client.call(.post, path(url), token: me)
            #expect(scanned.status == .ok, "\(scanned.text)")
            #expect(
                scanned.json["status"] as? String == "CHECKED_IN"
                    && scanned.json["id"] as? Int == booked.json["id"] as? Int)
            let twice = try await client.call(.post, path(url), token: me)
            #expect(twice.status == .badRequest && twice.code == "invalid_state")

            // A reservation whose window has not opened: the window's error.
            let later = try await client.call(
                .post, "/reservations", token: other, json: booking(18, t0 + 7_200, t0 + 10_800))
            #expect(later.status == .created)
            let early = try await client.call(.post, path(try await code(client, admin, seat: 18)), token: other)
            #expect(early.status == .badRequest && early.code == "checkin_window", "\(early.text)")
        }
    }

    @Test func forgedOtherAndRotatedCodesAreRefused() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let student = try await client.login("S2021006")
            _ = try await client.call(.post, "/reservations", token: student, json: booking(5, t0, t0 + 3_600))
            let five = path(try await code(client, admin, seat: 5))
            let six = path(try await code(client, admin, seat: 6))
            let token5 = String(five.dropFirst("/checkin/".count))
            let token6 = String(six.dropFirst("/checkin/".count))
            // Seat 5's id with seat 6's MAC, one changed character, wrong lengths and alphabets.
            var bytes6 = try #require(Base64URL.decode(token6, count: 16))
            bytes6[3] = 5
            var changed = Array(token5.utf8)
            changed[10] = changed[10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
            for bad in [
                Base64URL.encode(bytes6), String(decoding: changed, as: UTF8.self), String(token5.dropLast()),
                token5 + "A", String(repeating: "A", count: 22), "+" + token5.dropFirst(),
                "%00", String(repeating: "é", count: 300),
            ] {
                let r = try await client.call(.post, "/checkin/\(bad)", token: student)
                #expect(r.status == .notFound && r.code == "not_found", "\(bad.prefix(30)): \(r.text)")
            }
            // Rotation: the old code stops, the new one works.
            let rotated = try await client.call(.post, "/admin/branches/Main%20Library/seat-codes/rotate", token: admin)
            #expect(rotated.status == .ok && rotated.json["seat_code_generation"] as? Int == 1, "\(rotated.text)")
            #expect(try await client.call(.post, five, token: student).status == .notFound)
            let fresh = path(try await code(client, admin, seat: 5))
            #expect(fresh != five)
            #expect(try await client.call(.post, fresh, token: student).status == .ok)
            // Other branches keep theirs.
            let science = path(try await code(client, admin, seat: 30))
            _ = try await client.call(.post, "/admin/branches/Main%20Library/seat-codes/rotate", token: admin)
            #expect(path(try await code(client, admin, seat: 30)) == science)
            // A retired seat has no code.
            _ = try await client.call(.delete, "/admin/seats/9", token: admin)
            #expect(try await client.call(.get, "/admin/seats/9/checkin-code", token: admin).status == .notFound)
            #expect(try await client.call(.get, "/admin/seats/6/qr.svg", token: student).status == .forbidden)
        }
    }

    @Test func codesForALoopbackAddressArePrintedOnlyWhenConfirmed() async throws {
        let sheet = "/admin/branches/Main%20Library/areas/Group%20Study%20Zone/qr-sheet.svg"
        try await withService { client, _, _ in
            // No --public-url: the codes would point at 127.0.0.1, which no phone can open.
            let admin = try await client.login("admin", "admin-password")
            for path in [sheet, "/admin/seats/12/qr.svg", sheet + "?loopback=false"] {
                let refused = try await client.call(.get, path, token: admin)
                #expect(refused.status == .conflict && refused.code == "loopback_url", "\(path): \(refused.text)")
                #expect(refused.text.contains("--public-url"))
            }
            #expect(try await client.call(.get, sheet + "?loopback=maybe", token: admin).status == .badRequest)
            #expect(try await client.call(.get, sheet + "?loopback=true", token: admin).status == .ok)
            // The code itself (JSON) is not a print: it says where it points.
            #expect(try await client.call(.get, "/admin/seats/12/checkin-code", token: admin).status == .ok)
        }
        try await withService(Configure { $0.publicURL = "https://seats.example.edu" }) { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let printed = try await client.call(.get, sheet, token: admin)
            #expect(printed.status == .ok, "\(printed.text)")
            #expect(try await client.call(.get, "/admin/seats/12/qr.svg", token: admin).status == .ok)
        }
        #expect(
            isLoopback("http://127.0.0.1:8080") && isLoopback("http://localhost:80") && isLoopback("http://[::1]:8080"))
        #expect(!isLoopback("https://seats.example.edu") && !isLoopback("http://10.0.0.5:8080"))
    }

    @Test func aPresenceBranchRefusesThePlainCheckInForStudents() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let set = try await client.call(
                .put, "/admin/branches/Main%20Library/checkin", token: admin, json: #"{"presence_required": true}"#)
            #expect(set.status == .ok && set.json["presence_required"] as? Bool == true, "\(set.text)")
            let listed = try await client.call(.get, "/branches", token: admin).json["branches"] as? [[String: Any]]
            #expect(listed?.first { $0["branch"] as? String == "Main Library" }?["presence_required"] as? Bool == true)
            #expect(
                listed?.first { $0["branch"] as? String == "Science Library" }?["presence_required"] as? Bool == false)

            let student = try await client.login("S2021006")
            let r = try await client.call(.post, "/reservations", token: student, json: booking(3, t0, t0 + 3_600))
            let id = r.json["id"] as? Int ?? 0
            let plain = try await client.call(.post, "/reservations/\(id)/checkin", token: student)
            #expect(plain.status == .forbidden && plain.code == "presence_required", "\(plain.text)")
            #expect((plain.json["error"] as? String)?.contains("QR code") == true)
            let scanned = try await client.call(.post, path(try await code(client, admin, seat: 3)), token: student)
            #expect(scanned.status == .ok && scanned.json["status"] as? String == "CHECKED_IN")
            // Other branches, and staff, keep the plain check-in.
            let science = try await client.call(
                .post, "/reservations", token: student, json: booking(31, t0 + 4 * 3_600, t0 + 5 * 3_600))
            #expect(science.status == .created)
            let other = try await client.login("S2021007")
            let theirs = try await client.call(.post, "/reservations", token: other, json: booking(4, t0, t0 + 3_600))
            let byStaff = try await client.call(
                .post, "/reservations/\(theirs.json["id"] as? Int ?? 0)/checkin", token: admin)
            #expect(byStaff.status == .ok, "\(byStaff.text)")
            let bad = try await client.call(
                .put, "/admin/branches/Main%20Library/checkin", token: admin, json: #"{"presence_required": "yes"}"#)
            #expect(bad.status == .badRequest)
            let none = try await client.call(
                .put, "/admin/branches/Nowhere/checkin", token: admin, json: #"{"presence_required": true}"#)
            #expect(none.status == .notFound)
        }
    }

    @Test(.enabled(if: zbarAvailable, "zbarimg or rsvg-convert is not installed (CI installs them)"))
    func theCodesAndTheSheetCarryTheURL() async throws {
        try await withService { client, _, _ in
            let admin = try await client.login("admin", "admin-password")
            let url = try await code(client, admin, seat: 12)
            let svg = try await client.call(.get, "/admin/seats/12/qr.svg?loopback=true", token: admin)
            #expect(svg.status == .ok && svg.headers[.contentType] == "image/svg+xml")
            #expect(svg.text.contains("<title>Check-in code of seat 12</title>"))
            // Decode the code the server drew: the same modules, rasterised, read by zbar.
            let q = try QRCode(Array(url.utf8))
            #expect(svg.text == q.svg(scale: 8, title: "Check-in code of seat 12"))
            let dir = temporaryDirectory()
            defer { cleanup(dir) }
            let decoded = try await zbarRead(q, in: dir)
            #expect(decoded.output == url + "\n", "\(decoded.error)")

            let sheet = try await client.call(
                .get, "/admin/branches/Main%20Library/areas/Group%20Study%20Zone/qr-sheet.svg?loopback=true",
                token: admin)
            #expect(sheet.status == .ok && sheet.headers[.contentType] == "image/svg+xml")
            #expect(sheet.text.components(separatedBy: "<svg ").count - 1 == 1 + 10)  // the page and 10 seats
            for seat in 16...25 { #expect(sheet.text.contains(">\(seat)</text>")) }
            // Printed (rendered by librsvg) and scanned (zbar): every seat's code. Each cell of the
            // sheet is cut out as it is drawn and scanned alone, as a phone sees one seat (zbar
            // reading ten codes in one picture now and then misses one).
            var scanned: [String] = []
            for (n, part) in sheet.text.components(separatedBy: "<g transform=\"translate(").dropFirst().enumerated() {
                let origin = part.prefix { $0 != ")" }.split(separator: " ").compactMap { Int($0) }
                let cell = try #require(part.components(separatedBy: "</g>").first)
                let svg =
                    ##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="\##(origin[0] - 4) \##(origin[1] - 2) 48 48" width="48mm" height="48mm"><rect x="0" y="0" width="400" height="1000" fill="#fff"/><g transform="translate("##
                    + cell + "</g></svg>"
                try Data(svg.utf8).write(to: URL(fileURLWithPath: dir + "/cell.svg"))
                let png = try await runProgram(
                    "/usr/bin/rsvg-convert", ["-z", "4", dir + "/cell.svg", "-o", dir + "/cell.png"])
                #expect(png.status == 0, "\(png.error)")
                let read = try await runProgram("/usr/bin/zbarimg", ["--raw", "-q", dir + "/cell.png"])
                #expect(read.status == 0, "cell \(n)")
                scanned += read.output.split(separator: "\n").map(String.init)
            }
            var expected: [String] = []
            for seat in 16...25 { expected.append(try await code(client, admin, seat: seat)) }
            #expect(scanned == expected)
            #expect(sheet.text.contains(#"width="210mm""#))
            #expect(
                try await client.call(
                    .get, "/admin/branches/Main%20Library/areas/Attic/qr-sheet.svg?loopback=true", token: admin
                )
                .status == .notFound)
        }
    }
}
