import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Testing

@Suite struct SeedTests {
    @Test func seedLoadsTheContractDataSet() async throws {
        let (engine, _) = try await makeEngine()
        #expect(engine.userCount == 11)
        #expect(engine.user(studentID: "S2021001")?.name == "Alice Johnson")
        #expect(engine.user(studentID: "admin")?.role == .admin)
        let stats = await engine.stats()
        #expect(stats.seats == 50 && stats.reservations == 8 && stats.holding == 5)
        let branches = await engine.branches()
        #expect(branches.map(\.branch.name) == ["Main Library", "Science Library", "Engineering Library"])
        #expect(branches.map(\.totalSeats) == [25, 12, 13])
        // Seat 26 is occupied now (user 4, −10 min … +2 h).
        #expect(branches[1].availableSeats == 11)
        let one = try await engine.reservation(id: 1, requester: Requester(userID: 1))
        #expect(one.seatID == 1 && one.start == testNow + hour && one.end == testNow + 3 * hour)
        #expect(engine.waitlist(of: 8).first?.entry.target == .branch("Main Library"))
        let silentWithPower = await engine.searchSeats(
            SeatFilter(branch: "Main Library", area: "Silent Study Zone", hasPower: true))
        // seed.sql's flags: seats 6, 7, 8 and 12 have no outlet.
        #expect(silentWithPower.map(\.seat.id) == [1, 2, 3, 4, 5, 9, 10, 11, 13, 14, 15])
    }
}
