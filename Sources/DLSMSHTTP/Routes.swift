import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// Assembles every controller: public routes first, then the ones behind the token check.
func addRoutes(to router: Router<APIContext>, service: DLSMSService) {
    addReplicationRoutes(to: router, service: service)
    addSystemRoutes(to: router, service: service)
    let api = router.group().add(middleware: AuthMiddleware(service: service))
    addAuthRoutes(public: router, api: api, service: service)
    addAccountRoutes(api: api, service: service)
    addSeatRoutes(to: api, service: service)
    addReservationRoutes(to: api, service: service)
    addWaitlistRoutes(to: api, service: service)
    addNotificationRoutes(to: api, service: service)
    addAdminRoutes(to: api, service: service)
    addClosureRoutes(to: api, service: service)
    addReportRoutes(to: api, service: service)
    addCalendarRoutes(public: router, api: api, service: service)
    addSeatCodeRoutes(to: api, service: service)
    addWebhookRoutes(to: api, service: service)
}

func parseStatus(_ text: String?) throws(APIError) -> ReservationStatus? {
    guard let text else { return nil }
    guard let s = ReservationStatus(name: text.uppercased()) else {
        throw APIError.badRequest("unknown status \(text); one of CONFIRMED, CHECKED_IN, COMPLETED, CANCELLED, NO_SHOW")
    }
    return s
}

func reservationPage(_ page: Page<Reservation>) -> Response {
    Render.response {
        $0.object {
            $0.field("reservations", array: page.items) { w, r in Render.reservation(r, &w) }
            $0.field("count", page.items.count)
            $0.field("total", page.total)
        }
    }
}
