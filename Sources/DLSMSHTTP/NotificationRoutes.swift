import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// `/notifications` and the event stream.
package func addNotificationRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine

    api.get("/notifications") { request, context -> Response in
        let caller = try context.requireCaller()
        let since = try request.queryInt("since", range: 0...Int64.max) ?? 0
        let list = engine.notifications.list(user: caller.userID, since: since)
        return Render.response {
            $0.object { $0.field("notifications", array: list) { w, n in Render.notification(n, &w) } }
        }
    }

    api.get("/notifications/stream") { request, context -> Response in
        let caller = try context.requireCaller()
        return try notificationStream(request: request, context: context, caller: caller, service: service)
    }
    api.head("/notifications/stream") { request, context -> Response in
        let caller = try context.requireCaller()
        return try notificationStream(request: request, context: context, caller: caller, service: service, head: true)
    }
}
