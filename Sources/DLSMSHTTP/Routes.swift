import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// Everything the routes use.
public final class DLSMSService: Sendable {
    public let durable: DurableEngine
    public let tokens: TokenService
    public let hasher: PasswordHasher
    /// Failed logins per student id and per client address, in one-minute windows.
    public let loginLimiter: AttemptLimiter
    /// Registrations per client address, in one-hour windows.
    public let registrationLimiter: AttemptLimiter
    public let metrics: ServiceMetrics
    public let configuration: ServerConfiguration
    /// Open HTTP connections, against the cap.
    public let connections: ConnectionCounter
    /// File descriptors against the limit.
    public let resources = ResourceState()

    public var engine: SeatEngine { durable.engine }

    public init(
        durable: DurableEngine, tokens: TokenService, hasher: PasswordHasher, metrics: ServiceMetrics,
        configuration: ServerConfiguration
    ) {
        self.durable = durable
        self.tokens = tokens
        self.hasher = hasher
        self.metrics = metrics
        self.configuration = configuration
        connections = ConnectionCounter(limit: configuration.limits.connections)
        loginLimiter = AttemptLimiter(window: 60, capacity: configuration.limits.limiterCapacity)
        registrationLimiter = AttemptLimiter(window: 3_600, capacity: configuration.limits.limiterCapacity)
    }

    /// The demo students that are enabled and still have the public password. Only the seed's
    /// own accounts count: a data directory seeded with demo data has the admin right after them
    /// (id 11) and each student under the seed's id; an account someone registered later under a
    /// demo student id (in a directory without demo data) is not one.
    public func demoAccountsWithPublicPassword() async -> [String] {
        let demoSeeded = engine.user(studentID: SeedData.adminStudentID)?.id == UserID(SeedData.studentNames.count + 1)
        guard demoSeeded else { return [] }
        return await withTaskGroup(of: String?.self) { group in
            for i in SeedData.studentNames.indices {
                guard let user = engine.user(id: UserID(i + 1)), user.studentID == SeedData.studentID(i + 1),
                    !user.disabled
                else { continue }
                group.addTask {
                    let open = (try? await self.hasher.verify(SeedData.password, hash: user.passwordHash)) ?? false
                    return open ? user.studentID : nil
                }
            }
            var open: [String] = []
            for await id in group { if let id { open.append(id) } }
            return open.sorted()
        }
    }
}

// MARK: - Request parsing

struct Credentials: Decodable {
    var studentId: String?
    var password: String?
    var name: String?
    var role: String?
}

struct PasswordChange: Decodable {
    var currentPassword: String?
    var newPassword: String?
    var password: String?
}

struct BookingBody: Decodable {
    var seatId: Int64?
    var startTime: String?
    var endTime: String?
}

struct WaitlistBody: Decodable {
    var seatId: Int64?
    var branch: String?
    var desiredTime: String?
    var endTime: String?
}

struct MaintenanceBody: Decodable {
    var maintenance: Bool?
}

extension Request {
    /// The JSON body, at most 64 KiB; malformed JSON or wrong types are 400.
    mutating func decodeJSON<T: Decodable>(_ type: T.Type) async throws -> T {
        let limit = Limits().bodyBytes
        // A body announced too large is refused before it is read (and before a client that sent
        // `Expect: 100-continue` sends it).
        if let length = headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError(.contentTooLarge, "payload_too_large", "the body is larger than 64 KiB")
        }
        let buffer = try await collectBody(upTo: limit)
        guard buffer.readableBytes > 0 else { throw APIError.badRequest("a JSON body is required") }
        do {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let DecodingError.typeMismatch(_, c) {
            throw APIError.badRequest(
                "wrong type for '\(c.codingPath.map { snakeCase($0.stringValue) }.joined(separator: "."))'")
        } catch {
            throw APIError.badRequest("the body is not valid JSON of the expected shape")
        }
    }

    func query(_ name: String) -> String? { uri.queryParameters.get(name) }

