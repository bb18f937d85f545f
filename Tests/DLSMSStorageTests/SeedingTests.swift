import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

/// First start: the seed is one atomic snapshot, so a crash part-way leaves nothing behind.
@Suite struct SeedingTests {
    struct Interrupted: Error {}

    @Test func anInterruptedSeedLeavesAnEmptyDirectoryThatIsSeededAgain() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let config = PersistenceConfiguration(directory: dir)
        await #expect(throws: Interrupted.self) {
            _ = try await DurableEngine.open(
                config,
                seed: { engine in
                    try await seedSmall(engine, seats: 3, users: 2)
                    throw Interrupted()  // the process dies here
                })
        }
        let after = try DataDirectory(path: dir).recover()
        #expect(after.snapshot == nil && after.records.isEmpty)
        let (durable, report) = try await DurableEngine.open(
            config, seed: { try await seedSmall($0, seats: 3, users: 2) })
        #expect(report.seeded && durable.engine.userCount == 2 && durable.engine.counts.seats == 3)
        #expect(try DataDirectory(path: dir).snapshots().map(\.coveredLSN) == [0])
        await durable.close(finalSnapshot: false)
        // And the seed is not repeated on the next start.
        let (again, second) = try await DurableEngine.open(config, seed: { _ in Issue.record("seeded twice") })
        #expect(!second.seeded && again.engine.userCount == 2)
        await again.close(finalSnapshot: false)
    }
}
