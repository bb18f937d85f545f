import Crypto
import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird
import NIOCore

/// Seats' check-in codes: showing and printing them, a branch's check-in settings, and scanning one.
package func addSeatCodeRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    let codes = service.seatCodes
    let base = service.configuration.publicBase
    addSeatCodeDisplayRoutes(to: api, engine: engine, codes: codes, base: base)
    addCheckInSettingRoutes(to: api, service: service)
    addSeatCodeScanRoute(to: api, engine: engine, codes: codes)
}

/// A seat's code as JSON and as a QR code, and a printable sheet of an area's codes.
private func addSeatCodeDisplayRoutes(
    to api: RouterGroup<APIContext>, engine: SeatEngine, codes: SeatCodes, base: String
) {
    @Sendable func subject(_ context: APIContext) async throws -> (Seat, String) {
        let id = try context.seatID()
        guard let (seat, generation) = await engine.seatCodeSubject(id) else { throw EngineError.seatNotFound(id) }
        return (seat, "\(base)/checkin/\(codes.code(seat: seat.id, generation: generation))")
    }

    // The seat's code: its check-in URL, as JSON and as a QR code (SVG).
    api.get("/admin/seats/:id/checkin-code") { _, context -> Response in
        _ = try context.requireAdmin()
        let (seat, url) = try await subject(context)
        return Render.response {
            $0.object {
                $0.field("seat_id", seat.id)
                $0.field("label", seat.displayLabel)
                $0.field("url", url)
            }
        }
    }

    api.get("/admin/seats/:id/qr.svg") { request, context -> Response in
        _ = try context.requireAdmin()
        try refuseLoopback(base, request)
        let (seat, url) = try await subject(context)
        let svg = try QRCode(Array(url.utf8)).svg(scale: 8, title: "Check-in code of seat \(seat.displayLabel)")
        return svgResponse(svg, filename: "seat-\(seat.id).svg")
    }

    // A printable sheet of an area: every seat's code with its label, four to a row.
    api.get("/admin/branches/:name/areas/:area/qr-sheet.svg") { request, context -> Response in
        _ = try context.requireAdmin()
        try refuseLoopback(base, request)
        let name = try context.branchName()
        let rawArea = context.parameters.get("area") ?? ""
        let area = rawArea.removingPercentEncoding ?? rawArea
        guard engine.branch(named: name)?.areas.contains(area) == true else {
            throw APIError(.notFound, "not_found", "\(name.prefix(100)) has no area '\(area.prefix(100))'")
        }
        let seats = await engine.searchSeats(SeatFilter(branch: name, area: area, availableOnly: false))
        guard seats.count <= SeatCodeSheet.maxSeats else {
            throw APIError.badRequest(
                "\(area.prefix(100)) has \(seats.count) seats; a sheet holds at most \(SeatCodeSheet.maxSeats): print the seats' codes one by one (GET /admin/seats/{id}/qr.svg)"
            )
        }
        var cells: [(String, QRCode)] = []
        for view in seats {
            guard let (seat, generation) = await engine.seatCodeSubject(view.seat.id) else { continue }
            let url = "\(base)/checkin/\(codes.code(seat: seat.id, generation: generation))"
            cells.append((seat.displayLabel, try QRCode(Array(url.utf8))))
        }
        return svgResponse(
            SeatCodeSheet.render(cells, title: "\(name) · \(area): seat check-in codes"), filename: "qr-sheet.svg")
    }
}

/// Codes that point at this machine only (no `--public-url`, a loopback address) are printed only
/// when the caller confirms it with `?loopback=true`: no phone can open them (409 `loopback_url`).
private func refuseLoopback(_ base: String, _ request: Request) throws {
    guard isLoopback(base), try request.queryBool("loopback") != true else { return }
    throw APIError(
        .conflict, "loopback_url",
        "the codes would point at \(base), which only this machine can open: start the server with --public-url set to the address phones reach, or confirm with loopback=true"
    )
}

/// Whether a base URL's host is a loopback address (`localhost`, `127.0.0.0/8`, `::1`).
package func isLoopback(_ base: String) -> Bool {
    guard let host = URLComponents(string: base)?.host?.lowercased() else { return false }
    let bare = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
    return bare == "localhost" || bare.hasPrefix("127.") || bare == "::1"
}

