import DLSMSCore
import DLSMSEngine
import DLSMSProto
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import Logging
import Synchronization
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

/// The stubs of every service over one loopback connection, and the tokens of the seed accounts.
struct GRPCStubs: Sendable {
    let auth: Library_AuthService.Client<HTTP2ClientTransport.Posix>
    let seats: Library_SeatService.Client<HTTP2ClientTransport.Posix>
    let reservations: Library_ReservationService.Client<HTTP2ClientTransport.Posix>
    let notify: Library_NotifyService.Client<HTTP2ClientTransport.Posix>
    let operation: Library_OperationService.Client<HTTP2ClientTransport.Posix>
    let port: Int

    init(_ client: GRPCClient<HTTP2ClientTransport.Posix>, port: Int) {
        auth = .init(wrapping: client)
        seats = .init(wrapping: client)
        reservations = .init(wrapping: client)
        notify = .init(wrapping: client)
        operation = .init(wrapping: client)
        self.port = port
    }

    func book(_ seat: Int32, _ start: Timestamp, _ end: Timestamp, metadata: Metadata) async throws
        -> Library_Reservation
    {
        try await reservations.createReservation(
            .with {
                $0.seatID = seat
                $0.startTime = naive(start)
                $0.endTime = naive(end)
            }, metadata: metadata
        ).reservation
    }

    func token(_ studentID: String, _ password: String = "password123") async throws -> Metadata {
        let r = try await auth.login(
            .with {
                $0.studentID = studentID
                $0.password = password
            })
        return ["authorization": "Bearer \(r.token)"]
    }
}

/// A seeded service (manual clock at ``t0``) with its gRPC door on a free loopback port, and a
/// client connected to it; both stop at the end.
func withGRPC(
    _ configure: Configure = Configure { _ in },
    io: any StorageIO = PosixIO(),
    _ body: @escaping @Sendable (GRPCStubs, LibraryService, ManualClock) async throws -> Void
) async throws {
    let dir = temporaryDirectory()
    defer { cleanup(dir) }
    var config = testConfiguration(dir)
    config.grpc.port = 0
    configure.apply(&config)
    let clock = ManualClock(t0)
    let service = try await DLSMSServer.makeNode(
        config, clock: clock, io: io, logger: Logger(label: "test"), announce: { _ in }
    ).service
    let door = GRPCFrontEndService(
        service: service, grpc: config.grpc, logger: Logger(label: "test"), announce: { _ in })
    try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await door.server.serve() }
        let port = try #require(try await door.server.transport.listeningAddress.ipv4?.port)
        try await withGRPCClient(
            transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
        ) { client in
            try await body(GRPCStubs(client, port: port), service, clock)
        }
        door.server.beginGracefulShutdown()
    }
    await service.durable.close(finalSnapshot: false)
}

/// The status of the call's refusal (`nil` when it succeeded).
func status(_ call: () async throws -> Void) async -> RPCError.Code? {
    do {
        try await call()
        return nil
    } catch let e as RPCError {
        return e.code
    } catch {
        return .unknown
    }
}

/// An HPACK string length with a 7-bit prefix (RFC 7541 §5.1).
func hpackLength(_ n: Int) -> [UInt8] {
    guard n >= 127 else { return [UInt8(n)] }
    var out: [UInt8] = [127]
    var rest = n - 127
    while rest >= 128 {
        out.append(UInt8(rest % 128 + 128))
        rest /= 128
    }
    return out + [UInt8(rest)]
}

/// An HTTP/2 frame (RFC 9113 §4.1).
func frame(type: UInt8, flags: UInt8, stream: UInt32, _ payload: [UInt8]) -> [UInt8] {
    let n = payload.count
    return [UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff), type, flags]
        + [UInt8(stream >> 24 & 0x7f), UInt8(stream >> 16 & 0xff), UInt8(stream >> 8 & 0xff), UInt8(stream & 0xff)]
        + payload
}

