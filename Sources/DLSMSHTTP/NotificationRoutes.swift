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
        let text = service.noticeText(for: caller.userID, request: request)
        return Render.response {
            $0.object {
                $0.field("notifications", array: list) { w, n in Render.notification(n, message: text(n), &w) }
            }
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

extension LibraryService {
    /// The language of texts for a student: their setting, else the request's `Accept-Language`.
    package func language(for user: UserID, request: Request) -> Language {
        Language.choose(
            setting: engine.user(id: user)?.language ?? "", acceptLanguage: request.headers[.acceptLanguage])
    }

    /// A notification's text in the student's language (times in its seat's branch's zone).
    package func noticeText(for user: UserID, request: Request) -> @Sendable (UserNotification) -> String {
        let language = language(for: user, request: request)
        let engine = engine
        return { n in
            language == .english
                ? n.message : MessageCatalog.translate(n.message, into: language, zone: engine.zone(ofSeat: n.seatID))
        }
    }
}
