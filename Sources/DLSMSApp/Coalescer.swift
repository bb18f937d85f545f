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
/// The computation runs in a task of its own, not the first requester's: a member that goes away
/// (its task cancelled: the client closed the connection) leaves the group without taking the
/// answer from the others. When every member of a group still waiting has gone, the group leaves
/// the gate's line: nobody's work is computed for nobody. Groups waiting are bounded by the gate
/// (a group holds at most one place in its line); a refusal of the gate (503) is every member's
/// answer.
public final class Coalescer<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private typealias Waiter = CheckedContinuation<Result<Value, any Error>, Never>

    /// A group still waiting for its turn: its members, and the task that waits in the gate's line
    /// for them (set once started).
    private struct Group {
        var id: UInt64
        var members: [(id: UInt64, waiter: Waiter)]
        var task: Task<Void, Never>?
    }

    private struct State {
        var groups: [Key: Group] = [:]
        var nextID: UInt64 = 0

        mutating func newID() -> UInt64 {
            nextID += 1
            return nextID
        }
    }

    private enum Joined {
        case member
        case leader(group: UInt64)
        case gone
    }

    private let state = Mutex(State())
    private let computations = Atomic<Int>(0)

    public init() {}

    /// Computations begun so far (each served its whole group).
    public var computed: Int { computations.load(ordering: .relaxed) }

    /// Requests for `key` waiting for a computation that has not begun yet.
    public func waiters(for key: Key) -> Int { state.withLock { $0.groups[key]?.members.count ?? 0 } }

    /// The answer for `key`: the one of the group waiting for `key` if there is one, otherwise of a
    /// new group, computed by `compute` once `gate` lets it in. `CancellationError` when the
    /// caller's task is cancelled before the computation begins.
    public func value(
        for key: Key, through gate: ConcurrencyGate, _ compute: @escaping @Sendable () async throws -> Value
    ) async throws -> Value {
        let member = state.withLock { $0.newID() }
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: Waiter) in
                let joined: Joined = state.withLock { s in
                    if Task.isCancelled { return .gone }
                    if s.groups[key] != nil {
                        s.groups[key]!.members.append((member, c))
                        return .member
                    }
                    let group = s.newID()
                    s.groups[key] = Group(id: group, members: [(member, c)])
                    return .leader(group: group)
                }
                switch joined {
                case .member: return
                case .gone: c.resume(returning: .failure(CancellationError()))
                case .leader(let group):
                    let task = Task { await self.serve(key, group: group, through: gate, compute) }
                    state.withLock { s in
                        if s.groups[key]?.id == group { s.groups[key]!.task = task }
                    }
                }
            }
        } onCancel: {
            leave(key, member: member)
        }
        return try result.get()
    }

    /// A member gone before the computation began: out of its group, answered with
    /// `CancellationError`; the last one out takes the group out of the gate's line.
    private func leave(_ key: Key, member: UInt64) {
        let (waiter, orphaned): (Waiter?, Task<Void, Never>?) = state.withLock { s in
            guard var group = s.groups[key], let i = group.members.firstIndex(where: { $0.id == member }) else {
                return (nil, nil)
            }
            let waiter = group.members.remove(at: i).waiter
            if group.members.isEmpty {
                s.groups[key] = nil
                return (waiter, group.task)
            }
            s.groups[key] = group
            return (waiter, nil)
        }
        waiter?.resume(returning: .failure(CancellationError()))
        orphaned?.cancel()
    }

    private func serve(
        _ key: Key, group: UInt64, through gate: ConcurrencyGate, _ compute: @Sendable () async throws -> Value
    ) async {
        let members: [Waiter]
        let result: Result<Value, any Error>
        do {
            (members, result) = try await gate.run {
                // The turn has come: from here on, an arrival starts a new group.
                let members = close(key, group: group)
                guard !members.isEmpty else { return ([], .failure(CancellationError())) }
                computations.add(1, ordering: .relaxed)
                do { return (members, .success(try await compute())) } catch { return (members, .failure(error)) }
            }
        } catch {
            (members, result) = (close(key, group: group), .failure(error))
        }
        for c in members { c.resume(returning: result) }
    }

    /// The members of `group` (if it is still the one waiting for `key`), taken out of waiting.
    private func close(_ key: Key, group: UInt64) -> [Waiter] {
        state.withLock { s in
            guard s.groups[key]?.id == group else { return [] }
            return s.groups.removeValue(forKey: key)?.members.map(\.waiter) ?? []
        }
    }
}
