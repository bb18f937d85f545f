import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// `GET /branches/{name}/closures` (every signed-in caller) and `/admin/branches/{name}/closures…`
/// (declare, change, remove).
package func addClosureRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine

    api.get("/branches/:name/closures") { request, context -> Response in
        let name = try context.branchName()
        let all = try request.queryBool("include_past") ?? false
        let closures = try engine.closures(branch: name, includingPast: all)
        return Render.response {
            $0.object {
                $0.field("branch", name)
                $0.field("closures", array: closures) { w, c in Render.closure(c, &w) }
            }
        }
    }

    api.post("/admin/branches/:name/closures") { request, context -> Response in
        _ = try context.requireAdmin()
        let name = try context.branchName()
        var request = request
        let body = try await request.decodeJSON(ClosureBody.self)
        guard let reason = body.reason else { throw APIError.badRequest("reason is required") }
        let start = try parseBodyTime(body.startTime, "start_time")
        let end = try parseBodyTime(body.endTime, "end_time")
        guard body.area != "" else {
            throw APIError.badRequest("area must not be empty: leave it out to close the whole branch")
        }
        let outcome = try await engine.declareClosure(
            branch: name, area: body.area ?? "", start: start, end: end, reason: reason)
        try await service.audit(
            context.auditActor, "closure.created", subject: "closure:\(name)/\(outcome.closure.id)",
            reason: reason, after: auditClosure(outcome))
        return closureResponse(outcome, status: .created)
    }

    api.patch("/admin/branches/:name/closures/:id") { request, context -> Response in
        _ = try context.requireAdmin()
        let name = try context.branchName()
        let id = try context.closureID()
        var request = request
        let body = try await request.decodeJSON(ClosureBody.self)
        guard body.area == nil else {
            throw APIError.badRequest("a closure keeps its area; remove it and declare a new one")
        }
        let start = try body.startTime.map { v throws(APIError) in try parseBodyTime(v, "start_time") }
        let end = try body.endTime.map { v throws(APIError) in try parseBodyTime(v, "end_time") }
        let before = try? engine.closures(branch: name, includingPast: true).first { $0.id == id }
        let outcome = try await engine.changeClosure(
            branch: name, id: id, start: start, end: end, reason: body.reason)
        try await service.audit(
            context.auditActor, "closure.changed", subject: "closure:\(name)/\(id)", reason: body.reason ?? "",
            before: before.map(auditClosure) ?? "", after: auditClosure(outcome))
        return closureResponse(outcome, status: .ok)
    }

    api.delete("/admin/branches/:name/closures/:id") { _, context -> Response in
        _ = try context.requireAdmin()
        let name = try context.branchName()
        let id = try context.closureID()
        let closure = try await engine.removeClosure(branch: name, id: id)
        try await service.audit(
            context.auditActor, "closure.removed", subject: "closure:\(name)/\(id)", before: auditClosure(closure))
        return Render.response {
            $0.object {
                $0.field("branch", name)
                $0.field("removed", object: { Render.closureFields(closure, &$0) })
            }
        }
    }
}

/// `POST` and `PATCH /admin/branches/{name}/closures…`: `{"area": "Floor 2", "start_time": …,
/// "end_time": …, "reason": "exam"}` (no `area`: the whole branch).
package struct ClosureBody: Decodable {
    package var area: String?
    package var startTime: String?
    package var endTime: String?
    package var reason: String?
}

extension APIContext {
    /// The branch named in the path (percent-decoded); 404 when there is none.
    package func branchName() throws(APIError) -> String {
        guard let raw = parameters.get("name") else { throw APIError(.notFound, "not_found", "no such branch") }
        return raw.removingPercentEncoding ?? raw
    }

    package func closureID() throws(APIError) -> Int64 {
        guard let id = try pathID("closure id") else { throw APIError(.notFound, "not_found", "closure not found") }
        return id
    }
}

/// A closure, for the audit trail.
private func auditClosure(_ c: Closure) -> String {
    AuditChain.value { w in w.object { Render.closureFields(c, &$0) } }
}

/// A closure and what declaring or changing it cancelled, for the audit trail.
private func auditClosure(_ o: ClosureOutcome) -> String {
    AuditChain.value { w in
        w.object {
            Render.closureFields(o.closure, &$0)
            $0.field("reservations_cancelled", array: o.cancelled) { w, r in w.value(r.id) }
            $0.field("waitlist_cancelled", array: o.waitlistCancelled) { w, e in w.value(e.id) }
        }
    }
}

/// A closure and what it cancelled, as the routes answer.
private func closureResponse(_ o: ClosureOutcome, status: HTTPResponse.Status) -> Response {
    Render.response(status) {
        $0.object {
            $0.field("branch", o.branch)
            $0.field("closure", object: { Render.closureFields(o.closure, &$0) })
            $0.field("cancelled", array: o.cancelled) { w, r in Render.reservation(r, &w) }
            $0.field("waitlist_cancelled", array: o.waitlistCancelled) { w, e in
                Render.waitlist(e, position: nil, &w)
            }
        }
    }
}
