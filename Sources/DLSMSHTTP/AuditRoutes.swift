import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Hummingbird
import NIOCore

/// The audit trail of staff actions: `GET /admin/audit` (JSON, newest first, paged) and
/// `GET /admin/audit.csv` (every matching entry, oldest first, for `dlsms audit verify`). There is
/// no route that changes or deletes an entry.
package func addAuditRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine

    api.get("/admin/audit") { request, context -> Response in
        _ = try context.requireAdmin()
        let filter = try auditFilter(request)
        let limit = Int(try request.queryInt("limit", range: 1...200) ?? 50)
        let before = try request.queryInt("before", range: 1...Int64.max).map { UInt64($0) }
        let (entries, more) = engine.audit.entries(matching: filter, before: before, limit: limit)
        return Render.response {
            $0.object {
                $0.field("entries", array: entries) { w, e in w.object { auditFields(e, &$0) } }
                $0.field("count", entries.count)
                $0.field("next_before", more ? entries.last.map { Int64($0.seq) } : nil)
            }
        }
    }

    api.get("/admin/audit.csv") { request, context -> Response in
        _ = try context.requireAdmin()
        let filter = try auditFilter(request)
        let entries = engine.audit.all.filter(filter.matches)
        return Report.csvStream(filename: "audit.csv", header: AuditCSV.header) { emit in
            for chunk in stride(from: 0, to: entries.count, by: 1_000) {
                try await emit(
                    entries[chunk..<min(chunk + 1_000, entries.count)].map { AuditCSV.line($0, hex: AuditChain.hex) }
                        .joined())
            }
        }
    }
}

private func auditFilter(_ request: Request) throws(APIError) -> AuditFilter {
    var filter = AuditFilter()
    filter.actorID = try request.queryInt("actor_id", range: 0...Int64(Int32.max)).map { UserID($0) }
    if let subject = request.query("subject") {
        guard !subject.isEmpty, subject.utf8.count <= 300 else {
            throw APIError.badRequest("subject must be 1-300 bytes, like user:42 or seat:7")
        }
        filter.subject = subject
    }
    if let kind = request.query("kind") {
        guard AuditKind.all.contains(kind) else {
            throw APIError.badRequest("kind must be one of: \(AuditKind.all.joined(separator: ", "))")
        }
        filter.kind = kind
    }
    filter.from = try request.queryTime("from")
    filter.to = try request.queryTime("to")
    if let from = filter.from, let to = filter.to, to <= from {
        throw APIError.badRequest("to must be after from")
    }
    return filter
}

private func auditFields(_ e: AuditEntry, _ w: inout JSONWriter) {
    w.field("seq", Int64(e.seq))
    w.time("at", e.at)
    w.field("actor_id", e.actorID)
    w.field("actor", e.actor)
    w.field("address", e.address)
    w.field("kind", e.kind)
    w.field("subject", e.subject)
    w.field("reason", e.reason.isEmpty ? nil : e.reason)
    w.field("before", json: e.before)
    w.field("after", json: e.after)
    w.field("prev_hash", AuditChain.hex(e.previousHash))
    w.field("hash", AuditChain.hex(e.hash))
}

extension APIContext {
    /// The signed-in caller as the audit trail names them, with the client's address.
    package var auditActor: AuditActor {
        AuditActor(userID: caller?.userID ?? 0, studentID: caller?.studentID ?? "", address: clientAddress)
    }
}

package func auditSeat(_ s: Seat) -> String {
    AuditChain.value {
        $0.object {
            $0.field("id", s.id)
            $0.field("branch", s.branch)
            $0.field("area", s.area)
            $0.field("label", s.label)
            $0.field("has_power", s.hasPower)
            $0.field("has_monitor", s.hasMonitor)
            $0.field("accessible", s.accessible)
            $0.field("maintenance", s.inMaintenance)
            $0.field("retired", s.retired)
            $0.field("notes", s.notes)
        }
    }
}

package func auditBranch(_ b: Branch) -> String {
    AuditChain.value {
        $0.object {
            $0.field("name", b.name)
            $0.field("areas", array: b.areas) { $0.value($1) }
            $0.field("time_zone", b.timeZone)
            $0.field("open_hours", b.openingHours.description)
            $0.field("presence_check_in", b.presenceCheckIn)
            $0.field("display_enabled", !b.displayOff)
            $0.field("seat_code_generation", Int64(b.seatCodeGeneration))
            if let r = b.release {
                $0.field(
                    "release",
                    object: {
                        $0.field("days_before", r.daysBefore)
                        $0.field("time", r.time)
                    })
            } else {
                $0.field("release", nil as String?)
            }
        }
    }
}

/// A seat as stored now (nil: no such seat).
package func storedSeat(_ id: SeatID, engine: SeatEngine) async -> Seat? {
    let now = engine.clock.now()
    return try? await engine.seat(id, start: now, end: now + 1).0.seat
}

extension LibraryService {
    /// Changes the branch of the path with `change` (given its name) and audits it as `kind`, with
    /// the branch before and after.
    package func auditedBranchChange(
        _ kind: String, _ context: APIContext, _ change: (String) async throws -> Branch
    ) async throws -> Branch {
        let name = try context.branchName()
        let before = engine.branch(named: name)
        let branch = try await change(name)
        try await audit(
            context.auditActor, kind, subject: "branch:\(branch.name)", before: before.map(auditBranch) ?? "",
            after: auditBranch(branch))
        return branch
    }
}
