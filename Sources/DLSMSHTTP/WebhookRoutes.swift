import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation
import Hummingbird

package struct WebhookBody: Decodable {
    package var url: String?
    package var secret: String?
    package var events: [String]?
}

package func addWebhookRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    let settings = service.configuration.webhooks

    api.post("/admin/webhooks") { request, context -> Response in
        _ = try context.requireAdmin()
        var request = request
        let body = try await request.decodeJSON(WebhookBody.self)
        guard let url = body.url else { throw APIError.badRequest("url is required") }
        let checked = try settings.check(url)
        let events = body.events ?? WebhookEvent.types
        guard !events.isEmpty, Set(events).count == events.count, events.allSatisfy(WebhookEvent.types.contains) else {
            throw APIError.badRequest("events: some of \(WebhookEvent.types.joined(separator: ", ")), each once")
        }
        var secret = body.secret ?? ""
        if body.secret == nil { secret = Base64URL.encode(Base64URL.random(24)) }
        guard secret.utf8.count >= 16, secret.utf8.count <= 200 else {
            throw APIError.badRequest("secret: 16 to 200 bytes (leave it out for a random one)")
        }
        let endpoint = try await engine.registerWebhook(url: checked, secret: secret, events: events)
        let after = AuditChain.value(render(endpoint, .init(), queue: SpoolFigures(), secret: false))
        try await service.audit(
            context.auditActor, "webhook.registered", subject: "webhook:\(endpoint.id)", after: after)
        return Render.response(.created, render(endpoint, .init(), queue: SpoolFigures(), secret: true))
    }

    api.get("/admin/webhooks") { _, context -> Response in
        _ = try context.requireAdmin()
        let all = engine.webhooks.endpoints
        let limits = engine.webhooks.limits
        return Render.response {
            $0.object {
                $0.field("webhooks", array: all) { w, e in
                    render(e.endpoint, e.status, queue: e.spool, secret: false)(&w)
                }
                $0.field("dropped_events", all.reduce(0) { $0 + $1.spool.dropped })
                $0.field("max_pending", limits.maxRecords)
                $0.field("max_pending_bytes", limits.maxBytes)
            }
        }
    }

    api.delete("/admin/webhooks/:id") { _, context -> Response in
        _ = try context.requireAdmin()
        guard let id = try context.pathID("webhook id") else {
            throw APIError(.notFound, "not_found", "webhook not found")
        }
        // Its last counts: nothing is pending once its queue is deleted, what it dropped stays said.
        var last = SpoolFigures()
        last.dropped = engine.webhooks.endpoints.first { $0.endpoint.id == id }?.spool.dropped ?? 0
        let removed = try await engine.removeWebhook(id: id)
        let before = AuditChain.value(render(removed, .init(), queue: last, secret: false))
        try await service.audit(context.auditActor, "webhook.removed", subject: "webhook:\(id)", before: before)
        return Render.response(.ok, render(removed, .init(), queue: last, secret: false))
    }
}

/// A webhook endpoint as the routes answer with it (its secret only when `secret`).
private func render(_ e: WebhookEndpoint, _ status: WebhookOutbox.Status, queue: SpoolFigures, secret: Bool)
    -> (inout JSONWriter) -> Void
{
    { w in
        w.object {
            $0.field("id", e.id)
            $0.field("url", e.url)
            $0.field("events", array: e.events) { $0.value($1) }
            if secret { $0.field("secret", e.secret) }
            $0.time("created_at", e.createdAt)
            $0.field("delivered_through", e.deliveredThrough)
            $0.field("pending", queue.pending)
            $0.field("pending_bytes", queue.pendingBytes)
            $0.field("delivered", e.delivered)
            $0.field("given_up", e.givenUp)
            $0.field("dropped", queue.dropped)
            $0.field("queue_error", queue.failure)
            $0.field("attempts", status.attempts)
            $0.time("last_attempt_at", status.lastAttemptAt)
            $0.field("last_response", status.lastResponse)
            $0.field("last_error", status.lastError)
            $0.time("next_attempt_at", status.nextAttemptAt)
        }
    }
}
