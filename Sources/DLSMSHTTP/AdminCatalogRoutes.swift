import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird
import NIOCore

/// The catalog: new branches and seats, one by one or as CSV.
func addCatalogRoutes(to api: RouterGroup<APIContext>, service: LibraryService, imports: ConcurrencyGate) {
    let engine = service.engine
    api.post("/admin/branches") { request, context -> Response in
        _ = try context.requireAdmin()
        var request = request
        let branch = try await request.decodeJSON(BranchBody.self).branch()
        try await engine.create(branch: branch)
        try await service.audit(
            context.auditActor, "branch.created", subject: "branch:\(branch.name)",
            after: engine.branch(named: branch.name).map(auditBranch) ?? "")
        return try await branchResponse(branch.name, status: .created, engine: engine)
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
        try await service.audit(
            context.auditActor, "seat.created", subject: "seat:\(created.id)", after: auditSeat(created))
        return try await seatResponse(created.id, status: .created, engine: engine)
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
        // One import at a time: each reads the catalog's labels before it creates seats, so two at
        // once would both create the same new seats.
        let outcome = try await imports.run { try await CatalogCSV.apply(rows, to: engine) }
        try await service.audit(
            context.auditActor, "catalog.imported", subject: "catalog",
            after: AuditChain.value {
                $0.object {
                    $0.field("rows", rows.count)
                    $0.field("branches_created", outcome.branchesCreated)
                    $0.field("seats_created", outcome.seatsCreated)
                    $0.field("seats_updated", outcome.seatsUpdated)
                }
            })
        return Render.response {
            $0.object {
                $0.field("rows", rows.count)
                $0.field("branches_created", outcome.branchesCreated)
                $0.field("seats_created", outcome.seatsCreated)
                $0.field("seats_updated", outcome.seatsUpdated)
            }
        }
    }
}

/// Changing the catalog: retiring a seat or an area, changing a seat.
func addCatalogChangeRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
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
        let before = await storedSeat(id, engine: engine)
        let cancelled = try await engine.retire(seat: id, cancelling: cancelling, reason: reason)
        try await service.audit(
            context.auditActor, "seat.retired", subject: "seat:\(id)", reason: reason,
            before: before.map(auditSeat) ?? "", after: auditRetired([id], cancelled: cancelled))
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
        try await service.audit(
            context.auditActor, "area.retired", subject: "area:\(name)/\(area)", reason: reason,
            after: auditRetired(seats, cancelled: cancelled))
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
        let before = await storedSeat(id, engine: engine)
        let seat = try await engine.update(seat: id) { body.apply(to: &$0) }
        try await service.audit(
            context.auditActor, "seat.changed", subject: "seat:\(id)", before: before.map(auditSeat) ?? "",
            after: auditSeat(seat))
        return try await seatResponse(seat.id, status: .ok, engine: engine)
    }
}

/// A branch as the catalog routes answer with it.
func branchResponse(_ name: String, status: HTTPResponse.Status, engine: SeatEngine) async throws -> Response {
    guard let summary = await engine.branches().first(where: { $0.branch.name == name }) else {
        throw APIError(.notFound, "not_found", "no such branch")
    }
    return Render.response(status) { w in Render.branch(summary, &w) }
}

/// A seat as the catalog routes answer with it: its fields and its state now.
private func seatResponse(_ id: SeatID, status: HTTPResponse.Status, engine: SeatEngine) async throws -> Response {
    let clock = engine.clock
    let (view, _) = try await engine.seat(id, start: clock.now(), end: clock.now() + 1)
    return Render.response(status) { w in w.object { Render.seatFields(view, &$0) } }
}

/// Seats retired and the reservations that cancelled, for the audit trail.
private func auditRetired(_ seats: [SeatID], cancelled: [Reservation]) -> String {
    AuditChain.value {
        $0.object {
            $0.field("seats_retired", array: seats) { w, id in w.value(id) }
            $0.field("reservations_cancelled", array: cancelled) { w, r in w.value(r.id) }
        }
    }
}
