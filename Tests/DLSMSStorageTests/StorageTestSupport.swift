import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Synchronization
import Testing

let t0: Timestamp = 1_760_184_000

/// A small catalog: one branch, `seats` seats, `users` students.
@Sendable func seedSmall(_ engine: SeatEngine, seats: Int = 20, users: Int = 10) async throws {
    try await engine.define(branch: Branch(name: "B", areas: ["A"]))
    for s in 1...seats {
        try await engine.define(
            seat: Seat(id: SeatID(s), branch: "B", area: "A", hasPower: s % 2 == 0, hasMonitor: false))
    }
    for u in 1...users { _ = try await engine.register(studentID: "U\(u)", name: "User \(u)", passwordHash: "h\(u)") }
}

/// Everything observable of an engine's state, for equality checks.
struct Observed: Equatable {
    var reservations: [Reservation]
    var waitlist: [WaitlistEntry]
    var users: [User]
    var notifications: [[UserNotification]]
    var branches: [Branch]
    var seats: [SeatView]

    init(_ engine: SeatEngine) async {
        reservations = await engine.allReservations(limit: .max).items
        waitlist = engine.allWaitlistEntries
        users = engine.allUsers
        notifications = engine.allUsers.map { engine.notifications.list(user: $0.id) }
        branches = engine.branchList
        seats = await engine.searchSeats(SeatFilter(), start: t0, end: t0 + 1)
    }
}

final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
}
