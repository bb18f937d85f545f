import DLSMSCore
import Synchronization
import Testing

@testable import DLSMSApp

@Suite struct BookingThrottleTests {
    final class Nanos: Sendable {
        let value = Mutex<Int64>(1_000_000_000)
        func advance(seconds: Double) { value.withLock { $0 += Int64(seconds * 1e9) } }
        var clock: @Sendable () -> Int64 { { self.value.withLock { $0 } } }
    }

    /// 50 concurrent attempts by one student with the clock standing: exactly the burst gets
    /// through, each refusal says when to retry; a second later, `rate` more.
    @Test func fiftyConcurrentAttemptsByOneStudent() async {
        let time = Nanos()
        let throttle = BookingThrottle(rate: 5, burst: 10, clock: time.clock)
        let outcomes = await withTaskGroup(of: Int64?.self) { group in
            for _ in 0..<50 { group.addTask { throttle.attempt(7) } }
            var all: [Int64?] = []
            for await o in group { all.append(o) }
            return all
        }
        #expect(outcomes.filter { $0 == nil }.count == 10)
        #expect(outcomes.compactMap { $0 }.allSatisfy { $0 == 1 })
        // Another student has their own bucket.
        #expect(throttle.attempt(8) == nil)
        time.advance(seconds: 1)
        let next = (0..<10).map { _ in throttle.attempt(7) }
        #expect(next.filter { $0 == nil }.count == 5)
        // Slow and steady: one attempt every 0.2 s is never refused.
        time.advance(seconds: 2)
        for _ in 0..<100 {
            time.advance(seconds: 0.2)
            #expect(throttle.attempt(7) == nil)
        }
    }

    @Test func aSlowRateAsksForALongerWait() {
        let time = Nanos()
        let throttle = BookingThrottle(rate: 0.25, burst: 1, clock: time.clock)
        #expect(throttle.attempt(1) == nil)
        #expect(throttle.attempt(1) == 4)
        time.advance(seconds: 3.5)
        #expect(throttle.attempt(1) == 1)
        time.advance(seconds: 0.5)
        #expect(throttle.attempt(1) == nil)
    }

    /// The table stays within its capacity whatever the number of students; rate 0 is no bound.
    @Test func theTableIsBounded() {
        let time = Nanos()
        let throttle = BookingThrottle(rate: 5, burst: 2, capacity: 160, clock: time.clock)
        for user in 1...10_000 { _ = throttle.attempt(UserID(user)) }
        #expect(throttle.count <= 160)
        let open = BookingThrottle(rate: 0, burst: 1, clock: time.clock)
        #expect((0..<100).allSatisfy { _ in open.attempt(1) == nil })
    }
}
