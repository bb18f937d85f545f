import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Testing

/// The utilisation report: booked and occupied seat time split over local hours and days,
/// no-shows and cancellations in the bucket of their start, the busiest-hours heatmap.
@Suite struct ReportTests {
    /// 2025-10-12T00:00Z, a Sunday.
    let day = testNow + 12 * hour

    func makeLibrary() async throws -> (SeatEngine, ManualClock) {
        var rules = BookingRules.default
        rules.maxUpcomingPerUser = 100
        let clock = ManualClock(testNow)
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 3, rules: rules), clock: clock)
        try await engine.define(branch: Branch(name: "Lib", areas: ["Quiet", "Group"]))
        try await engine.define(branch: Branch(name: "Pune", areas: ["Hall"], timeZone: "Asia/Kolkata"))
        for s in 1...4 {
            try await engine.define(
                seat: Seat(
                    id: SeatID(s), branch: "Lib", area: s <= 2 ? "Quiet" : "Group", hasPower: true, hasMonitor: false))
        }
        try await engine.define(seat: Seat(id: 9, branch: "Pune", area: "Hall", hasPower: true, hasMonitor: false))
        for u in 1...6 { _ = try await engine.register(studentID: "U\(u)", name: "U\(u)", passwordHash: "") }
        return (engine, clock)
    }

    @Test func hoursAndDaysOfEachArea() async throws {
        let (engine, clock) = try await makeLibrary()
        // Quiet: a stay 10:00–12:00 checked in at 10:05; a booking 10:30–11:30 cancelled.
        let stay = try await engine.book(user: 1, seat: 1, start: day + 10 * hour, end: day + 12 * hour)
        let dropped = try await engine.book(
            user: 2, seat: 2, start: day + 10 * hour + 30 * minute, end: day + 11 * hour + 30 * minute)
        _ = try await engine.cancel(id: dropped.id, requester: Requester(userID: 2))
        // Group: 11:00–12:00, nobody comes. Pune (UTC+5:30): 10:00–11:00Z, 15:30–16:30 local.
        _ = try await engine.book(user: 3, seat: 3, start: day + 11 * hour, end: day + 12 * hour)
        _ = try await engine.book(user: 4, seat: 9, start: day + 10 * hour, end: day + 11 * hour)
        // Outside the range: not counted.
        _ = try await engine.book(user: 5, seat: 4, start: day + 30 * hour, end: day + 31 * hour)
        clock.set(day + 10 * hour + 5 * minute)
        _ = try await engine.checkIn(id: stay.id, requester: Requester(userID: 1))
        clock.set(day + 12 * hour)
        _ = await engine.sweep(now: clock.now())  // the no-show and the completion

        let hourly = try await engine.utilisation(
            UtilisationQuery(branch: nil, from: day + 9 * hour, to: day + 13 * hour, granularity: .hour))
        func row(_ branch: String, _ area: String, _ start: Timestamp) -> UtilisationFigures? {
            hourly.rows.first { $0.branch == branch && $0.area == area && $0.bucketStart == start }?.figures
        }
        #expect(row("Lib", "Quiet", day + 10 * hour)?.bookedSeconds == 3_600)
        #expect(row("Lib", "Quiet", day + 10 * hour)?.occupiedSeconds == 55 * minute)
        #expect(row("Lib", "Quiet", day + 10 * hour)?.cancellations == 1)
        #expect(row("Lib", "Quiet", day + 11 * hour)?.occupiedSeconds == 3_600)
        #expect(row("Lib", "Group", day + 11 * hour)?.noShows == 1)
        #expect(row("Lib", "Group", day + 11 * hour)?.bookedSeconds == 3_600)
        #expect(row("Lib", "Group", day + 10 * hour) == nil)  // nothing there: no row
        // Local hours of Kolkata start at :30 UTC.
        #expect(row("Pune", "Hall", day + 9 * hour + 30 * minute)?.bookedSeconds == 1_800)
        #expect(row("Pune", "Hall", day + 10 * hour + 30 * minute)?.bookedSeconds == 1_800)
        #expect(hourly.rows.count == 5)

        let daily = try await engine.utilisation(
            UtilisationQuery(branch: "Lib", from: day, to: day + Seconds.day, granularity: .day))
        #expect(daily.rows.map(\.area) == ["Group", "Quiet"])
        let quiet = try #require(daily.rows.first { $0.area == "Quiet" })
        #expect(quiet.bucketStart == day)
        #expect(quiet.figures.bookedSeconds == 7_200 && quiet.figures.occupiedSeconds == 6_900)
        #expect(quiet.figures.cancellations == 1 && quiet.figures.noShows == 0)
        // Heatmap: Sunday 10:00 and 11:00, booked time of both areas.
        #expect(
            daily.heatmap.map { "\($0.weekday) \($0.hour) \($0.bookedSeconds)" } == ["6 10 3600", "6 11 7200"])
    }

    @Test func aStayStillGoingCountsUntilNow() async throws {
        let (engine, clock) = try await makeLibrary()
        let r = try await engine.book(user: 1, seat: 1, start: day + 10 * hour, end: day + 12 * hour)
        clock.set(day + 10 * hour)
        _ = try await engine.checkIn(id: r.id, requester: Requester(userID: 1))
        clock.set(day + 10 * hour + 20 * minute)
        let report = try await engine.utilisation(
            UtilisationQuery(branch: "Lib", from: day, to: day + Seconds.day, granularity: .day))
        #expect(report.rows.first?.figures.occupiedSeconds == 20 * minute)
        #expect(report.rows.first?.figures.bookedSeconds == 2 * hour)
    }

    /// Lord Howe Island moves its clocks by 30 minutes (UTC+10:30 → +11 on 2025-10-05): the
    /// buckets keep to local hours across the change, whatever the report's start.
    @Test func halfHourDaylightSavingKeepsLocalHours() async throws {
        let (engine, _) = try await makeLibrary()
        try await engine.define(branch: Branch(name: "Howe", areas: ["A"], timeZone: "Australia/Lord_Howe"))
        try await engine.define(seat: Seat(id: 20, branch: "Howe", area: "A", hasPower: true, hasMonitor: false))
        // 2025-10-12 01:00Z is 12:00 local (UTC+11).
        let r = try await engine.book(user: 1, seat: 20, start: day + hour, end: day + 2 * hour)
        var seen: [[Timestamp]] = []
        for from in [day - 10 * Seconds.day, day - hour, day] {
            let report = try await engine.utilisation(
                UtilisationQuery(branch: "Howe", from: from, to: day + Seconds.day, granularity: .hour))
            seen.append(report.rows.map(\.bucketStart))
            #expect(report.rows.map(\.figures.bookedSeconds) == [r.end - r.start])
            #expect(report.heatmap.map { "\($0.weekday) \($0.hour)" } == ["6 12"])
        }
        #expect(seen.allSatisfy { $0 == [day + hour] })
        // A day bucket starts at local midnight, even when the range starts later.
        let daily = try await engine.utilisation(
            UtilisationQuery(branch: "Howe", from: day, to: day + Seconds.day, granularity: .day))
        #expect(daily.rows.map(\.bucketStart) == [day - 11 * hour])
    }

    @Test func badQueriesAreRefused() async throws {
        let (engine, _) = try await makeLibrary()
        #expect(
            await refusal {
                try await engine.utilisation(UtilisationQuery(branch: nil, from: day, to: day, granularity: .day))
            } == .invalidTimeRange)
        #expect(
            await refusal {
                try await engine.utilisation(
                    UtilisationQuery(branch: nil, from: day, to: day + 367 * Seconds.day, granularity: .hour))
            }?.code == "bad_request")
        #expect(
            await refusal {
                try await engine.utilisation(
                    UtilisationQuery(branch: "Nope", from: day, to: day + hour, granularity: .hour))
            } == .branchNotFound("Nope"))
        // A whole year of hours, across both daylight saving changes of a zone that has them.
        try await engine.define(branch: Branch(name: "Berlin", areas: [], timeZone: "Europe/Berlin"))
        let year = try await engine.utilisation(
            UtilisationQuery(branch: "Berlin", from: day, to: day + 366 * Seconds.day, granularity: .hour))
        #expect(year.rows.isEmpty)
    }

    @Test func theExportHandsOverEveryMatchInChunks() async throws {
        let (engine, _) = try await makeLibrary()
        var made: [ReservationID] = []
        for i in 0..<30 {
            let start = day + Int64(i) * hour
            made.append(
                try await engine.book(user: UserID(i % 6 + 1), seat: SeatID(i % 4 + 1), start: start, end: start + hour)
                    .id)
        }
        _ = try await engine.cancel(id: made[3], requester: Requester(userID: 4))
        var chunks = 0
        var seen: [ReservationID] = []
        await engine.forEachReservation(matching: ReservationFilter(), chunk: 4) { part in
            #expect(part.count <= 4)
            chunks += 1
            seen += part.map(\.id)
        }
        #expect(seen.sorted() == made.sorted())
        #expect(chunks >= 30 / 4)
        var cancelled: [ReservationID] = []
        await engine.forEachReservation(matching: ReservationFilter(status: .cancelled)) { cancelled += $0.map(\.id) }
        #expect(cancelled == [made[3]])
    }
}
