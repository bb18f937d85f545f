import Crypto
import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Synchronization
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

@Suite struct AttemptLimiterTests {
    @Test func concurrentReservationsCountAtOnce() async {
        let limiter = AttemptLimiter(window: 60, capacity: 1_000)
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 { group.addTask { limiter.reserve([("id:S1", 5), ("ip:a", 20)], now: t0) == nil } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 5)
        #expect(limiter.count("id:S1", now: t0) == 5 && limiter.count("ip:a", now: t0) == 5)  // all or none
        #expect(limiter.reserve([("id:S1", 5)], now: t0 + 30) == 30)  // seconds until the window ends
        #expect(limiter.reserve([("id:S1", 5)], now: t0 + 60) == nil)  // a new window
    }

    @Test func releaseAndReset() {
        let limiter = AttemptLimiter(window: 60, capacity: 10)
        for _ in 0..<3 { #expect(limiter.reserve([("k", 3)], now: t0) == nil) }
        #expect(limiter.reserve([("k", 3)], now: t0) != nil)
        limiter.release("k", now: t0)
        #expect(limiter.reserve([("k", 3)], now: t0) == nil)
        limiter.reset("k")
        #expect(limiter.count("k", now: t0) == 0)
    }

    @Test func memoryIsAFixedBudget() {
        let limiter = AttemptLimiter(window: 60, capacity: 1_000)
        for i in 0..<50_000 { _ = limiter.reserve([("id:\(i)", 5)], now: t0 + Int64(i / 10_000)) }
        #expect(limiter.size == 1_000)
        // The newest keys are the ones kept.
        #expect(limiter.count("id:49999", now: t0 + 4) == 1 && limiter.count("id:0", now: t0 + 4) == 0)
    }
}
