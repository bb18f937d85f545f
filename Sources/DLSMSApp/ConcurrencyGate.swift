import Synchronization

/// Lets at most `width` tasks through at once; up to `queue` more wait in line, suspended
/// (holding no thread), and go in the order they came; beyond that, or for a task cancelled while
/// it waits (its client gone), `run` throws without running. Seat searches go through one: a
/// large search is milliseconds of CPU, and a crowd of them in the runtime's queue made every cheap
/// request (a student's own reservations) wait behind all of them; in line behind the gate they
/// wait for their own turn only.
public final class ConcurrencyGate: Sendable {
    private struct State {
        var running = 0
        var waiting: [(id: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
        var head = 0
        var nextID: UInt64 = 0
        var waitingCount: Int { waiting.count - head }
    }

    private let state = Mutex(State())
    public let width: Int
    public let queue: Int
    /// What passes through, for the refusal ("searches").
    public let what: String

    public init(width: Int, queue: Int = 256, what: String = "requests") {
        self.width = max(1, width)
        self.queue = max(0, queue)
        self.what = what
    }

    /// Runs `body` once admitted; `AppError` 503 `unavailable` when the line is full,
    /// `CancellationError` when the task is cancelled while it waits.
    public func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await enter()
        defer { leave() }
        return try await body()
    }

    /// Tasks running and waiting now.
    public var load: (running: Int, waiting: Int) {
        state.withLock { ($0.running, $0.waitingCount) }
    }

    private enum Admission {
        case now
        case wait(UInt64)
        case full
    }

    private func enter() async throws {
        let admission: Admission = state.withLock { s in
            if s.running < width {
                s.running += 1
                return .now
            }
            guard s.waitingCount < queue else { return .full }
            s.nextID += 1
            return .wait(s.nextID)
        }
        switch admission {
        case .now: return
        case .full:
            throw AppError(.unavailable, "unavailable", "too many \(what) at once; try again", retryAfter: 1)
        case .wait(let id):
            let admitted = await withTaskCancellationHandler {
                await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
                    // A place may have freed meanwhile, or the task been cancelled; otherwise wait.
                    let now: Bool? = state.withLock { s in
                        if s.running < width {
                            s.running += 1
                            return true
                        }
                        if Task.isCancelled { return false }
                        s.waiting.append((id, c))
                        return nil
                    }
                    if let now { c.resume(returning: now) }
                }
            } onCancel: {
                // Out of the line, if still in it (not yet handed a place).
                let c: CheckedContinuation<Bool, Never>? = state.withLock { s in
                    guard let i = s.waiting[s.head...].firstIndex(where: { $0.id == id }) else { return nil }
                    return s.waiting.remove(at: i).continuation
                }
                c?.resume(returning: false)
            }
            if !admitted { throw CancellationError() }
        }
    }

    private func leave() {
        let next: CheckedContinuation<Bool, Never>? = state.withLock { s in
            guard s.head < s.waiting.count else {
                s.running -= 1
                return nil
            }
            let c = s.waiting[s.head].continuation  // the place passes on
            s.head += 1
            if s.head > 64 && s.head * 2 > s.waiting.count {
                s.waiting.removeFirst(s.head)
                s.head = 0
            }
            return c
        }
        next?.resume(returning: true)
    }
}