/// The type and stream of each whole frame in bytes received after the server's preface.
func frames(_ bytes: [UInt8]) -> [(type: UInt8, stream: UInt32)] {
    var out: [(UInt8, UInt32)] = []
    var i = 0
    while i + 9 <= bytes.count {
        let length = Int(bytes[i]) << 16 | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2])
        guard i + 9 + length <= bytes.count else { break }
        let stream =
            UInt32(bytes[i + 5] & 0x7f) << 24 | UInt32(bytes[i + 6]) << 16 | UInt32(bytes[i + 7]) << 8
            | UInt32(bytes[i + 8])
        out.append((bytes[i + 3], stream))
        i += 9 + length
    }
    return out
}

/// The original's time form: naive ISO 8601, UTC.
func naive(_ t: Timestamp) -> String { String(RFC3339.format(t).dropLast()) }

@Suite struct GRPCAuthTests {
    @Test func loginRegisterAndVerify() async throws {
        try await withGRPC { g, _, _ in
            let login = try await g.auth.login(
                .with {
                    $0.studentID = "S2021001"
                    $0.password = "password123"
                })
            #expect(login.userID == 1 && login.studentID == "S2021001" && login.name == "Alice Johnson")
            let verified = try await g.auth.verify(.with { $0.token = login.token })
            #expect(verified.valid && verified.userID == 1 && verified.studentID == "S2021001")
            #expect(try await g.auth.verify(.with { $0.token = login.token + "x" }).valid == false)
            #expect(try await g.auth.verify(.with { $0.token = "" }).valid == false)

            let wrong = await status {
                _ = try await g.auth.login(
                    .with {
                        $0.studentID = "S2021001"
                        $0.password = "wrong-password"
                    })
            }
            #expect(wrong == .unauthenticated)

            let registered = try await g.auth.register(
                .with {
                    $0.studentID = "S2030001"
                    $0.password = "a-good-password"
                    $0.name = "Grace Hopper"
                })
            #expect(registered.studentID == "S2030001" && registered.name == "Grace Hopper" && registered.userID > 11)
            #expect(try await g.auth.verify(.with { $0.token = registered.token }).userID == registered.userID)
            let again = await status {
                _ = try await g.auth.register(
                    .with {
                        $0.studentID = "S2030001"
                        $0.password = "a-good-password"
                    })
            }
            #expect(again == .alreadyExists)
            let weak = await status {
                _ = try await g.auth.register(
                    .with {
                        $0.studentID = "S2030002"
                        $0.password = "short"
                    })
            }
            #expect(weak == .invalidArgument)
            let empty = await status { _ = try await g.auth.register(.with { $0.studentID = "S2030003" }) }
            #expect(empty == .invalidArgument)
        }
    }

    @Test func registrationClosedIsPermissionDenied() async throws {
        try await withGRPC(Configure { $0.selfRegistration = false }) { g, _, _ in
            let closed = await status {
                _ = try await g.auth.register(
                    .with {
                        $0.studentID = "S2030001"
                        $0.password = "a-good-password"
                    })
            }
            #expect(closed == .permissionDenied)
        }
    }

    /// The same limits as REST: after 5 failures for one student id in a minute, even the right
    /// password is refused for the rest of the minute.
    @Test func loginFailuresAreRateLimited() async throws {
        try await withGRPC { g, _, clock in
            for _ in 0..<5 {
                let s = await status {
                    _ = try await g.auth.login(
                        .with {
                            $0.studentID = "S2021002"
                            $0.password = "wrong-password"
                        })
                }
                #expect(s == .unauthenticated)
            }
            let limited = await status { _ = try await g.token("S2021002") }
            #expect(limited == .resourceExhausted)
            clock.advance(by: 61)
            _ = try await g.token("S2021002")
        }
    }

