import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSProto
import GRPCCore
import Logging

/// The original's gRPC services over the same engine calls as REST: each handler parses the
/// request, calls the engine (or the REST layer's shared helpers: login limits, registration),
/// and renders the answer. No booking rule lives here.
package func makeGRPCServices(_ service: LibraryService, logger: Logger) -> [any RegistrableRPCService] {
    let adapter = GRPCAdapter(service: service, logger: logger)
    return [
        AuthServiceHandler(a: adapter), SeatServiceHandler(a: adapter), ReservationServiceHandler(a: adapter),
        NotifyServiceHandler(a: adapter), OperationServiceHandler(),
    ]
}

/// What every handler shares: the service, error mapping, and the renderings of the messages.
package struct GRPCAdapter: Sendable {
    package let service: LibraryService
    package let logger: Logger
    package var engine: SeatEngine { service.engine }

    /// Runs a handler body; every error leaves as an `RPCError`.
    package func call<T>(_ body: () async throws -> T) async throws(RPCError) -> T {
        do {
            return try await body()
        } catch {
            throw GRPCMapping.rpcError(error, logger: logger)
        }
    }

    package static func wire(_ id: Int64, _ what: String) throws(RPCError) -> Int32 {
        guard let small = Int32(exactly: id) else {
            throw GRPCMapping.refusal(.outOfRange, "\(what) \(id) does not fit the protocol's int32; use REST")
        }
        return small
    }

    package func seat(_ v: SeatView) -> Library_Seat {
        .with {
            $0.id = v.seat.id
            $0.branch = v.seat.branch
            $0.area = v.seat.area
            $0.hasPower_p = v.seat.hasPower
            $0.hasMonitor_p = v.seat.hasMonitor
            $0.status = v.statusName
            $0.isAvailable = v.isAvailable
        }
    }

    package func reservation(_ r: Reservation) throws(RPCError) -> Library_Reservation {
        var m = Library_Reservation()
        try m.fill(r)
        return m
    }

    /// A reservation with its seat's place and features and its holder's name.
    package func details(_ list: [Reservation]) async throws -> [Library_ReservationDetail] {
        var seats: [SeatID: Seat] = [:]
        var out: [Library_ReservationDetail] = []
        out.reserveCapacity(list.count)
        let now = engine.clock.now()
        for r in list {
            if seats[r.seatID] == nil {
                seats[r.seatID] = try? await engine.seat(r.seatID, start: now, end: now + 1).0.seat
            }
            let seat = seats[r.seatID]
            let user = engine.user(id: r.userID)
            var detail = Library_ReservationDetail()
            try detail.fill(r)
            detail.branch = seat?.branch ?? ""
            detail.area = seat?.area ?? ""
            detail.hasPower_p = seat?.hasPower ?? false
            detail.hasMonitor_p = seat?.hasMonitor ?? false
            detail.studentID = user?.studentID ?? ""
            detail.userName = user?.name ?? ""
            out.append(detail)
        }
        return out
    }

    package func waitlistEntry(_ e: WaitlistEntry) throws(RPCError) -> Library_WaitlistEntry {
        let id = try Self.wire(e.id, "waitlist entry id")
        return .with {
            $0.id = id
            $0.userID = e.userID
            switch e.target {
            case .seat(let s): $0.seatID = s
            case .branch(let b): $0.branch = b
            }
            $0.desiredTime = GRPCMapping.text(e.desiredTime)
            $0.createdAt = GRPCMapping.text(e.createdAt)
        }
    }

    /// A positive id from the request, or `NOT_FOUND` (no id can be 0 or negative).
    package static func positive(_ id: Int32, _ what: String) throws(RPCError) -> Int32 {
        guard id > 0 else { throw GRPCMapping.refusal(.notFound, "\(what) \(id) not found") }
        return id
    }
}

/// The fields a `Reservation` and a `ReservationDetail` message share, filled the same way.
package protocol ReservationFields {
    var id: Int32 { get set }
    var userID: Int32 { get set }
    var seatID: Int32 { get set }
    var startTime: String { get set }
    var endTime: String { get set }
    var status: String { get set }
    var createdAt: String { get set }
    var checkedInAt: String { get set }
}

extension ReservationFields {
    package mutating func fill(_ r: Reservation) throws(RPCError) {
        id = try GRPCAdapter.wire(r.id, "reservation id")
        userID = r.userID
        seatID = r.seatID
        startTime = GRPCMapping.text(r.start)
        endTime = GRPCMapping.text(r.end)
        status = r.status.name
        createdAt = GRPCMapping.text(r.createdAt)
        checkedInAt = GRPCMapping.text(r.checkedInAt)
    }
}

