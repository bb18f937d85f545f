import Synchronization
import Testing

@testable import DLSMSApp

@Suite struct ConcurrencyGateTests {
    /// Who is inside the gate.
    final class Inside: Sendable {
        let state = Mutex((now: 0, most: 0, order: [Int]()))

        func enter(_ i: Int?) {
            state.withLock {
                $0.now += 1
                $0.most = max($0.most, $0.now)
                if let i { $0.order.append(i) }
            }
        }

        func leave() { state.withLock { $0.now -= 1 } }
    }

    /// `width` holders take the gate's places; 20 more tasks queue one by one behind them; then the
    /// holders leave. The most tasks seen inside at once, and the order the queued ones got in.
    static func crowd(width: Int) async -> (most: Int, order: [Int], load: (running: Int, waiting: Int)) {
        let gate = ConcurrencyGate(width: width)
        let inside = Inside()
        let releases = (0..<width).map { _ in AsyncStream<Void>.makeStream() }
        let holders = Task {
            await withTaskGroup(of: Void.self) { group in
                for release in releases {
                    group.addTask {
                        try? await gate.run {
                            inside.enter(nil)
                            for await _ in release.stream { break }
                            inside.leave()
                        }
                    }
                }
            }
        }
        while gate.load.running < width { await Task.yield() }
        let waiters = Task {
            await withTaskGroup(of: Void.self) { group in
                for i in 0..<20 {
                    group.addTask {
                        try? await gate.run {
                            inside.enter(i)
                            await Task.yield()
                            inside.leave()
                        }
                    }
                    while gate.load.waiting < i + 1 { await Task.yield() }
                }
            }
        }
        while gate.load.waiting < 20 { await Task.yield() }
        for release in releases { release.continuation.finish() }
        await holders.value
        await waiters.value
        let seen = inside.state.withLock { $0 }
        return (seen.most, seen.order, gate.load)
    }

    @Test func neverMoreThanItsWidthInside() async {
        let (most, order, load) = await Self.crowd(width: 3)
        #expect(most == 3 && order.sorted() == Array(0..<20))
        #expect(load.running == 0 && load.waiting == 0)
    }

    /// Beyond the line's length the gate refuses at once (503); a task cancelled while it waits
    /// leaves the line and does not run.
    @Test func aFullLineRefusesAndACancelledWaiterLeaves() async throws {
        let gate = ConcurrencyGate(width: 1, queue: 1)
        let release = AsyncStream<Void>.makeStream()
        let holder = Task { try await gate.run { for await _ in release.stream { break } } }
        while gate.load.running < 1 { await Task.yield() }
        let ran = Inside()
        let waiter = Task { try await gate.run { ran.enter(1) } }
        while gate.load.waiting < 1 { await Task.yield() }
        do {
            try await gate.run { ran.enter(2) }
            Issue.record("a full line admitted a task")
        } catch let e as AppError {
            #expect(e.code == "unavailable" && e.retryAfter == 1)
        }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(gate.load.waiting == 0)
        release.continuation.finish()
        try await holder.value
        #expect(ran.state.withLock { $0.order }.isEmpty && gate.load.running == 0)
        // The place is free again.
        try await gate.run { ran.enter(3) }
        #expect(ran.state.withLock { $0.order } == [3])
    }

    @Test func waitersGoInTheOrderTheyCame() async {
        let (most, order, _) = await Self.crowd(width: 1)
        #expect(most == 1 && order == Array(0..<20))
    }
}