/// A branch's check-in settings: new codes for its seats, and whether check-in needs presence.
private func addCheckInSettingRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    api.post("/admin/branches/:name/seat-codes/rotate") { _, context -> Response in
        _ = try context.requireAdmin()
        let branch = try await service.auditedBranchChange("seat_codes.rotated", context) {
            try await engine.rotateSeatCodes(branch: $0)
        }
        return Render.response {
            $0.object {
                $0.field("branch", branch.name)
                $0.field("seat_code_generation", branch.seatCodeGeneration)
            }
        }
    }

    api.put("/admin/branches/:name/display") { request, context -> Response in
        _ = try context.requireAdmin()
        var request = request
        guard let enabled = try await request.decodeJSON(DisplayBody.self).enabled else {
            throw APIError.badRequest("enabled (true or false) is required")
        }
        let branch = try await service.auditedBranchChange("branch.display", context) {
            try await engine.setDisplay(branch: $0, enabled: enabled)
        }
        return Render.response {
            $0.object {
                $0.field("branch", branch.name)
                $0.field("display_enabled", !branch.displayOff)
            }
        }
    }

    api.put("/admin/branches/:name/checkin") { request, context -> Response in
        _ = try context.requireAdmin()
        var request = request
        guard let required = try await request.decodeJSON(PresenceBody.self).presenceRequired else {
            throw APIError.badRequest("presence_required (true or false) is required")
        }
        let branch = try await service.auditedBranchChange("branch.checkin", context) {
            try await engine.setPresenceCheckIn(branch: $0, required: required)
        }
        return Render.response {
            $0.object {
                $0.field("branch", branch.name)
                $0.field("presence_required", branch.presenceCheckIn)
            }
        }
    }
}

private func addSeatCodeScanRoute(to api: RouterGroup<APIContext>, engine: SeatEngine, codes: SeatCodes) {
    // Scanning a seat's code while signed in: checks the caller in to their reservation there.
    api.post("/checkin/:code") { _, context -> Response in
        let caller = try context.requireCaller()
        guard let (seat, mac) = SeatCodes.seat(in: context.parameters.get("code") ?? ""),
            let (_, generation) = await engine.seatCodeSubject(seat),
            codes.verify(mac, seat: seat, generation: generation)
        else { throw APIError(.notFound, "not_found", "no such seat code (it may have been replaced)") }
        let r = try await engine.checkIn(atSeat: seat, user: caller.userID)
        return Render.response { Render.reservation(r, &$0) }
    }
}

package struct PresenceBody: Decodable {
    package var presenceRequired: Bool?
}

package func svgResponse(_ svg: String, filename: String) -> Response {
    Response(
        status: .ok,
        headers: [
            .contentType: "image/svg+xml", .contentDisposition: "inline; filename=\"\(filename)\"",
            .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'",
        ],
        body: .init(byteBuffer: ByteBuffer(string: svg)))
}

/// A printable page of seat codes: A4 proportions in millimetres, four codes to a row, each with
/// its label underneath; as many rows as needed (the page grows).
package enum SeatCodeSheet {
    package static let maxSeats = 400

    package static func render(_ cells: [(label: String, code: QRCode)], title: String) -> String {
        let columns = 4
        let cell = 48  // mm
        let margin = 9
        let top = 20
        let rows = max(1, (cells.count + columns - 1) / columns)
        let width = 210
        let height = max(297, top + rows * (cell + 8) + margin)
        return svgElement(width: width, height: height, unit: "mm", title: title) {
            var body = "<rect width=\"\(width)\" height=\"\(height)\" fill=\"#fff\"/>"
            body +=
                "<text x=\"\(margin)\" y=\"12\" font-family=\"sans-serif\" font-size=\"6\">\(xmlEscape(title))</text>"
            for (i, (label, code)) in cells.enumerated() {
                let x = margin + (i % columns) * cell
                let y = top + (i / columns) * (cell + 8)
                let side = code.size + 8
                // The code scaled into a 40 mm square, its label below.
                body +=
                    "<g transform=\"translate(\(x + 4) \(y)) scale(\(String(format: "%.4f", 40.0 / Double(side))))\">"
                body += code.svg(scale: 1).replacingOccurrences(of: "<svg ", with: "<svg x=\"0\" y=\"0\" ")
                body += "</g>"
                body +=
                    "<text x=\"\(x + 24)\" y=\"\(y + 46)\" text-anchor=\"middle\" font-family=\"sans-serif\" font-size=\"5\">\(xmlEscape(label))</text>"
            }
            return body
        }
    }
}

package struct DisplayBody: Decodable {
    package var enabled: Bool?
}
