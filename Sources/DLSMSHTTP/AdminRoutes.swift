import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird
import NIOCore

/// `/admin/…` for the catalog and figures: seat maintenance, branch statistics, online backup.
package func addAdminRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    let clock = engine.clock

    // Admin: maintenance and per-branch figures.
    api.put("/admin/seats/:id/maintenance") { request, context -> Response in
        _ = try context.requireAdmin()
        let id = try context.seatID()
        var request = request
        guard let flag = try await request.decodeJSON(MaintenanceBody.self).maintenance else {
            throw APIError.badRequest("maintenance (true or false) is required")
        }
        let seat = try await engine.setMaintenance(seat: id, flag)
        let (view, _) = try await engine.seat(seat.id, start: clock.now(), end: clock.now() + 1)
        return Render.response { w in w.object { Render.seatFields(view, &$0) } }
    }

    // A branch's time zone and weekly opening hours. Reservations already made are kept.
    api.put("/admin/branches/:name/hours") { request, context -> Response in
        _ = try context.requireAdmin()
        var request = request
        let body = try await request.decodeJSON(HoursBody.self)
        guard let given = body.timeZone else {
            throw APIError.badRequest("time_zone is required (IANA, e.g. Europe/Berlin)")
        }
        let zone = try HoursBody.zone(given)
        let hours = try body.openingHours()
        let branch = try await engine.setHours(branch: try context.branchName(), timeZone: zone, hours: hours)
        return try await branchResponse(branch.name, status: .ok)
    }

    @Sendable func branchResponse(_ name: String, status: HTTPResponse.Status) async throws -> Response {
        guard let summary = await engine.branches().first(where: { $0.branch.name == name }) else {
            throw APIError(.notFound, "not_found", "no such branch")
        }
        return Render.response(status) { w in Render.branch(summary, &w) }
    }

    @Sendable func seatResponse(_ id: SeatID, status: HTTPResponse.Status) async throws -> Response {
        let (view, _) = try await engine.seat(id, start: clock.now(), end: clock.now() + 1)
        return Render.response(status) { w in w.object { Render.seatFields(view, &$0) } }
    }

    // The catalog: new branches, new seats, changed seats.
    api.post("/admin/branches") { request, context -> Response in
        _ = try context.requireAdmin()
        var request = request
        let branch = try await request.decodeJSON(BranchBody.self).branch()
        try await engine.create(branch: branch)
        return try await branchResponse(branch.name, status: .created)
    }

    api.post("/admin/seats") { request, context -> Response in
        _ = try context.requireAdmin()
        var request = request
        let body = try await request.decodeJSON(SeatBody.self)
        try body.validate()
        guard let branch = body.branch, let area = body.area else {
            throw APIError.badRequest("branch and area are required")
        }
        if let id = body.id, !(1...Int64(SeatID.max)).contains(id) {
            throw APIError.badRequest("id must be 1…\(SeatID.max)")
        }
        var seat = Seat(id: SeatID(body.id ?? 0), branch: branch, area: area, hasPower: false, hasMonitor: false)
        body.apply(to: &seat)
        let created = try await engine.create(seat: seat)
        return try await seatResponse(created.id, status: .created)
    }

    // The catalog as CSV: download, and upload (checked whole first; nothing applied if a line is wrong).
    api.get("/admin/catalog.csv") { _, context -> Response in
        _ = try context.requireAdmin()
        return Report.csv(await CatalogCSV.export(engine), filename: "catalog.csv")
    }

    api.post("/admin/catalog.csv") { request, context -> Response in
        _ = try context.requireAdmin()
        let limit = CatalogCSV.maxUploadBytes
        let bytes: ByteBuffer
        do {
            bytes = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "payload_too_large", "the CSV is larger than \(limit >> 20) MiB")
        }
        guard let text = bytes.getString(at: bytes.readerIndex, length: bytes.readableBytes),
            text.utf8.count == bytes.readableBytes
        else { throw APIError.badRequest("the CSV must be UTF-8 text") }
        let rows: [CatalogCSV.Row]
        do throws(CatalogCSV.Problems) {
            rows = try CatalogCSV.parse(text)
        } catch {
            throw APIError.badRequest(error.description)
        }
        let outcome = try await CatalogCSV.apply(rows, to: engine)
        return Render.response {
            $0.object {
                $0.field("rows", rows.count)
                $0.field("branches_created", outcome.branchesCreated)
                $0.field("seats_created", outcome.seatsCreated)
                $0.field("seats_updated", outcome.seatsUpdated)
            }
        }
    }

    // Retiring a seat: refused (409 has_reservations, with how many) while upcoming reservations
    // hold it, unless cancel_reservations=true; then each is cancelled and its holder notified.
    api.delete("/admin/seats/:id") { request, context -> Response in
        _ = try context.requireAdmin()
        let id = try context.seatID()
        let cancelling = try request.queryBool("cancel_reservations") ?? false
        let reason = request.query("reason") ?? "the seat was retired"
        try checked { () throws(EngineError) in
            try BookingRules.validateText(reason, field: "reason", maxBytes: 200, required: true)
        }
        let cancelled = try await engine.retire(seat: id, cancelling: cancelling, reason: reason)
        return Render.response {
            $0.object {
                $0.field("seat_id", id)
                $0.field("retired", true)
                $0.field("cancelled", array: cancelled) { w, r in Render.reservation(r, &w) }
            }
        }
    }

    // Retiring an area: its seats (as above), then the area.
    api.delete("/admin/branches/:name/areas/:area") { request, context -> Response in
        _ = try context.requireAdmin()
        let cancelling = try request.queryBool("cancel_reservations") ?? false
        let reason = request.query("reason") ?? "the area was closed for good"
        try checked { () throws(EngineError) in
            try BookingRules.validateText(reason, field: "reason", maxBytes: 200, required: true)
        }
        let name = try context.branchName()
        guard let rawArea = context.parameters.get("area") else {
            throw APIError(.notFound, "not_found", "no such area")
        }
        let area = rawArea.removingPercentEncoding ?? rawArea
        guard engine.branch(named: name)?.areas.contains(area) == true else {
            throw APIError(.notFound, "not_found", "\(name.prefix(100)) has no area '\(area.prefix(100))'")
        }
        let (seats, cancelled) = try await engine.retire(
            area: area, branch: name, cancelling: cancelling, reason: reason)
        return Render.response {
            $0.object {
                $0.field("branch", name)
                $0.field("area", area)
                $0.field("seats_retired", array: seats) { w, id in w.value(id) }
                $0.field("cancelled", array: cancelled) { w, r in Render.reservation(r, &w) }
            }
        }
    }

    api.patch("/admin/seats/:id") { request, context -> Response in
        _ = try context.requireAdmin()
        let id = try context.seatID()
        var request = request
        let body = try await request.decodeJSON(SeatBody.self)
        try body.validate()
        guard body.branch == nil, body.id == nil else {
            throw APIError.badRequest("a seat keeps its id and branch; retire it and create a new one to move it")
        }
        let seat = try await engine.update(seat: id) { body.apply(to: &$0) }
        return try await seatResponse(seat.id, status: .ok)
    }

    api.get("/admin/stats") { _, context -> Response in
        _ = try context.requireAdmin()
        let stats = await engine.branchStatistics(now: clock.now())
        return Render.response {
            $0.object {
                $0.field("branches", array: stats) { w, s in
                    w.object {
                        $0.field("branch", s.branch)
                        $0.field("seats", s.seats)
                        $0.field("occupied_now", s.occupiedNow)
                        $0.field(
                            "utilisation_now", Int((Double(s.occupiedNow) / Double(max(1, s.seats)) * 100).rounded()))
                        $0.field("reservations", s.reservations)
                        $0.field("completed", s.completed)
                        $0.field("no_shows", s.noShows)
                        $0.field("cancelled", s.cancelled)
                        $0.field(
                            "no_show_rate_percent",
                            Int((Double(s.noShows) / Double(max(1, s.noShows + s.completed)) * 100).rounded()))
                    }
                }
            }
        }
    }

    // A consistent online backup into the configured backup directory, named by its time.
    api.post("/admin/backup") { _, context -> Response in
        _ = try context.requireAdmin()
        guard let root = service.configuration.backupDirectory else {
            throw APIError(
                .conflict, "backups_disabled", "online backups are off: start the server with --backup-dir DIR")
        }
        let name =
            "backup-" + RFC3339.format(clock.now()).replacingOccurrences(of: ":", with: "") + "-"
            + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let report: SnapshotReport
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            report = try await service.durable.backup(to: root + "/" + name)
        } catch {
            context.logger.error("backup failed", metadata: ["error": "\(error)"])
            throw APIError(.serviceUnavailable, "unavailable", "the backup could not be written (see the server log)")
        }
        return Render.response(.created) {
            $0.object {
                $0.field("backup", root + "/" + name)
                $0.field("snapshot", report.name)
                $0.field("covered_lsn", Int64(report.coveredLSN))
                $0.field("reservations", report.reservations)
                $0.field("bytes", report.bytes)
            }
        }
    }
}