    func queryBool(_ name: String) throws(APIError) -> Bool? {
        guard let v = query(name) else { return nil }
        switch v.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw APIError.badRequest("\(name) must be true or false")
        }
    }

    func queryInt(_ name: String, range: ClosedRange<Int64>) throws(APIError) -> Int64? {
        guard let v = query(name) else { return nil }
        guard let n = Int64(v), range.contains(n) else {
            throw APIError.badRequest("\(name) must be an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return n
    }

    func queryTime(_ name: String) throws(APIError) -> Timestamp? {
        guard let v = query(name) else { return nil }
        guard let t = RFC3339.parse(v) else { throw APIError.badRequest("\(name) is not an RFC 3339 time: \(v)") }
        return t
    }

    /// `start_time` + `end_time` (both or neither).
    func queryWindow() throws(APIError) -> (Timestamp, Timestamp)? {
        let start = try queryTime("start_time")
        let end = try queryTime("end_time")
        switch (start, end) {
        case (nil, nil): return nil
        case (let s?, let e?):
            guard e > s else { throw APIError(EngineError.invalidTimeRange) }
            return (s, e)
        default: throw APIError.badRequest("give both start_time and end_time, or neither")
        }
    }
}

/// `studentId` → `student_id`: a field named as the client sent it.
func snakeCase(_ name: String) -> String {
    var out = ""
    for ch in name {
        if ch.isUppercase {
            out += "_" + ch.lowercased()
        } else {
            out.append(ch)
        }
    }
    return out
}

func parseBodyTime(_ value: String?, _ name: String) throws(APIError) -> Timestamp {
    guard let value else { throw APIError.badRequest("\(name) is required") }
    guard let t = RFC3339.parse(value) else { throw APIError.badRequest("\(name) is not an RFC 3339 time: \(value)") }
    return t
}

extension APIContext {
    /// An id from the path: not an integer → 400; an integer that cannot be an id → 404.
    func pathID(_ kind: String = "id") throws(APIError) -> Int64? {
        guard let text = parameters.get("id") else { throw APIError.badRequest("missing \(kind)") }
        guard text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }), !text.isEmpty else {
            throw APIError.badRequest("\(kind) must be an integer")
        }
        guard let n = Int64(text), n > 0 else { return nil }
        return n
    }

    func seatID() throws(APIError) -> SeatID {
        guard let n = try pathID("seat id"), let id = SeatID(exactly: n) else {
            throw APIError(.notFound, "not_found", "seat not found")
        }
        return id
    }
}

// MARK: - Routes