    @Test func everyOtherCallNeedsAValidToken() async throws {
        try await withGRPC { g, service, _ in
            #expect(await status { _ = try await g.seats.getBranches(.init()) } == .unauthenticated)
            #expect(
                await status {
                    _ = try await g.seats.getBranches(.init(), metadata: ["authorization": "Bearer nonsense"])
                }
                    == .unauthenticated)
            #expect(
                await status { _ = try await g.seats.getBranches(.init(), metadata: ["authorization": "Basic abc"]) }
                    == .unauthenticated)
            let token = try await g.token("S2021003")
            #expect(try await g.seats.getBranches(.init(), metadata: token).branches.count == 3)
            // A disabled account's token stops working at once.
            _ = try await service.engine.updateUser(id: 3) { $0.disabled = true }
            #expect(await status { _ = try await g.seats.getBranches(.init(), metadata: token) } == .unauthenticated)
        }
    }

    /// A student acts only for themselves; an admin for anyone.
    @Test func aStudentCannotActForAnotherUserID() async throws {
        try await withGRPC { g, _, _ in
            let alice = try await g.token("S2021001")
            let forBob = await status {
                _ = try await g.reservations.getUserReservations(.with { $0.userID = 2 }, metadata: alice)
            }
            #expect(forBob == .permissionDenied)
            let booking = await status {
                _ = try await g.reservations.createReservation(
                    .with {
                        $0.userID = 2
                        $0.seatID = 10
                        $0.startTime = naive(t0 + 3_600)
                        $0.endTime = naive(t0 + 7_200)
                    }, metadata: alice)
            }
            #expect(booking == .permissionDenied)
            let waiting = await status {
                _ = try await g.notify.addToWaitlist(
                    .with {
                        $0.userID = 2
                        $0.seatID = 1
                        $0.desiredTime = naive(t0 + 3_600)
                    }, metadata: alice)
            }
            #expect(waiting == .permissionDenied)
            // user_id 0 (unset) means the caller.
            let own = try await g.reservations.getUserReservations(.init(), metadata: alice)
            #expect(own.reservations.allSatisfy { $0.userID == 1 } && own.count > 0)

            let admin = try await g.token("admin", "admin-password")
            let bobs = try await g.reservations.getUserReservations(.with { $0.userID = 2 }, metadata: admin)
            #expect(bobs.count > 0 && bobs.reservations.allSatisfy { $0.userID == 2 && $0.studentID == "S2021002" })
            let nobody = await status {
                _ = try await g.reservations.getUserReservations(.with { $0.userID = 999 }, metadata: admin)
            }
            #expect(nobody == .notFound)
        }
    }

    @Test func operationServiceIsUnimplementedAndSaysWhy() async throws {
        try await withGRPC { g, _, _ in
            do {
                _ = try await g.operation.submitOperation(.with { $0.operation = "SET x 1" })
                Issue.record("SubmitOperation answered")
            } catch let e as RPCError {
                #expect(e.code == .unimplemented && e.message.contains("write-ahead log"))
            }
        }
    }

    /// A request larger than 64 KiB is refused before it is handled (grpc-swift's decoder resets the
    /// stream; the client reports CANCELLED, UNAVAILABLE or RESOURCE_EXHAUSTED depending on when):
    /// never evaluated as a login, and the server goes on serving.
    @Test func oversizedMessagesAreRefused() async throws {
        try await withGRPC { g, service, _ in
            var refusal: RPCError?
            do {
                _ = try await g.auth.login(
                    .with {
                        $0.studentID = "S2021001"
                        $0.password = String(repeating: "x", count: 100_000)
                    })
            } catch let e as RPCError {
                refusal = e
            }
            #expect(
                refusal?.code == .resourceExhausted || refusal?.code == .unavailable, "\(String(describing: refusal))")
            #expect(service.loginLimiter.count("id:S2021001", now: t0) == 0, "the oversized login was evaluated")
            _ = try await g.token("S2021001")
        }
    }
}

