import Synchronization
import Testing

@testable import DLSMSApp

@Suite struct CoalescerTests {
    struct Refused: Error, Equatable {}

    /// The keys computed, in order.
    final class Runs: Sendable {
        let keys = Mutex([String]())
        func add(_ key: String) -> Int {
            keys.withLock {
                $0.append(key)
                return $0.count
            }
        }
    }

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func next() -> Int { value.add(1, ordering: .relaxed).newValue }
    }

    /// A gate of width 1 taken by a holder until `release` finishes.
    static func heldGate(queue: Int = 256) async -> (
        ConcurrencyGate, AsyncStream<Void>.Continuation, Task<Void, any Error>
    ) {
        let gate = ConcurrencyGate(width: 1, queue: queue)
        let release = AsyncStream<Void>.makeStream()
        let holder = Task { try await gate.run { for await _ in release.stream { break } } }
        while gate.load.running < 1 { await Task.yield() }
        return (gate, release.continuation, holder)
    }

    /// Ten identical requests waiting behind a busy gate take one place in its line and get one
    /// computation's answer; a different question waits apart and is computed on its own.
    @Test func identicalWaitingRequestsShareOneComputation() async throws {
        let (gate, release, holder) = await Self.heldGate()
        let coalescer = Coalescer<String, Int>()
        let runs = Runs()
        let compute: @Sendable (String) -> @Sendable () async throws -> Int = { key in { runs.add(key) } }
        let same = (0..<10).map { _ in Task { try await coalescer.value(for: "k", through: gate, compute("k")) } }
        let other = Task { try await coalescer.value(for: "other", through: gate, compute("other")) }
        while coalescer.waiters(for: "k") < 10 || coalescer.waiters(for: "other") < 1 { await Task.yield() }
        while gate.load.waiting < 2 { await Task.yield() }
        #expect(gate.load.waiting == 2)
        release.finish()
        try await holder.value
        var answers = Set<Int>()
        for t in same { answers.insert(try await t.value) }
        let otherAnswer = try await other.value
        #expect(answers.count == 1)
        #expect(runs.keys.withLock { $0.sorted() } == ["k", "other"])
        #expect(!answers.contains(otherAnswer))
        #expect(coalescer.computed == 2 && coalescer.waiters(for: "k") == 0)
    }

    /// A request that arrives once the computation has begun is not given its answer (which may
    /// be from before the request): it waits for a computation of its own.
    @Test func anArrivalAfterTheTurnStartsAFreshComputation() async throws {
        let gate = ConcurrencyGate(width: 1)
        let coalescer = Coalescer<String, Int>()
        let inside = AsyncStream<Void>.makeStream()
        let count = Counter()
        let first = Task {
            try await coalescer.value(for: "k", through: gate) {
                let n = count.next()
                for await _ in inside.stream { break }
                return n
            }
        }
        while coalescer.computed < 1 { await Task.yield() }
        let second = Task {
            try await coalescer.value(for: "k", through: gate) { count.next() }
        }
        while gate.load.waiting < 1 { await Task.yield() }
        #expect(coalescer.waiters(for: "k") == 1)
        inside.continuation.finish()
        #expect(try await first.value == 1)
        #expect(try await second.value == 2)
        #expect(coalescer.computed == 2)
    }

    /// A computation's failure is every member's answer, and so is the gate's refusal.
    @Test func aFailureIsEveryonesAnswer() async throws {
        let (gate, release, holder) = await Self.heldGate(queue: 1)
        let coalescer = Coalescer<String, Int>()
        let members = (0..<5).map { _ in
            Task { try await coalescer.value(for: "k", through: gate) { throw Refused() } }
        }
        while coalescer.waiters(for: "k") < 5 || gate.load.waiting < 1 { await Task.yield() }
        // The line is full: a different question is refused at once, with the gate's 503.
        do {
            _ = try await coalescer.value(for: "other", through: gate) { 1 }
            Issue.record("a full line computed an answer")
        } catch let e as AppError {
            #expect(e.code == "unavailable" && e.retryAfter == 1)
        }
        release.finish()
        try await holder.value
        for m in members { await #expect(throws: Refused.self) { try await m.value } }
        #expect(coalescer.computed == 1)
    }

    /// The first requester going away (its task cancelled) does not take the answer from the
    /// others: the computation is nobody's child.
    @Test func aRequesterGoneDoesNotCancelTheOthers() async throws {
        let (gate, release, holder) = await Self.heldGate()
        let coalescer = Coalescer<String, Int>()
        let first = Task { try await coalescer.value(for: "k", through: gate) { 7 } }
        while coalescer.waiters(for: "k") < 1 { await Task.yield() }
        let rest = (0..<3).map { _ in Task { try await coalescer.value(for: "k", through: gate) { -1 } } }
        while coalescer.waiters(for: "k") < 4 { await Task.yield() }
        first.cancel()
        release.finish()
        try await holder.value
        for t in rest { #expect(try await t.value == 7) }
        #expect(coalescer.computed == 1 && gate.load.running == 0)
    }

    /// When every member of a waiting group has gone (clients that sent a search and closed the
    /// connection), the group leaves the gate's line: no place held, nothing computed.
    @Test func aGroupWhoseMembersAllWentLeavesTheLine() async throws {
        let (gate, release, holder) = await Self.heldGate()
        let coalescer = Coalescer<String, Int>()
        let members = (0..<3).map { _ in Task { try await coalescer.value(for: "k", through: gate) { 1 } } }
        while coalescer.waiters(for: "k") < 3 || gate.load.waiting < 1 { await Task.yield() }
        for m in members { m.cancel() }
        for m in members { await #expect(throws: CancellationError.self) { try await m.value } }
        while gate.load.waiting > 0 { await Task.yield() }
        #expect(coalescer.waiters(for: "k") == 0)
        // A new question for the same key is a new group, computed once the gate frees.
        let later = Task { try await coalescer.value(for: "k", through: gate) { 2 } }
        while gate.load.waiting < 1 { await Task.yield() }
        release.finish()
        try await holder.value
        #expect(try await later.value == 2)
        #expect(coalescer.computed == 1)
    }
}