extension Library_Reservation: ReservationFields {}
extension Library_ReservationDetail: ReservationFields {}

// MARK: - AuthService

package struct AuthServiceHandler: Library_AuthService.SimpleServiceProtocol {
    package let a: GRPCAdapter

    package func login(request: Library_LoginRequest, context: ServerContext) async throws -> Library_LoginResponse {
        try await a.call {
            let user = try await a.service.signIn(
                studentID: request.studentID, password: request.password,
                client: GRPCMapping.clientAddress(context.remotePeer))
            try await a.service.auditSignIn(user, address: GRPCMapping.clientAddress(context.remotePeer))
            return try await answer(user)
        }
    }

    package func register(request: Library_RegisterRequest, context: ServerContext) async throws
        -> Library_RegisterResponse
    {
        try await a.call {
            guard !request.studentID.isEmpty, !request.password.isEmpty else {
                throw GRPCMapping.refusal(.invalidArgument, "student_id and password are required")
            }
            let user = try await a.service.register(
                studentID: request.studentID, password: request.password,
                name: request.name.isEmpty ? nil : request.name, client: GRPCMapping.clientAddress(context.remotePeer))
            let login = try await answer(user)
            return .with {
                $0.token = login.token
                $0.userID = login.userID
                $0.studentID = login.studentID
                $0.name = login.name
            }
        }
    }

    package func verify(request: Library_VerifyRequest, context: ServerContext) async throws -> Library_VerifyResponse {
        guard request.token.utf8.count <= 8_192, let caller = await a.service.caller(token: request.token) else {
            return .with { $0.valid = false }
        }
        return .with {
            $0.valid = true
            $0.userID = caller.userID
            $0.studentID = caller.studentID
        }
    }

    private func answer(_ user: User) async throws -> Library_LoginResponse {
        let (token, _) = try await a.service.issueToken(for: user)
        return .with {
            $0.token = token
            $0.userID = user.id
            $0.studentID = user.studentID
            $0.name = user.name
        }
    }
}

// MARK: - SeatService

package struct SeatServiceHandler: Library_SeatService.SimpleServiceProtocol {
    package let a: GRPCAdapter

    /// The original's message has no paging: a page (``Limits/seatPageSize`` seats, seat id
    /// order) is asked for with the request metadata `dlsms-limit`, `dlsms-offset` and
    /// `dlsms-cursor`, and the answer's metadata carries `dlsms-total` and, unless it is the last
    /// page, `dlsms-next-cursor`. The original's `count` stays the number of seats in the answer.
    package func getSeats(request: ServerRequest<Library_GetSeatsRequest>, context: ServerContext) async throws
        -> ServerResponse<Library_GetSeatsResponse>
    {
        try await a.call {
            let message = request.message
            let filter = SeatFilter(
                branch: message.branch.isEmpty ? nil : message.branch, area: message.area.isEmpty ? nil : message.area,
                hasPower: message.hasHasPower_p ? message.hasPower_p : nil,
                hasMonitor: message.hasHasMonitor_p ? message.hasMonitor_p : nil,
                availableOnly: message.availableOnly)
            let span = try window(
                try GRPCMapping.time(message.startTime, "start_time"), try GRPCMapping.time(message.endTime, "end_time")
            )
            let most = a.service.configuration.limits.seatPageSize
            func number(_ key: String, _ range: ClosedRange<Int>) throws(RPCError) -> Int? {
                guard let text = request.metadata[stringValues: key].first(where: { _ in true }) else { return nil }
                guard let n = Int(text), range.contains(n) else {
                    throw GRPCMapping.refusal(
                        .invalidArgument, "\(key) must be an integer in \(range.lowerBound)…\(range.upperBound)")
                }
                return n
            }
            let wanted = SeatPageRequest(
                limit: try number("dlsms-limit", 1...most) ?? most,
                offset: try number("dlsms-offset", 0...Int(Int32.max)) ?? 0,
                after: try number("dlsms-cursor", 0...Int(Int32.max)).map { SeatID($0) })
            let page = try await a.service.searchSeats(filter, start: span?.0, end: span?.1, page: wanted)
            var metadata: Metadata = ["dlsms-total": "\(page.total)"]
            if let next = page.next { metadata.addString("\(next)", forKey: "dlsms-next-cursor") }
            return ServerResponse(
                message: .with {
                    $0.seats = page.seats.map(a.seat)
                    $0.count = Int32(clamping: page.seats.count)
                }, metadata: metadata)
        }
    }

    package func getSeats(request: Library_GetSeatsRequest, context: ServerContext) async throws
        -> Library_GetSeatsResponse
    {
        try await getSeats(request: ServerRequest(metadata: [:], message: request), context: context).message
    }

    package func getSeat(request: Library_GetSeatRequest, context: ServerContext) async throws
        -> Library_GetSeatResponse
    {
        try await a.call {
            let id = try GRPCAdapter.positive(request.seatID, "seat")
            let now = a.engine.clock.now()
            let (view, _) = try await a.engine.seat(id, start: now, end: now + 1)
            return .with { $0.seat = a.seat(view) }
        }
    }

    package func checkAvailability(request: Library_CheckAvailabilityRequest, context: ServerContext) async throws
        -> Library_CheckAvailabilityResponse
    {
        try await a.call {
            let start = try GRPCMapping.requiredTime(request.startTime, "start_time")
            let end = try GRPCMapping.requiredTime(request.endTime, "end_time")
            guard end > start else { throw EngineError.invalidTimeRange }
            let id = try GRPCAdapter.positive(request.seatID, "seat")
            let (view, _) = try await a.engine.seat(id, start: start, end: end)
            return .with {
                $0.seatID = id
                $0.available = view.isAvailable
                $0.startTime = GRPCMapping.text(start)
                $0.endTime = GRPCMapping.text(end)
            }
        }
    }

    package func getBranches(request: Library_GetBranchesRequest, context: ServerContext) async throws
        -> Library_GetBranchesResponse
    {
        let branches = await a.engine.branches()
        return .with {
            $0.branches = branches.map { b in
                .with {
                    $0.branch = b.branch.name
                    $0.totalSeats = Int32(clamping: b.totalSeats)
                    $0.powerSeats = Int32(clamping: b.powerSeats)
                    $0.monitorSeats = Int32(clamping: b.monitorSeats)
                }
            }
        }
    }
}