@Suite struct GRPCAbuseTests {
    /// gRPC connections count against the same caps as REST's: one beyond the per-address cap is
    /// closed at once.
    @Test func connectionsBeyondTheCapAreClosed() async throws {
        try await withGRPC(Configure { $0.limits.connectionsPerAddress = 3 }) { g, service, _ in
            _ = try await g.token("S2021001")  // the test's client holds one connection
            // Three more: two fit, one is closed (which one depends on the order the event loops
            // take them up).
            let raw = try (0..<3).map { _ in try #require(RawConnection(port: g.port)) }
            // The one over the cap is closed at once; a generous deadline for a loaded machine,
            // then three seconds' look at the others (they stay open).
            var closed = Set<Int>()
            let deadline = ContinuousClock.now + .seconds(30)
            while closed.isEmpty && ContinuousClock.now < deadline {
                for (i, c) in raw.enumerated() where await c.closedByPeer(timeout: 0.2) { closed.insert(i) }
            }
            for (i, c) in raw.enumerated() where !closed.contains(i) {
                if await c.closedByPeer(timeout: 3) { closed.insert(i) }
            }
            #expect(closed.count == 1)
            #expect(service.connections.count == 3)
        }
    }

    /// A connection that never sends a byte is closed after the idle timeout and its grace,
    /// though it never answers the GOAWAY.
    @Test func aSilentConnectionIsClosed() async throws {
        try await withGRPC(Configure { $0.limits.idleTimeout = .seconds(1) }) { g, _, _ in
            // A call, so that the client has started (withGRPCClient needs it started before the
            // body ends). Its outcome does not matter: on a loaded machine the client's own
            // connection may idle past the one-second timeout and be closed under it.
            _ = try? await g.token("S2021001")
            let silent = try #require(RawConnection(port: g.port))
            #expect(await silent.closedByPeer(timeout: 15))
        }
    }

    /// A call whose request never ends (headers sent, the message never) is reset after the
    /// request timeout instead of holding its stream and memory. Spoken in raw HTTP/2, as such a
    /// client would: the preface, empty SETTINGS, and HEADERS for `GetBranches` without END_STREAM.
    @Test func aRequestThatNeverArrivesIsReset() async throws {
        try await withGRPC(Configure { $0.limits.requestTimeout = .seconds(1) }) { g, _, _ in
            let token = try #require(try await g.token("S2021001")[stringValues: "authorization"].first { _ in true })
            let raw = try #require(RawConnection(port: g.port))
            var block: [UInt8] = []
            for (name, value) in [
                (":method", "POST"), (":scheme", "http"), (":path", "/library.SeatService/GetBranches"),
                (":authority", "127.0.0.1"), ("content-type", "application/grpc"), ("te", "trailers"),
                ("authorization", token),
            ] {
                block.append(0)  // a literal field, not indexed, no Huffman coding
                block += hpackLength(name.utf8.count) + Array(name.utf8)
                block += hpackLength(value.utf8.count) + Array(value.utf8)
            }
            raw.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            raw.send(bytes: frame(type: 4, flags: 0, stream: 0, []))  // SETTINGS
            raw.send(bytes: frame(type: 1, flags: 4, stream: 1, block))  // HEADERS, END_HEADERS only
            let started = ContinuousClock.now
            let received = await raw.readBytes(timeout: 30) { bytes in
                frames(bytes).contains { $0.type == 3 && $0.stream == 1 }  // RST_STREAM on the call
            }
            #expect(frames(received).contains { $0.type == 3 && $0.stream == 1 }, "\(frames(received))")
            #expect(ContinuousClock.now - started < .seconds(30))
        }
    }

    @Test func echoedInputAndTimesStayInBounds() async throws {
        try await withGRPC { g, _, _ in
            let token = try await g.token("S2021001")
            do {
                _ = try await g.reservations.getUserReservations(
                    .with { $0.status = String(repeating: "y", count: 60_000) }, metadata: token)
                Issue.record("an unknown status was accepted")
            } catch let e as RPCError {
                #expect(e.code == .invalidArgument && e.message.count < 400)
                #expect(e.metadata[stringValues: "dlsms-code"].first(where: { _ in true }) == "bad_request")
            }
            for time in ["9999-12-31T23:00:00-23:59", "1970-01-01T00:00:00+23:59"] {
                let s = await status {
                    _ = try await g.seats.checkAvailability(
                        .with {
                            $0.seatID = 1
                            $0.startTime = naive(t0)
                            $0.endTime = time
                        }, metadata: token)
                }
                #expect(s == .invalidArgument, "\(time)")
            }
            // Refusals made by the adapter itself carry the machine code too.
            do {
                _ = try await g.reservations.getUserReservations(.with { $0.userID = 2 }, metadata: token)
            } catch let e as RPCError {
                #expect(e.metadata[stringValues: "dlsms-code"].first(where: { _ in true }) == "forbidden")
            }
        }
    }

    /// An admin still reads a disabled student's reservations, as over REST.
    @Test func anAdminReadsADisabledAccount() async throws {
        try await withGRPC { g, service, _ in
            let admin = try await g.token("admin", "admin-password")
            _ = try await service.engine.updateUser(id: 4) { $0.disabled = true }
            let list = try await g.reservations.getUserReservations(.with { $0.userID = 4 }, metadata: admin)
            #expect(list.count > 0)
        }
    }

    @Test func theTwoDoorsNeedTwoPorts() {
        #expect(throws: ConfigurationError.self) {
            try ServerSettings.parse(arguments: ["--port", "8181", "--grpc-port", "8181"], environment: [:])
        }
        #expect(throws: Never.self) {
            try ServerSettings.parse(arguments: ["--port", "0", "--grpc-port", "0"], environment: [:])
        }
    }
}

