import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// Unauthenticated operations routes: `/healthz`, `/openapi.yaml`, `/metrics`.
func addSystemRoutes(to router: Router<APIContext>, service: DLSMSService) {
    let engine = service.engine

    router.get("/healthz") { _, _ -> Response in
        let counts = engine.counts
        let last = service.durable.lastSnapshot
        let problem: String? =
            service.durable.wal.failure != nil || engine.writeFailure != nil
            ? "storage failed: writes are refused"
            : service.resources.figures.descriptorsExhausted
                ? "file descriptors nearly exhausted, or connections at the cap" : nil
        return Render.response(problem == nil ? .ok : .serviceUnavailable) {
            $0.object {
                $0.field("status", problem == nil ? "healthy" : "unhealthy")
                $0.field("problem", problem)
                $0.field("seats", counts.seats)
                $0.field("reservations", counts.reservations)
                $0.time("last_snapshot", last.name == nil ? nil : last.time)
            }
        }
    }

    router.get("/openapi.yaml") { _, _ -> Response in
        Response(
            status: .ok, headers: [.contentType: "application/yaml"],
            body: .init(byteBuffer: ByteBuffer(string: OpenAPI.document)))
    }

    router.get("/metrics") { _, _ -> Response in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(string: service.metrics.render(service))))
    }
}