// MARK: - ReservationService

package struct ReservationServiceHandler: Library_ReservationService.SimpleServiceProtocol {
    package let a: GRPCAdapter

    package func createReservation(request: Library_CreateReservationRequest, context: ServerContext) async throws
        -> Library_CreateReservationResponse
    {
        try await a.call {
            let caller = try GRPCCaller.require()
            let start = try GRPCMapping.requiredTime(request.startTime, "start_time")
            let end = try GRPCMapping.requiredTime(request.endTime, "end_time")
            let user = try caller.actingUser(request.userID, engine: a.engine)
            try a.service.bookingAttempt(user)
            // An admin's token naming another user books on the student's behalf (their policy applies).
            var staff: UserID?
            if case .token(let c) = caller, c.isAdmin, user != c.userID { staff = c.userID }
            let r = try await a.service.book(
                user: user, seat: request.seatID, start: start, end: end, staff: staff,
                actor: caller.auditActor(peer: context.remotePeer))
            let message = try a.reservation(r)
            return .with { $0.reservation = message }
        }
    }

    package func getReservation(request: Library_GetReservationRequest, context: ServerContext) async throws
        -> Library_GetReservationResponse
    {
        try await a.call {
            let caller = try GRPCCaller.require()
            let r = try await a.engine.reservation(
                id: ReservationID(try GRPCAdapter.positive(request.reservationID, "reservation")),
                requester: caller.requester)
            let detail = try await a.details([r])[0]
            return .with { $0.reservation = detail }
        }
    }

    package func checkIn(request: Library_CheckInRequest, context: ServerContext) async throws
        -> Library_CheckInResponse
    {
        try await a.call {
            let r = try await change(request.reservationID) { try await a.engine.checkIn(id: $0, requester: $1) }
            return .with { $0.reservation = r }
        }
    }

    package func cancelReservation(request: Library_CancelReservationRequest, context: ServerContext) async throws
        -> Library_CancelReservationResponse
    {
        try await a.call {
            let actor = try GRPCCaller.require().auditActor(peer: context.remotePeer)
            let r = try await change(request.reservationID) {
                try await a.service.cancel(id: $0, requester: $1, actor: actor)
            }
            return .with { $0.reservation = r }
        }
    }

    package func getUserReservations(request: Library_GetUserReservationsRequest, context: ServerContext) async throws
        -> Library_GetUserReservationsResponse
    {
        try await a.call {
            let caller = try GRPCCaller.require()
            let status = try parseStatus(request.status.isEmpty ? nil : request.status)
            let user = try caller.actingUser(request.userID, engine: a.engine)
            let page = await a.engine.reservations(
                of: user, status: status, upcomingOnly: request.upcomingOnly,
                limit: a.service.configuration.limits.pageSize)
            let list = try await a.details(page.items)
            return .with {
                $0.reservations = list
                $0.count = Int32(clamping: list.count)
            }
        }
    }

    private func change(
        _ id: Int32, _ body: (ReservationID, Requester) async throws -> Reservation
    ) async throws -> Library_Reservation {
        let caller = try GRPCCaller.require()
        let r = try await body(ReservationID(try GRPCAdapter.positive(id, "reservation")), caller.requester)
        return try a.reservation(r)
    }
}

