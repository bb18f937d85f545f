import Synchronization

/// Lets at most `width` tasks through at once; the others wait in line, suspended (holding no
/// thread), and go in the order they came. Seat searches go through one: a large search is
/// milliseconds of CPU, and a crowd of them in the runtime's queue made every cheap request (a
/// student's own reservations) wait behind all of them; in line behind the gate they wait for
/// their own turn only.
public final class ConcurrencyGate: Sendable {
    private struct State {
        var running = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
        var head = 0
    }

    private let state = Mutex(State())
    public let width: Int

    public init(width: Int) { self.width = max(1, width) }

    /// Runs `body` once admitted.
    public func run<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await enter()
        defer { leave() }
        return try await body()
    }

    /// Tasks running and waiting now.
    public var load: (running: Int, waiting: Int) {
        state.withLock { ($0.running, $0.waiting.count - $0.head) }
    }

    private func enter() async {
        let admitted = state.withLock { s in
            guard s.running < width else { return false }
            s.running += 1
            return true
        }
        if admitted { return }
        await withCheckedContinuation { c in
            // A place may have freed meanwhile; otherwise wait in line.
            let now = state.withLock { s in
                if s.running < width {
                    s.running += 1
                    return true
                }
                s.waiting.append(c)
                return false
            }
            if now { c.resume() }
        }
    }

    private func leave() {
        let next: CheckedContinuation<Void, Never>? = state.withLock { s in
            guard s.head < s.waiting.count else {
                s.running -= 1
                return nil
            }
            let c = s.waiting[s.head]  // the place passes on
            s.head += 1
            if s.head > 64 && s.head * 2 > s.waiting.count {
                s.waiting.removeFirst(s.head)
                s.head = 0
            }
            return c
        }
        next?.resume()
    }
}
