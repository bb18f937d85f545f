import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird
import NIOCore

/// `/admin/…` for the catalog and figures: seat maintenance, branch statistics, online backup.
package func addAdminRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    addServiceHoursRoutes(to: api, service: service)
    addCatalogRoutes(to: api, service: service, imports: service.catalogImports)
    addCatalogChangeRoutes(to: api, service: service)
    addFigureAndBackupRoutes(to: api, service: service, engine: engine)
}

/// When seats and branches serve: a seat's maintenance flag, a branch's opening hours.
private func addServiceHoursRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    let clock = engine.clock

    api.put("/admin/seats/:id/maintenance") { request, context -> Response in
        _ = try context.requireAdmin()
        let id = try context.seatID()
        var request = request
        guard let flag = try await request.decodeJSON(MaintenanceBody.self).maintenance else {
            throw APIError.badRequest("maintenance (true or false) is required")
        }
        let before = await storedSeat(id, engine: engine)
        let seat = try await engine.setMaintenance(seat: id, flag)
        try await service.audit(
            context.auditActor, "seat.maintenance", subject: "seat:\(id)", before: before.map(auditSeat) ?? "",
            after: auditSeat(seat))
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
        let branch = try await service.auditedBranchChange("branch.hours", context) {
            try await engine.setHours(branch: $0, timeZone: zone, hours: hours)
        }
        return try await branchResponse(branch.name, status: .ok, engine: engine)
    }
}

/// Per-branch figures, and the online backup.
private func addFigureAndBackupRoutes(to api: RouterGroup<APIContext>, service: LibraryService, engine: SeatEngine) {
    let clock = engine.clock

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
        try await service.audit(
            context.auditActor, "backup.created", subject: "backup:\(name)",
            after: AuditChain.value {
                $0.object {
                    $0.field("backup", root + "/" + name)
                    $0.field("snapshot", report.name)
                    $0.field("reservations", report.reservations)
                }
            })
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