// MARK: - NotifyService

package struct NotifyServiceHandler: Library_NotifyService.SimpleServiceProtocol {
    package let a: GRPCAdapter

    package func addToWaitlist(request: Library_AddToWaitlistRequest, context: ServerContext) async throws
        -> Library_AddToWaitlistResponse
    {
        try await a.call {
            let caller = try GRPCCaller.require()
            let target: WaitTarget
            switch (request.hasSeatID, request.branch.isEmpty) {
            case (true, true): target = .seat(request.seatID)
            case (false, false): target = .branch(request.branch)
            default: throw GRPCMapping.refusal(.invalidArgument, "give seat_id or branch (exactly one)")
            }
            let desired = try GRPCMapping.requiredTime(request.desiredTime, "desired_time")
            let user = try caller.actingUser(request.userID, engine: a.engine)
            let (entry, _) = try await a.engine.joinWaitlist(user: user, target: target, desired: desired)
            let message = try a.waitlistEntry(entry)
            return .with { $0.entry = message }
        }
    }

    package func getUserWaitlist(request: Library_GetUserWaitlistRequest, context: ServerContext) async throws
        -> Library_GetUserWaitlistResponse
    {
        try await a.call {
            let user = try GRPCCaller.require().actingUser(request.userID, engine: a.engine)
            let entries = try a.engine.waitlist(of: user).map { (e) throws(RPCError) in try a.waitlistEntry(e.entry) }
            return .with {
                $0.entries = entries
                $0.count = Int32(clamping: entries.count)
            }
        }
    }

    package func removeFromWaitlist(request: Library_RemoveFromWaitlistRequest, context: ServerContext) async throws
        -> Library_RemoveFromWaitlistResponse
    {
        try await a.call {
            let caller = try GRPCCaller.require()
            let id = try GRPCAdapter.positive(request.waitlistID, "waitlist entry")
            let entry = try await a.engine.leaveWaitlist(id: WaitlistEntryID(id), requester: caller.requester)
            return .with {
                $0.message = "Removed from waitlist (entry \(entry.id) is \(entry.status.name))"
                $0.id = id
            }
        }
    }

    /// Staff only: a message to the first student waiting for the seat (the entry keeps its place).
    package func notifyUsers(request: Library_NotifyUsersRequest, context: ServerContext) async throws
        -> Library_NotifyUsersResponse
    {
        try await a.call {
            try GRPCCaller.require().requireAdmin()
            let seat = try GRPCAdapter.positive(request.seatID, "seat")
            guard request.message.utf8.count <= 1_000 else {
                throw GRPCMapping.refusal(.invalidArgument, "the message is longer than 1000 bytes")
            }
            let message = request.message.isEmpty ? "Seat \(seat) may be free for you soon." : request.message
            guard let (_, user) = try await a.engine.messageFirstWaiting(seat: seat, message: message) else {
                return .with {
                    $0.notified = false
                    $0.message = "nobody is waiting for seat \(seat)"
                }
            }
            return .with {
                $0.notified = true
                $0.userID = user.id
                $0.studentID = user.studentID
                $0.message = message
            }
        }
    }
}

// MARK: - OperationService

/// The original's Raft demonstration; it has no booking meaning here.
package struct OperationServiceHandler: Library_OperationService.SimpleServiceProtocol {
    package func submitOperation(request: Library_OperationRequest, context: ServerContext) async throws
        -> Library_OperationResponse
    {
        throw GRPCMapping.refusal(
            .unimplemented,
            "OperationService (the original's Raft demonstration) is not implemented: DL-SMS is one process whose durability comes from its write-ahead log (fsync before every acknowledgement) and snapshots, not from a consensus log"
        )
    }
}