@Suite struct GRPCSeatTests {
    @Test func seatsBranchesAndAvailability() async throws {
        try await withGRPC { g, service, _ in
            let token = try await g.token("S2021004")
            // available_only defaults to false, as in the original: every seat.
            let all = try await g.seats.getSeats(.init(), metadata: token)
            #expect(all.count == 50 && all.seats.map(\.id) == Array(1...50))
            let rest = await service.engine.searchSeats(SeatFilter(hasPower: true, availableOnly: false))
            let powered = try await g.seats.getSeats(.with { $0.hasPower_p = true }, metadata: token)
            #expect(powered.seats.map(\.id) == rest.map(\.seat.id) && powered.seats.allSatisfy(\.hasPower_p))
            let main = try await g.seats.getSeats(
                .with {
                    $0.branch = "Main Library"
                    $0.area = "Group Study Zone"
                }, metadata: token)
            #expect(main.seats.map(\.id) == Array(16...25))
            // Seat 1 is user 1's from +1 h to +3 h (seed): not available in that window.
            let window = try await g.seats.getSeats(
                .with {
                    $0.availableOnly = true
                    $0.startTime = naive(t0 + 3_600)
                    $0.endTime = naive(t0 + 7_200)
                }, metadata: token)
            #expect(!window.seats.contains { $0.id == 1 } && window.seats.contains { $0.id == 3 })

            for (start, end) in [("", naive(t0)), (naive(t0 + 60), naive(t0)), ("tomorrow", naive(t0))] {
                let s = await status {
                    _ = try await g.seats.getSeats(
                        .with {
                            $0.startTime = start
                            $0.endTime = end
                        }, metadata: token)
                }
                #expect(s == .invalidArgument, "\(start)…\(end)")
            }

            let seat = try await g.seats.getSeat(.with { $0.seatID = 26 }, metadata: token)
            #expect(seat.seat.branch == "Science Library" && seat.seat.status == "OCCUPIED" && !seat.seat.isAvailable)
            for id: Int32 in [0, -1, 51] {
                #expect(
                    await status { _ = try await g.seats.getSeat(.with { $0.seatID = id }, metadata: token) }
                        == .notFound)
            }

            let busy = try await g.seats.checkAvailability(
                .with {
                    $0.seatID = 1
                    $0.startTime = naive(t0 + 7_200)
                    $0.endTime = "\(naive(t0 + 9_000)).123456"
                }, metadata: token)
            #expect(!busy.available && busy.startTime == naive(t0 + 7_200) && busy.endTime == naive(t0 + 9_000))
            let free = try await g.seats.checkAvailability(
                .with {
                    $0.seatID = 1
                    $0.startTime = naive(t0 + 3 * 3_600)
                    $0.endTime = naive(t0 + 4 * 3_600)
                }, metadata: token)
            #expect(free.available)
            let missing = await status {
                _ = try await g.seats.checkAvailability(.with { $0.seatID = 1 }, metadata: token)
            }
            #expect(missing == .invalidArgument)

            let branches = try await g.seats.getBranches(.init(), metadata: token).branches
            let summary = await service.engine.branches()
            #expect(branches.map(\.branch) == summary.map(\.branch.name))
            #expect(branches.map(\.totalSeats) == summary.map { Int32($0.totalSeats) })
            #expect(branches.map(\.powerSeats) == summary.map { Int32($0.powerSeats) })
            #expect(branches.map(\.monitorSeats) == summary.map { Int32($0.monitorSeats) })
        }
    }
}

