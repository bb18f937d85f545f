import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Testing

@Suite struct BranchTimeTests {
    /// A waitlist entry is held to the branch's opening hours in the branch's own time zone.
    @Test func waitlistHoursAreLocalToTheBranch() async throws {
        let clock = ManualClock(testNow)  // 2025-10-11T12:00Z; Berlin is at UTC+2 (summer time)
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 2), clock: clock)
        try await engine.define(
            branch: Branch(
                name: "Berlin", areas: ["A"], timeZone: "Europe/Berlin",
                openingHours: .daily(openMinute: 8 * 60, closeMinute: 22 * 60)))
        try await engine.define(seat: Seat(id: 1, branch: "Berlin", area: "A", hasPower: false, hasMonitor: false))
        let user = try await engine.register(studentID: "U1", name: "U1", passwordHash: "").id
        let tomorrow = testNow - 12 * hour + Seconds.day  // 2025-10-12T00:00Z
        // 06:30Z is 08:30 in Berlin: open.
        _ = try await engine.joinWaitlist(user: user, target: .seat(1), desired: tomorrow + 6 * hour + 30 * minute)
        _ = try await engine.joinWaitlist(user: user, target: .branch("Berlin"), desired: tomorrow + 7 * hour)
        // 20:30Z is 22:30 in Berlin: closed, though it is inside 08–22 UTC.
        #expect(
            await refusal {
                try await engine.joinWaitlist(user: user, target: .seat(1), desired: tomorrow + 20 * hour + 30 * minute)
            } == .outsideOpeningHours)
        #expect(
            await refusal {
                try await engine.joinWaitlist(
                    user: user, target: .branch("Berlin"), desired: tomorrow + 20 * hour + 30 * minute)
            } == .outsideOpeningHours)
    }

    /// Redefining a branch updates its seats without ever writing back an older copy of a seat:
    /// a maintenance change made meanwhile stays.
    @Test func aBranchChangeNeverRevertsAConcurrentMaintenanceChange() async throws {
        let (engine, _) = try await makeBareEngine(seats: 8, users: 1, shards: 2)
        let branch = engine.branchList[0]
        for round in 0..<300 {
            let flag = round % 2 == 0
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<3 { group.addTask { try await engine.define(branch: branch) } }
                for s in 1...8 { group.addTask { _ = try await engine.setMaintenance(seat: SeatID(s), flag) } }
                try await group.waitForAll()
            }
            for s in 1...8 {
                let (view, _) = try await engine.seat(SeatID(s), start: testNow, end: testNow + 1)
                #expect(view.seat.inMaintenance == flag, "round \(round), seat \(s)")
            }
        }
    }
}
