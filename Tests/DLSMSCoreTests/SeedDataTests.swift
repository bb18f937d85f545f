import DLSMSCore
import Testing

@Suite struct SeedDataTests {
    @Test func matchesTheContract() {
        #expect(SeedData.seats.count == 50)
        #expect(SeedData.seats.filter { $0.branch == "Main Library" }.map(\.id) == Array(1...25))
        #expect(SeedData.seats.filter { $0.area == "Silent Study Zone" }.map(\.id) == Array(1...15))
        #expect(SeedData.seats.filter { $0.area == "Group Study Zone" }.map(\.id) == Array(16...25))
        #expect(SeedData.seats.filter { $0.branch == "Science Library" }.map(\.id) == Array(26...37))
        #expect(SeedData.seats.filter { $0.branch == "Engineering Library" }.map(\.id) == Array(38...50))
        #expect(SeedData.studentNames.first == "Alice Johnson" && SeedData.studentNames.last == "Jack Wilson")
        #expect(SeedData.studentID(1) == "S2021001" && SeedData.studentID(10) == "S2021010")
        #expect(SeedData.reservations.count == 8)
    }
}
