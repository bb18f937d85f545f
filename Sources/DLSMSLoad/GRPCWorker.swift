import DLSMSCore
import DLSMSProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import NIOCore

/// `--grpc HOST:PORT`: the scenario's requests go to the gRPC door instead of REST (preparation
/// and the final read for the checker stay on REST). Each worker is one stream at a time, its
/// students' tokens in the `authorization` metadata; workers share a few HTTP/2 connections.
struct GRPCWorker: Sendable {
    let config: LoadTestConfiguration
    let fixture: Fixture
    let students: [Student]
    let seed: UInt64
    let reservations: Library_ReservationService.Client<HTTP2ClientTransport.Posix>
    let seats: Library_SeatService.Client<HTTP2ClientTransport.Posix>
    let recorder: Recorder
    let shared: Shared
    let origin: NIODeadline

    func run() async -> [Operation] {
        var rng = SplitMix64(seed: seed)
        var history: [Operation] = []
        let end = origin + .nanoseconds(Int64(config.duration * 1e9))
        let metadata = students.map { s -> Metadata in ["authorization": "Bearer \(s.token)"] }
        var next = 0
        while !shared.stop.load(ordering: .acquiring) {
            var intended = NIODeadline.now()
            if let rate = config.rate {
                let n = shared.ticket.wrappingAdd(1, ordering: .relaxed).oldValue
                intended = origin + .nanoseconds(Int64(Double(n) / rate * 1e9))
                if intended >= end { break }
                do { try await sleep(until: intended) } catch { break }
            }
            let s = next % students.count
            next += 1
            switch config.scenario {
            case .book, .release:  // validation keeps the release storm off gRPC
                let (seat, start, end) = Slots.slot(fixture, config, &rng, contended: true)
                let key = BookingKey(userID: students[s].userID, seatID: seat, start: start, end: end)
                let request = Library_CreateReservationRequest.with {
                    $0.seatID = Int32(seat)
                    $0.startTime = RFC3339.format(start)
                    $0.endTime = RFC3339.format(end)
                }
                let (sent, id) = await Self.outcome(success: 201) {
                    Int64(try await reservations.createReservation(request, metadata: metadata[s]).reservation.id)
                }
                recorder.record("book", intended: intended, end: .now(), sent)
                history.append(.book(key, sent.outcome, reservationID: id))
            case .search:
                let (_, start, end) = Slots.slot(fixture, config, &rng, contended: false)
                let area = fixture.areas[Int(rng.next() % UInt64(fixture.areas.count))]
                let power = rng.next() % 3 == 0
                let request = Library_GetSeatsRequest.with {
                    $0.branch = LoadTest.branch
                    $0.area = area
                    $0.availableOnly = true
                    $0.startTime = RFC3339.format(start)
                    $0.endTime = RFC3339.format(end)
                    if power { $0.hasPower_p = true }
                }
                let (sent, _) = await Self.outcome(success: 200) {
                    Int64(try await seats.getSeats(request, metadata: metadata[s]).count)
                }
                recorder.record("search", intended: intended, end: .now(), sent)
            case .mixed, .login, .extend, .move, .group:
                return history  // refused by validation
            }
        }
        return history
    }

    /// A call's result in the terms of the report and the checker: the HTTP status REST would
    /// have answered (so both doors report alike), the contract's code from the `dlsms-code`
    /// trailer; `UNAVAILABLE` and deadlines are unknown outcomes (the write may have happened).
    static func outcome(success: Int, _ call: () async throws -> Int64) async -> (Sent, Int64?) {
        do {
            let value = try await call()
            return (.reply(status: success, body: ByteBuffer()), value)
        } catch let e as RPCError {
            let code = e.metadata[stringValues: "dlsms-code"].first(where: { _ in true }) ?? "grpc_\(e.code)"
            let body = ByteBuffer(string: "{\"error\":\"\",\"code\":\(JSON.quote(code))}")
            switch e.code {
            case .invalidArgument, .failedPrecondition, .outOfRange: return (.reply(status: 400, body: body), nil)
            case .unauthenticated: return (.reply(status: 401, body: body), nil)
            case .permissionDenied: return (.reply(status: 403, body: body), nil)
            case .notFound: return (.reply(status: 404, body: body), nil)
            case .alreadyExists: return (.reply(status: 409, body: body), nil)
            case .resourceExhausted: return (.reply(status: code == "limit_reached" ? 409 : 429, body: body), nil)
            case .unavailable, .deadlineExceeded, .cancelled:
                return (.unknown("grpc \(e.code): \(e.message.prefix(80))"), nil)
            default: return (.reply(status: 500, body: body), nil)
            }
        } catch {
            return (.unknown("grpc: \(error)"), nil)
        }
    }

    /// Runs the workers over `channels` HTTP/2 connections to `host:port`.
    static func runAll(
        config: LoadTestConfiguration, fixture: Fixture, seed: UInt64, host: String, port: Int, recorder: Recorder,
        shared: Shared, origin: NIODeadline
    ) async throws -> [Operation] {
        let channels = config.grpcConnections ?? max(1, min(4, config.connections / 16))
        let clients = try (0..<channels).map { _ in
            GRPCClient(
                transport: try .http2NIOPosix(
                    target: .ipv4(address: host, port: port), transportSecurity: .plaintext,
                    config: .defaults { $0.connection.maxIdleTime = nil }))
        }
        return try await withThrowingTaskGroup(of: Void.self) { connections in
            for client in clients { connections.addTask { try await client.runConnections() } }
            var rng = SplitMix64(seed: seed)
            let all = await withTaskGroup(of: [Operation].self) { group in
                for w in 0..<config.connections {
                    let own = stride(from: w, to: fixture.students.count, by: config.connections).map {
                        fixture.students[$0]
                    }
                    let client = clients[w % channels]
                    let worker = GRPCWorker(
                        config: config, fixture: fixture, students: own, seed: rng.next(),
                        reservations: .init(wrapping: client), seats: .init(wrapping: client), recorder: recorder,
                        shared: shared, origin: origin)
                    group.addTask { await worker.run() }
                }
                return await group.reduce(into: [Operation]()) { $0 += $1 }
            }
            for client in clients { client.beginGracefulShutdown() }
            try await connections.waitForAll()
            return all
        }
    }
}