@Suite struct GRPCReservationTests {
    @Test func bookReadCheckInCancel() async throws {
        try await withGRPC { g, _, clock in
            let token = try await g.token("S2021005")
            let book = { @Sendable (seat: Int32, start: Timestamp, end: Timestamp) async throws in
                try await g.book(seat, start, end, metadata: token)
            }
            let r = try await book(10, t0 + 600, t0 + 3_600)
            #expect(r.userID == 5 && r.seatID == 10 && r.status == "CONFIRMED")
            #expect(r.startTime == naive(t0 + 600) && r.endTime == naive(t0 + 3_600) && r.checkedInAt == "")
            #expect(r.createdAt == naive(t0))

            // The refusals, each with its status.
            #expect(await status { _ = try await book(10, t0 + 1_800, t0 + 5_400) } == .alreadyExists)
            #expect(await status { _ = try await book(11, t0 - 3_600, t0 - 1_800) } == .invalidArgument)
            #expect(await status { _ = try await book(11, t0 + 3_600, t0 + 3_600) } == .invalidArgument)
            #expect(await status { _ = try await book(99, t0 + 3_600, t0 + 7_200) } == .notFound)
            let noTimes = await status {
                _ = try await g.reservations.createReservation(.with { $0.seatID = 11 }, metadata: token)
            }
            #expect(noTimes == .invalidArgument)
            // User 5 holds one seed reservation and this one: one more is allowed, then the limit.
            _ = try await book(12, t0 + 7_200, t0 + 9_000)
            #expect(await status { _ = try await book(13, t0 + 10_000, t0 + 12_000) } == .resourceExhausted)

            let detail = try await g.reservations.getReservation(.with { $0.reservationID = r.id }, metadata: token)
            #expect(detail.reservation.branch == "Main Library" && detail.reservation.area == "Silent Study Zone")
            #expect(detail.reservation.studentID == "S2021005" && detail.reservation.userName == "Eve Adams")
            #expect(detail.reservation.id == r.id && detail.reservation.status == "CONFIRMED")
            let other = try await g.token("S2021006")
            let foreign = await status {
                _ = try await g.reservations.getReservation(.with { $0.reservationID = r.id }, metadata: other)
            }
            #expect(foreign == .notFound)
            #expect(
                await status {
                    _ = try await g.reservations.getReservation(.with { $0.reservationID = 0 }, metadata: token)
                } == .notFound)

            // Check-in opens 15 minutes before the start: open for the booking at +10 min, not yet for +2 h.
            let later = try await g.reservations.getUserReservations(
                .with { $0.upcomingOnly = true }, metadata: token)
            #expect(later.count == 3 && later.reservations.map(\.id).sorted().contains(r.id))
            let early = await status {
                _ = try await g.reservations.checkIn(
                    .with { $0.reservationID = later.reservations.first { $0.seatID == 12 }!.id }, metadata: token)
            }
            #expect(early == .failedPrecondition)
            let checkedIn = try await g.reservations.checkIn(.with { $0.reservationID = r.id }, metadata: token)
            #expect(checkedIn.reservation.status == "CHECKED_IN" && checkedIn.reservation.checkedInAt == naive(t0))

            // Cancelling a checked-in reservation ends it (as checkout); then it cannot change again.
            clock.advance(by: 900)
            let ended = try await g.reservations.cancelReservation(.with { $0.reservationID = r.id }, metadata: token)
            #expect(ended.reservation.status == "COMPLETED" && ended.reservation.endTime == naive(t0 + 900))
            let twice = await status {
                _ = try await g.reservations.cancelReservation(.with { $0.reservationID = r.id }, metadata: token)
            }
            #expect(twice == .failedPrecondition)

            let completed = try await g.reservations.getUserReservations(
                .with { $0.status = "completed" }, metadata: token)
            #expect(completed.reservations.map(\.id) == [r.id])
            let bad = await status {
                _ = try await g.reservations.getUserReservations(.with { $0.status = "DONE" }, metadata: token)
            }
            #expect(bad == .invalidArgument)
        }
    }

    /// Many clients on the same seat and slot at once: exactly one wins, the rest hear ALREADY_EXISTS.
    @Test func concurrentBookingsOfOneSlotHaveOneWinner() async throws {
        try await withGRPC { g, service, _ in
            let admin = try await g.token("admin", "admin-password")
            let outcomes = await withTaskGroup(of: RPCError.Code?.self) { group in
                for k in 0..<40 {
                    group.addTask {
                        await status {
                            _ = try await g.reservations.createReservation(
                                .with {
                                    $0.userID = Int32(1 + k % 10)
                                    $0.seatID = 40
                                    $0.startTime = naive(t0 + 3_600)
                                    $0.endTime = naive(t0 + 7_200)
                                }, metadata: admin)
                        }
                    }
                }
                return await group.reduce(into: [RPCError.Code?]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == nil }.count == 1, "\(outcomes)")
            #expect(outcomes.filter { $0 == .alreadyExists }.count == 39, "\(outcomes)")
            let held = await service.engine.allReservations(matching: ReservationFilter(seatID: 40)).items
            #expect(held.filter(\.status.holdsSeat).count == 1)
        }
    }

    @Test func storageFailureIsUnavailable() async throws {
        let io = FaultyIO()
        try await withGRPC(io: io) { g, _, _ in
            let token = try await g.token("S2021007")
            io.failFromNowOn()
            do {
                _ = try await g.reservations.createReservation(
                    .with {
                        $0.seatID = 20
                        $0.startTime = naive(t0 + 3_600)
                        $0.endTime = naive(t0 + 7_200)
                    }, metadata: token)
                Issue.record("a booking was acknowledged over a failed log")
            } catch let e as RPCError {
                #expect(e.code == .unavailable && !e.message.contains("/"))
                #expect(e.metadata[stringValues: "dlsms-code"].first(where: { _ in true }) == "unavailable")
            }
        }
    }
}

