import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import HTTPTypes
import Hummingbird

/// The REST door's router: its middleware and every controller.
public enum RESTRouter {
    /// `clustered`: this node is part of a replicated cluster (a standby refuses writes).
    public static func make(_ service: LibraryService, web: WebApp, clustered: Bool) -> Router<APIContext> {
        // HEAD on every GET route: the GET's status and headers, no body (an event stream's HEAD
        // is its own: it must not subscribe).
        let router = Router(context: APIContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: HeadLengthMiddleware())
        router.add(middleware: NoSniffMiddleware())
        router.add(middleware: RequestMetricsMiddleware(metrics: service.metrics))
        // One line per request at debug level, tokens redacted; every log line of a request
        // carries hb.request.id.
        router.add(middleware: RequestLogMiddleware(level: .debug))
        router.add(middleware: APIErrorMiddleware())
        router.add(middleware: ClientAddressMiddleware(proxies: service.configuration.trustedProxies))
        if clustered { router.add(middleware: StandbyMiddleware(replication: service.replication)) }
        addRoutes(to: router, service: service)
        addWebRoutes(to: router, web: web, privacyNotice: service.configuration.privacyNotice)
        return router
    }
}

/// A HEAD answered by its GET route announces what the GET would: the length of its body, or
/// for a streamed one `Transfer-Encoding: chunked` (Hummingbird drops the body, and with it a
/// length not already in the headers; ``HTTP1Gate`` drops the length it then adds).
struct HeadLengthMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var response = try await next(request, context)
        if request.method == .head, response.headers[.contentLength] == nil {
            if let length = response.body.contentLength {
                response.headers[.contentLength] = String(length)
            } else {
                response.headers[.transferEncoding] = "chunked"
            }
        }
        return response
    }
}

/// `X-Content-Type-Options: nosniff` on every answer (JSON, CSV, iCalendar, SVG, the web app,
/// which sets its other security headers itself): a browser never runs an answer as another type
/// than the one it is labelled with.
struct NoSniffMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var response = try await next(request, context)
        response.headers[Self.field] = "nosniff"
        return response
    }

    private static var field: HTTPField.Name { HTTPField.Name("X-Content-Type-Options")! }
}

/// Assembles every controller: public routes first, then the ones behind the token check.
package func addRoutes(to router: Router<APIContext>, service: LibraryService) {
    addSystemRoutes(to: router, service: service)
    addPublicRoutes(to: router, service: service)
    let api = router.group().add(middleware: AuthMiddleware(service: service))
    addAuthRoutes(public: router, api: api, service: service)
    addIdentityRoutes(public: router, api: api, service: service)
    addAccountRoutes(api: api, service: service)
    addSeatRoutes(to: api, service: service)
    addReservationRoutes(to: api, service: service)
    addStayRoutes(to: api, service: service)
    addWaitlistRoutes(to: api, service: service)
    addNotificationRoutes(to: api, service: service)
    addAdminRoutes(to: api, service: service)
    addClosureRoutes(to: api, service: service)
    addReportRoutes(to: api, service: service)
    addCalendarRoutes(public: router, api: api, service: service)
    addSeatCodeRoutes(to: api, service: service)
    addWebhookRoutes(to: api, service: service)
    addPolicyRoutes(to: api, service: service)
    addPrivacyRoutes(to: api, service: service)
    addPreferenceRoutes(to: api, service: service)
    addMailRoutes(public: router, api: api, service: service)
    addAuditRoutes(to: api, service: service)
}

package func reservationPage(_ page: Page<Reservation>) -> Response {
    Render.response {
        $0.object {
            $0.field("reservations", array: page.items) { w, r in Render.reservation(r, &w) }
            $0.field("count", page.items.count)
            $0.field("total", page.total)
        }
    }
}
