import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import HTTPTypes
import Hummingbird
import Synchronization

/// `GET /public/occupancy`: free and total seats now, per branch and area, for the library's own
/// website — no sign-in, nothing about anyone. Off unless `--public-occupancy`; made at most once
/// every ``PublicOccupancy/freshFor`` seconds whatever the traffic, and cacheable as long
/// (`Cache-Control: public, max-age=10`, a strong `ETag`, 304 for `If-None-Match`); CORS for the
/// origins of `--public-occupancy-origins`.
package func addPublicRoutes(to router: Router<APIContext>, service: LibraryService) {
    let configuration = service.configuration
    let occupancy = PublicOccupancy(engine: service.engine)
    router.get("/public/occupancy") { request, _ -> Response in
        guard configuration.publicOccupancy else {
            throw APIError(.notFound, "not_found", "public occupancy is off (--public-occupancy)")
        }
        let (body, etag) = await occupancy.current()
        var headers: HTTPFields = [
            .contentType: "application/json; charset=utf-8",
            .cacheControl: "public, max-age=\(PublicOccupancy.freshFor)",
            .eTag: etag, .vary: "Origin",
        ]
        if let origin = request.headers[.origin],
            let allowed = PublicOccupancy.allowedOrigin(
                origin, configuration.publicOccupancyOrigins)
        {
            headers[.accessControlAllowOrigin] = allowed
        }
        if WebApp.matches(ifNoneMatch: request.headers[.ifNoneMatch], etag) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
    addDisplayRoutes(to: router, service: service)
}

/// `GET /public/display/{branch}[/{area}]`: what the display at a library's entrance shows — free
/// seats now and for the next hour, per area and seat (with the map's positions), nothing about
/// anyone; no sign-in; a strong ETag for polling with `If-None-Match`. 404 for an unknown branch
/// or area, or one whose display staff turned off (`PUT /admin/branches/{name}/display`).
private func addDisplayRoutes(to router: Router<APIContext>, service: LibraryService) {
    let engine = service.engine
    let display: @Sendable (Request, APIContext) async throws -> Response = { request, context in
        let name = try context.branchName()
        let area = context.parameters.get("area").map { $0.removingPercentEncoding ?? $0 }
        let now = engine.clock.now()
        guard let seats = await engine.display(branch: name, area: area, now: now) else {
            throw APIError(.notFound, "not_found", "no display for this library or area")
        }
        let (body, etag) = DisplayJSON.render(branch: name, area: area, seats: seats, at: now)
        let headers: HTTPFields = [
            .contentType: "application/json; charset=utf-8", .cacheControl: "no-cache", .eTag: etag,
        ]
        if WebApp.matches(ifNoneMatch: request.headers[.ifNoneMatch], etag) {
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
    router.get("/public/display/:name", use: display)
    router.get("/public/display/:name/:area", use: display)
}

enum DisplayJSON {
    static func render(branch: String, area: String?, seats: [DisplaySeat], at: Timestamp) -> (
        body: [UInt8], etag: String
    ) {
        var areas: [String] = []
        for s in seats where !areas.contains(s.seat.area) { areas.append(s.seat.area) }
        func figures(_ list: [DisplaySeat], _ w: inout JSONWriter) {
            w.field("free_now", list.filter(\.freeNow).count)
            w.field("free_next_hour", list.filter(\.freeNextHour).count)
            w.field("total", list.count)
        }
        var content = JSONWriter()
        content.object {
            $0.field("branch", branch)
            $0.field("area", area)
            figures(seats, &$0)
            $0.field("areas", array: areas) { w, a in
                w.object {
                    $0.field("name", a)
                    figures(seats.filter { $0.seat.area == a }, &$0)
                }
            }
            $0.field("seats", array: seats) { w, s in
                w.object {
                    $0.field("id", s.seat.id)
                    $0.field("label", s.seat.displayLabel)
                    $0.field("area", s.seat.area)
                    $0.field("x", s.seat.x)
                    $0.field("y", s.seat.y)
                    $0.field("free_now", s.freeNow)
                    $0.field("free_next_hour", s.freeNextHour)
                }
            }
        }
        // The ETag covers the content, not the time it was made: an unchanged library stays 304.
        var w = JSONWriter()
        w.object { $0.time("generated_at", at) }
        return (
            Array(w.bytes.dropLast()) + [UInt8(ascii: ",")] + content.bytes.dropFirst(),
            WebApp.strongETag(content.bytes)
        )
    }
}

/// The public occupancy answer, made again once it is ``freshFor`` seconds old (on the engine's
/// clock); concurrent requests of a stale answer share one making.
package final class PublicOccupancy: Sendable {
    package static let freshFor: Int64 = 10
    private let engine: SeatEngine
    private let state = Mutex<(at: Timestamp, body: [UInt8], etag: String)?>(nil)
    private let making = Mutex<Task<(body: [UInt8], etag: String), Never>?>(nil)

    init(engine: SeatEngine) { self.engine = engine }

    func current() async -> (body: [UInt8], etag: String) {
        let now = engine.clock.now()
        if let s = state.withLock({ $0 }), now - s.at < Self.freshFor { return (s.body, s.etag) }
        let task = making.withLock { t -> Task<(body: [UInt8], etag: String), Never> in
            if let t { return t }
            let made = Task { [self] in
                let at = self.engine.clock.now()
                let answer = Self.render(await self.engine.occupancy(now: at), at: at)
                self.state.withLock { $0 = (at, answer.body, answer.etag) }
                self.making.withLock { $0 = nil }
                return answer
            }
            t = made
            return made
        }
        return await task.value
    }

    static func render(_ branches: [(branch: String, areas: [(area: String, free: Int, total: Int)])], at: Timestamp)
        -> (body: [UInt8], etag: String)
    {
        var w = JSONWriter()
        w.object {
            $0.time("generated_at", at)
            $0.field("branches", array: branches) { w, b in
                w.object {
                    $0.field("name", b.branch)
                    $0.field("free", b.areas.reduce(0) { $0 + $1.free })
                    $0.field("total", b.areas.reduce(0) { $0 + $1.total })
                    $0.field("areas", array: b.areas) { w, a in
                        w.object {
                            $0.field("name", a.area)
                            $0.field("free", a.free)
                            $0.field("total", a.total)
                        }
                    }
                }
            }
        }
        // The ETag covers the figures, not the time they were made: an unchanged library stays 304.
        var figures = JSONWriter()
        figures.array(branches) { w, b in
            w.value(b.branch)
            for a in b.areas { w.value("\(a.area)\u{0}\(a.free)\u{0}\(a.total)") }
        }
        return (w.bytes, WebApp.strongETag(figures.bytes))
    }

    /// The `Access-Control-Allow-Origin` for a request from `origin`: itself when listed, `*` when
    /// any is allowed, nil otherwise.
    static func allowedOrigin(_ origin: String, _ allowed: [String]) -> String? {
        if allowed.contains("*") { return "*" }
        return allowed.contains(origin) ? origin : nil
    }
}