func addRoutes(to router: Router<APIContext>, service: DLSMSService) {
    let engine = service.engine
    let clock = engine.clock

    // 200 while the service can take writes; 503 once storage failed (the process is on its way
    // out) or while file descriptors are nearly exhausted, with the reason.
    router.get("/healthz") { _, _ -> Response in
        let counts = engine.counts
        let last = service.durable.lastSnapshot
        let problem: String? =
            service.durable.wal.failure != nil || engine.writeFailure != nil
            ? "storage failed: writes are refused"
            : service.resources.figures.descriptorsExhausted ? "file descriptors nearly exhausted" : nil
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

    let api = router.group().add(middleware: AuthMiddleware(tokens: service.tokens, service: service))

    addAuthRoutes(public: router, api: api, service: service)
    addAccountRoutes(api: api, service: service)

    api.get("/branches") { _, _ -> Response in
        let branches = await engine.branches()
        return Render.response {
            $0.object {
                $0.field("branches", array: branches) { w, b in
                    w.object {
                        $0.field("branch", b.branch.name)
                        $0.field("total_seats", b.totalSeats)
                        $0.field("power_seats", b.powerSeats)
                        $0.field("monitor_seats", b.monitorSeats)
                        $0.field("available_seats", b.availableSeats)
                        $0.field("areas", array: b.branch.areas) { $0.value($1) }
                        $0.field("open_hours", b.branch.openingHours.description)
                        $0.field("time_zone", b.branch.timeZone)
                    }
                }
            }
        }
    }

    api.get("/seats") { request, _ -> Response in
        let filter = SeatFilter(
            branch: request.query("branch"), area: request.query("area"), hasPower: try request.queryBool("has_power"),
            hasMonitor: try request.queryBool("has_monitor"),
            availableOnly: try request.queryBool("available_only") ?? true)
        let window = try request.queryWindow()
        let seats = await engine.searchSeats(filter, start: window?.0, end: window?.1)
        return Render.response {
            $0.object {
                $0.field("seats", array: seats) { w, s in w.object { Render.seatFields(s, &$0) } }
                $0.field("count", seats.count)
            }
        }
    }

    api.get("/seats/:id") { request, context -> Response in
        let id = try context.seatID()
        let day: Timestamp
        if let date = request.query("date") {
            guard let d = RFC3339.parseDate(date) else { throw APIError.badRequest("date must be YYYY-MM-DD: \(date)") }
            day = d
        } else {
            day = clock.now() / Seconds.day * Seconds.day
        }
        let (view, busy) = try await engine.seat(id, start: day, end: day + Seconds.day)
        return Render.response {
            $0.object {
                Render.seatFields(view, &$0)
                Render.busy(busy, &$0)
            }
        }
    }

    api.get("/seats/:id/availability") { request, context -> Response in
        let id = try context.seatID()
        guard let (start, end) = try request.queryWindow() else {
            throw APIError.badRequest("start_time and end_time are required")
        }
        let (view, busy) = try await engine.seat(id, start: start, end: end)
        return Render.response {
            $0.object {
                $0.field("seat_id", id)
                $0.field("is_available", view.isAvailable)
                Render.busy(busy, &$0)
            }
        }
    }

    api.post("/reservations") { request, context -> Response in
        let caller = try context.requireCaller()
        var request = request
        let body = try await request.decodeJSON(BookingBody.self)
        guard let seat = body.seatId else { throw APIError.badRequest("seat_id is required") }
        let start = try parseBodyTime(body.startTime, "start_time")
        let end = try parseBodyTime(body.endTime, "end_time")
        do {
            let r = try await engine.book(
                user: caller.userID, seat: SeatID(exactly: seat) ?? -1, start: start, end: end)
            service.metrics.booked()
            return Render.response(.created) { Render.reservation(r, &$0) }
        } catch let e as EngineError {
            if e == .seatConflict { service.metrics.conflicted() }
            if case .seatNotFound = e { throw APIError(.notFound, "not_found", "seat \(seat) not found") }
            throw e
        }
    }

    api.get("/reservations/mine") { request, context -> Response in
        let caller = try context.requireCaller()
        let status = try parseStatus(request.query("status"))
        let page = await engine.reservations(
            of: caller.userID, status: status, upcomingOnly: try request.queryBool("upcoming_only") ?? false,
            limit: Int(try request.queryInt("limit", range: 1...1_000) ?? 1_000),
            offset: Int(try request.queryInt("offset", range: 0...Int64(Int32.max)) ?? 0))
        return reservationPage(page)
    }

    api.get("/reservations") { request, context -> Response in
        _ = try context.requireAdmin()
        let filter = ReservationFilter(
            status: try parseStatus(request.query("status")),
            seatID: try request.queryInt("seat_id", range: Int64(Int32.min)...Int64(Int32.max)).map { SeatID($0) },
            userID: try request.queryInt("user_id", range: Int64(Int32.min)...Int64(Int32.max)).map { UserID($0) })
        let page = await engine.allReservations(
            matching: filter, limit: Int(try request.queryInt("limit", range: 1...10_000) ?? 1_000),
            offset: Int(try request.queryInt("offset", range: 0...Int64(Int32.max)) ?? 0))
        return reservationPage(page)
    }

    func reservationRoute(_ body: @escaping @Sendable (ReservationID, Requester) async throws -> Reservation)
        -> @Sendable (
            Request, APIContext
        ) async throws -> Response
    {
        { _, context in
            let caller = try context.requireCaller()
            guard let id = try context.pathID("reservation id") else {
                throw APIError(.notFound, "not_found", "reservation not found")
            }
            let r = try await body(id, caller.requester)
            return Render.response { Render.reservation(r, &$0) }
        }
    }
    api.get("/reservations/:id", use: reservationRoute { try await engine.reservation(id: $0, requester: $1) })
    api.post("/reservations/:id/checkin", use: reservationRoute { try await engine.checkIn(id: $0, requester: $1) })
    api.post("/reservations/:id/checkout", use: reservationRoute { try await engine.checkout(id: $0, requester: $1) })
    api.delete("/reservations/:id", use: reservationRoute { try await engine.cancel(id: $0, requester: $1) })

    api.post("/waitlist") { request, context -> Response in
        let caller = try context.requireCaller()
        var request = request
        let body = try await request.decodeJSON(WaitlistBody.self)
        let target: WaitTarget
        switch (body.seatId, body.branch) {
        case (let s?, nil): target = .seat(SeatID(exactly: s) ?? -1)
        case (nil, let b?): target = .branch(b)
        default: throw APIError.badRequest("give seat_id or branch (exactly one)")
        }
        let desired = try parseBodyTime(body.desiredTime, "desired_time")
        let end = try body.endTime.map { (t) throws(APIError) in try parseBodyTime(t, "end_time") }
        let (entry, position) = try await engine.joinWaitlist(
            user: caller.userID, target: target, desired: desired, end: end)
        return Render.response(.created) { Render.waitlist(entry, position: position, &$0) }
    }

    api.get("/waitlist/mine") { _, context -> Response in
        let caller = try context.requireCaller()
        let entries = engine.waitlist(of: caller.userID)
        return Render.response {
            $0.object {
                $0.field("waitlist", array: entries) { w, e in Render.waitlist(e.entry, position: e.position, &w) }
                $0.field("count", entries.count)
            }
        }
    }

    api.delete("/waitlist/:id") { _, context -> Response in
        let caller = try context.requireCaller()
        guard let id = try context.pathID("waitlist entry id") else {
            throw APIError(.notFound, "not_found", "waitlist entry not found")
        }
        let entry = try await engine.leaveWaitlist(id: id, requester: caller.requester)
        return Render.response { Render.waitlist(entry, position: nil, &$0) }
    }

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

    // Admin: maintenance and per-branch figures.
    api.put("/admin/seats/:id/maintenance") { request, context -> Response in
        _ = try context.requireAdmin()
        let id = try context.seatID()
        var request = request
        guard let flag = try await request.decodeJSON(MaintenanceBody.self).maintenance else {
            throw APIError.badRequest("maintenance (true or false) is required")
        }
        let seat = try await engine.setMaintenance(seat: id, flag)
        let (view, _) = try await engine.seat(seat.id, start: clock.now(), end: clock.now() + 1)
        return Render.response { w in w.object { Render.seatFields(view, &$0) } }
    }

    api.get("/admin/stats") { _, context -> Response in
        _ = try context.requireAdmin()
        let stats = await engine.branchStatistics(now: clock.now())
        return Render.response {
            $0.object {
                $0.field("branches", array: stats) { w, s in
                    w.object {
                        $0.field("branch", s.branch)
                        $0.field("seats", s.seats)
                        $0.field("occupied_now", s.occupiedNow)
                        $0.field(
                            "utilisation_now", Int((Double(s.occupiedNow) / Double(max(1, s.seats)) * 100).rounded()))
                        $0.field("reservations", s.reservations)
                        $0.field("completed", s.completed)
                        $0.field("no_shows", s.noShows)
                        $0.field("cancelled", s.cancelled)
                        $0.field(
                            "no_show_rate_percent",
                            Int((Double(s.noShows) / Double(max(1, s.noShows + s.completed)) * 100).rounded()))
                    }
                }
            }
        }
    }
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
