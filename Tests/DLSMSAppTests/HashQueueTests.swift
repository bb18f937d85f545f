import Crypto
import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Dispatch
import Foundation
import JWTKit
import Synchronization
import Testing

@testable import DLSMSApp

@Suite struct HashQueueTests {
    /// A hasher whose work waits on a gate, so that the queue's state can be observed.
    final class Gate: Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        func open(_ n: Int) { for _ in 0..<n { semaphore.signal() } }
        /// Work that waits for the gate to open.
        var work: @Sendable () -> Int {
            { [semaphore] in
                semaphore.wait()
                return 1
            }
        }
    }

    @Test func oneClientCannotFillTheQueue() async throws {
        let hasher = PasswordHasher(cost: 4, concurrency: 1, queueLimit: 10, perClient: 3, reserve: 4)
        let gate = Gate()
        let work = gate.work
        // Client A takes its whole share: one running, two waiting.
        let a = (0..<3).map { _ in Task { try await hasher.run(client: "A", suspect: false, work) } }
        while hasher.inFlight(client: "A") < 3 { await Task.yield() }
        // Its fourth is refused at once with 429; B still gets a place.
        do {
            _ = try await hasher.run(client: "A", suspect: false, work)
            Issue.record("a fourth hash from one client was admitted")
        } catch {
            #expect(error.kind == .rateLimited && error.retryAfter == 1)
        }
        let b = Task { try await hasher.run(client: "B", suspect: false, work) }
        while hasher.inFlight(client: "B") < 1 { await Task.yield() }
        gate.open(4)
        for t in a { #expect(try await t.value == 1) }
        #expect(try await b.value == 1)
        #expect(hasher.inFlight(client: "A") == 0 && hasher.inFlight(client: "B") == 0)
    }

    @Test func theReserveIsForClientsWithoutFailures() async throws {
        let hasher = PasswordHasher(cost: 4, concurrency: 1, queueLimit: 4, perClient: 1, reserve: 2)
        let gate = Gate()
        let work = gate.work
        var tasks: [Task<Int, any Error>] = []
        // One running, two waiting: the queue has 2 of 4 places left, both reserved.
        for c in ["s1", "s2", "s3"] {
            tasks.append(Task { try await hasher.run(client: c, suspect: true, work) })
            while hasher.inFlight(client: c) < 1 { await Task.yield() }
        }
        do {
            _ = try await hasher.run(client: "s4", suspect: true, work)
            Issue.record("a suspect client got a reserved place")
        } catch {
            #expect(error.kind == .unavailable)
        }
        tasks.append(Task { try await hasher.run(client: "clean", suspect: false, work) })
        while hasher.inFlight(client: "clean") < 1 { await Task.yield() }
        gate.open(4)
        for t in tasks { #expect(try await t.value == 1) }
    }
}