@Suite struct GRPCWaitlistTests {
    @Test func joinListLeaveAndNotify() async throws {
        try await withGRPC { g, service, _ in
            let token = try await g.token("S2021009")
            let entry = try await g.notify.addToWaitlist(
                .with {
                    $0.seatID = 2
                    $0.desiredTime = naive(t0 + 2 * 3_600)
                }, metadata: token
            ).entry
            #expect(entry.userID == 9 && entry.hasSeatID && entry.seatID == 2 && entry.branch == "")
            #expect(entry.desiredTime == naive(t0 + 2 * 3_600) && entry.createdAt == naive(t0))
            let branch = try await g.notify.addToWaitlist(
                .with {
                    $0.branch = "Science Library"
                    $0.desiredTime = naive(t0 + 5 * 3_600)
                }, metadata: token
            ).entry
            #expect(!branch.hasSeatID && branch.branch == "Science Library")
            let both = await status {
                _ = try await g.notify.addToWaitlist(
                    .with {
                        $0.seatID = 2
                        $0.branch = "Main Library"
                        $0.desiredTime = naive(t0 + 3_600)
                    }, metadata: token)
            }
            #expect(both == .invalidArgument)
            let unknown = await status {
                _ = try await g.notify.addToWaitlist(
                    .with {
                        $0.branch = "Nowhere"
                        $0.desiredTime = naive(t0 + 3_600)
                    }, metadata: token)
            }
            #expect(unknown == .notFound)
            let past = await status {
                _ = try await g.notify.addToWaitlist(
                    .with {
                        $0.seatID = 3
                        $0.desiredTime = naive(t0 - 3_600)
                    }, metadata: token)
            }
            #expect(past == .invalidArgument)

            let mine = try await g.notify.getUserWaitlist(.init(), metadata: token)
            #expect(mine.count == 2 && Set(mine.entries.map(\.id)) == [entry.id, branch.id])

            // NotifyUsers: staff only; it reaches the first in line for the seat (user 7 from the
            // seed waits for seat 2 before user 9).
            let student = await status {
                _ = try await g.notify.notifyUsers(.with { $0.seatID = 2 }, metadata: token)
            }
            #expect(student == .permissionDenied)
            let admin = try await g.token("admin", "admin-password")
            let sent = try await g.notify.notifyUsers(
                .with {
                    $0.seatID = 2
                    $0.message = "Seat 2 frees at noon"
                }, metadata: admin)
            #expect(sent.notified && sent.userID == 7 && sent.studentID == "S2021007")
            let received = service.engine.notifications.list(user: 7)
            #expect(received.last?.kind == .staffMessage && received.last?.message == "Seat 2 frees at noon")
            let nobody = try await g.notify.notifyUsers(.with { $0.seatID = 30 }, metadata: admin)
            #expect(!nobody.notified && nobody.userID == 0)
            #expect(
                await status { _ = try await g.notify.notifyUsers(.with { $0.seatID = 77 }, metadata: admin) }
                    == .notFound)

            let removed = try await g.notify.removeFromWaitlist(.with { $0.waitlistID = entry.id }, metadata: token)
            #expect(removed.id == entry.id && removed.message.contains("CANCELLED"))
            #expect(try await g.notify.getUserWaitlist(.init(), metadata: token).entries.count == 2)  // kept, cancelled
            let other = try await g.token("S2021010")
            let foreign = await status {
                _ = try await g.notify.removeFromWaitlist(.with { $0.waitlistID = branch.id }, metadata: other)
            }
            #expect(foreign == .notFound)
            #expect(
                await status {
                    _ = try await g.notify.removeFromWaitlist(.with { $0.waitlistID = 9_999 }, metadata: token)
                } == .notFound)
        }
    }
}

