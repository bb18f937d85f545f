import DLSMSCore
import DLSMSEngine
import Foundation
import Synchronization
import Testing

/// 2025-10-11T12:00:00Z, a fixed "now" for tests.
let testNow: Timestamp = 1_760_184_000
let minute = Seconds.minute
let hour = Seconds.hour

/// A seeded engine on a manual clock.
func makeEngine(
    shards: Int = 4, rules: BookingRules = .default, journal: any Journal = NullJournal()
) async throws -> (SeatEngine, ManualClock) {
    let clock = ManualClock(testNow)
    let engine = SeatEngine(
        configuration: EngineConfiguration(shardCount: shards, rules: rules), clock: clock, journal: journal)
    try await engine.seed(studentPasswordHash: "x", adminPasswordHash: "y")
    return (engine, clock)
}

/// An engine with `seats` seats in one branch and `users` students, no seed reservations.
func makeBareEngine(seats: Int, users: Int, shards: Int = 4, rules: BookingRules = .default) async throws -> (
    SeatEngine, ManualClock
) {
    let clock = ManualClock(testNow)
    let engine = SeatEngine(configuration: EngineConfiguration(shardCount: shards, rules: rules), clock: clock)
    try await engine.define(branch: Branch(name: "B", areas: ["A"]))
    for s in 1...seats {
        try await engine.define(
            seat: Seat(id: SeatID(s), branch: "B", area: "A", hasPower: s % 2 == 0, hasMonitor: false))
    }
    for u in 1...users { _ = try await engine.register(studentID: "U\(u)", name: "User \(u)", passwordHash: "") }
    return (engine, clock)
}

/// The engine's refusal of `body`, or `nil` if it succeeded.
func refusal<T>(_ body: () async throws -> T) async -> EngineError? {
    do {
        _ = try await body()
        return nil
    } catch let e as EngineError {
        return e
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

/// Records every appended record; optionally fails waits or appends from some point on.
final class RecordingJournal: Journal {
    struct Failing: CommitWaiter {
        func wait() async throws(EngineError) { throw .unavailable("storage failed") }
    }

    private let state = Mutex<(records: [JournalRecord], failWaits: Bool, failAppends: Bool)>(([], false, false))

    var records: [JournalRecord] { state.withLock { $0.records } }
    func failWaits(_ on: Bool) { state.withLock { $0.failWaits = on } }
    func failAppends(_ on: Bool) { state.withLock { $0.failAppends = on } }

    func append(_ record: JournalRecord) throws(EngineError) -> JournalTicket {
        let fail: (wait: Bool, append: Bool) = state.withLock { s in
            if !s.failAppends { s.records.append(record) }
            return (s.failWaits, s.failAppends)
        }
        if fail.append { throw .unavailable("storage failed") }
        return fail.wait ? JournalTicket(waiter: Failing()) : .durable
    }
}

/// A journal whose syncs can be held, then released all at once, succeeding or failing: the
/// moment between a change in memory and its durability, made observable.
final class GatedJournal: Journal, @unchecked Sendable {
    private struct State {
        var holding = false
        var waiting: [CheckedContinuation<Bool, Never>] = []
    }
    private let state = Mutex(State())

    struct Gate: CommitWaiter {
        let journal: GatedJournal
        func wait() async throws(EngineError) {
            let ok = await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                let now: Bool = journal.state.withLock { s in
                    guard s.holding else { return true }
                    s.waiting.append(c)
                    return false
                }
                if now { c.resume(returning: true) }
            }
            if !ok { throw .unavailable("storage failed") }
        }
    }

    var waiting: Int { state.withLock { $0.waiting.count } }
    func hold() { state.withLock { $0.holding = true } }

    func release(failing: Bool) {
        let all = state.withLock { s in
            s.holding = false
            defer { s.waiting = [] }
            return s.waiting
        }
        for c in all { c.resume(returning: !failing) }
    }

    func append(_ record: JournalRecord) throws(EngineError) -> JournalTicket {
        JournalTicket(waiter: Gate(journal: self))
    }
    func barrier() -> JournalTicket { JournalTicket(waiter: Gate(journal: self)) }
}
