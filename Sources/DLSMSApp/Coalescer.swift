import Synchronization

/// Identical requests that arrive while an earlier one still waits for its turn at a gate share
/// that one's answer: one computation, one place in the gate's line, however many ask.
///
/// At a release instant thousands of students ask the same question in the same second ("which
/// seats of this library are free from 09:00 to 13:00?"); computed one by one they fill the
/// search gate's line, and most are shed with 503. Coalesced, they wait together for one
/// computation.
///
/// Only a request that is still waiting is joined: once its turn has come and the computation
/// has begun, a new arrival starts a group of its own. So every answer is computed after its
/// request arrived, and a student who has just booked never gets an answer from before the
/// booking.
///
/// The computation runs in a task of its own, not the first requester's: a client that goes away
/// does not cancel the answer the others wait for. Groups in flight are bounded by the gate (a
/// group holds at most one place in its line); a refusal of the gate (503) is every member's answer.
public final class Coalescer<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private typealias Waiter = CheckedContinuation<Result<Value, any Error>, Never>

    private let waiting = Mutex<[Key: [Waiter]]>([:])
    private let computations = Atomic<Int>(0)

    public init() {}

    /// Computations begun so far (each served its whole group).
    public var computed: Int { computations.load(ordering: .relaxed) }

    /// Requests for `key` waiting for a computation that has not begun yet.
    public func waiters(for key: Key) -> Int { waiting.withLock { $0[key]?.count ?? 0 } }

    /// The answer for `key`: the one of the group waiting for `key` if there is one, otherwise of a
    /// new group, computed by `compute` once `gate` lets it in.
    public func value(
        for key: Key, through gate: ConcurrencyGate, _ compute: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let result = await withCheckedContinuation { (c: Waiter) in
            let leads: Bool = waiting.withLock { w in
                if w[key] != nil {
                    w[key]!.append(c)
                    return false
                }
                w[key] = [c]
                return true
            }
            guard leads else { return }
            Task { await self.serve(key, through: gate, compute) }
        }
        return try result.get()
    }

    private func serve(
        _ key: Key, through gate: ConcurrencyGate, _ compute: @Sendable () async throws -> Value
    ) async {
        let group: [Waiter]
        let result: Result<Value, any Error>
        do {
            (group, result) = try await gate.run {
                // The turn has come: from here on, an arrival starts a new group.
                let group = close(key)
                computations.add(1, ordering: .relaxed)
                do { return (group, .success(try await compute())) } catch { return (group, .failure(error)) }
            }
        } catch {
            (group, result) = (close(key), .failure(error))
        }
        for c in group { c.resume(returning: result) }
    }

    private func close(_ key: Key) -> [Waiter] {
        waiting.withLock { $0.removeValue(forKey: key) ?? [] }
    }
}