@Suite struct GRPCCompatibilityTests {
    /// With the switch, the original's calls (no token, a user_id) act for that user.
    @Test func trustModeActsForTheNamedUser() async throws {
        try await withGRPC(Configure { $0.grpc.trustUserID = true }) { g, _, _ in
            let r = try await g.reservations.createReservation(
                .with {
                    $0.userID = 4
                    $0.seatID = 30
                    $0.startTime = naive(t0 + 8 * 3_600)
                    $0.endTime = naive(t0 + 9 * 3_600)
                })
            #expect(r.reservation.userID == 4)
            #expect(
                try await g.reservations.getReservation(.with { $0.reservationID = r.reservation.id }).reservation
                    .studentID == "S2021004")
            #expect(await status { _ = try await g.reservations.getUserReservations(.init()) } == .invalidArgument)
            #expect(
                await status { _ = try await g.reservations.getUserReservations(.with { $0.userID = 404 }) }
                    == .notFound)
            // A bad token is refused even here.
            #expect(
                await status { _ = try await g.seats.getBranches(.init(), metadata: ["authorization": "Bearer x"]) }
                    == .unauthenticated)
        }
    }

    @Test func trustModeIsRefusedOffLoopback() throws {
        for host in ["0.0.0.0", "192.168.1.5", "::"] {
            #expect(throws: ConfigurationError.self) {
                try ServerSettings.parse(
                    arguments: ["--grpc-host", host, "--grpc-trust-user-id", "true"], environment: [:])
            }
        }
        for host in ["127.0.0.1", "127.1.2.3", "::1"] {
            let parsed = try ServerSettings.parse(
                arguments: ["--grpc-host", host, "--grpc-trust-user-id", "true"], environment: [:])
            #expect(parsed.configuration.grpc.trustUserID)
        }
        #expect(throws: ConfigurationError.self) {
            try ServerSettings.parse(arguments: ["--grpc-host", "localhost"], environment: [:])
        }
        // Off, the switch does not matter.
        _ = try ServerSettings.parse(
            arguments: ["--grpc", "false", "--grpc-host", "0.0.0.0", "--grpc-trust-user-id", "true"], environment: [:])
    }

    @Test func peerAddressesKeyTheRateLimits() {
        #expect(GRPCMapping.clientAddress("ipv4:127.0.0.1:53412") == "127.0.0.1")
        #expect(GRPCMapping.clientAddress("ipv6:[::1]:53412") == TrustedProxies.key("::1"))
        #expect(GRPCMapping.text(nil) == "" && GRPCMapping.text(t0) == "2025-10-11T12:00:00")
    }
}
