import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

/// Rules per group: policy resolution, limits per policy, places, release times, strikes and
/// suspension, booking on behalf.
@Suite struct PolicyTests {
    // MARK: - Resolution

    /// Property: rule by rule, the effective value is the most generous over `default` (which
    /// replaces the server's value) and every group of the student's that sets the rule.
    @Test func effectiveRulesAreTheMostGenerousOverTheGroups() {
        let seed = testSeed("PolicyTests.resolution")
        var rng = SplitMix64(seed: seed)
        func maybe(_ range: ClosedRange<Int>) -> Int? {
            rng.next() % 3 == 0 ? nil : range.lowerBound + Int(rng.next() % UInt64(range.count))
        }
        let names = ["default", "ug", "pg", "staff", "exam"]
        for round in 0..<500 {
            var policies: [String: GroupPolicy] = [:]
            for name in names where rng.next() % 4 != 0 {
                var p = GroupPolicy(group: name)
                for rule in GroupPolicy.integerRules { p[keyPath: rule.path] = maybe(rule.range) }
                p.exempt = rng.next() % 12 == 0
                p.places = rng.next() % 2 == 0 ? ["B/" + name] : []
                policies[name] = p
            }
            let groups = names.filter { _ in rng.next() % 2 == 0 }
            let base = BookingRules.default
            let e = EffectiveRules.resolve(base: base, strikes: StrikeRules(), policies: policies, groups: groups)
            let d = policies["default"]
            let others = groups.filter { $0 != "default" }.compactMap { policies[$0] }
            let exempt = (d?.exempt ?? false) || others.contains { $0.exempt }
            #expect(e.exempt == exempt, "round \(round)")
            func expected(_ path: KeyPath<GroupPolicy, Int?>, base: Int, generous: ([Int]) -> Int) -> Int {
                generous([d?[keyPath: path] ?? base] + others.compactMap { $0[keyPath: path] })
            }
            let upcoming = expected(\.maxUpcoming, base: base.maxUpcomingPerUser, generous: { $0.max()! })
            #expect(e.rules.maxUpcomingPerUser == (exempt ? .max : upcoming), "round \(round)")
            #expect(
                e.rules.maxDuration
                    == Int64(expected(\.maxDurationMinutes, base: 240, generous: { $0.max()! })) * Seconds.minute)
            #expect(
                e.rules.maxAdvance == Int64(expected(\.maxDaysAhead, base: 14, generous: { $0.max()! })) * Seconds.day)
            #expect(
                e.rules.grace == Int64(expected(\.graceMinutes, base: 15, generous: { $0.max()! })) * Seconds.minute)
            // Hourly caps: none anywhere is no cap; a group without a cap does not lift one.
            let dayCaps = ([d?.maxHoursPerDay] + others.map(\.maxHoursPerDay)).compactMap { $0 }
            #expect(
                e.rules.maxPerDay == (exempt || dayCaps.isEmpty ? nil : Int64(dayCaps.max()!) * Seconds.hour),
                "round \(round)")
            #expect(
                e.strikes.window
                    == Int64(expected(\.strikeWindowDays, base: 30, generous: { $0.min()! })) * Seconds.day)
            #expect(
                e.strikes.suspension
                    == Int64(expected(\.suspensionDays, base: 7, generous: { $0.min()! })) * Seconds.day)
            let threshold = expected(\.strikeThreshold, base: 3, generous: { $0.max()! })
            #expect(e.strikes.threshold == (exempt ? .max : threshold))
            #expect(e.places == Set(([d] + others).compactMap { $0 }.flatMap(\.places)))
            // Each value is at least as generous as that of any single group alone.
            for g in groups {
                let alone = EffectiveRules.resolve(base: base, strikes: StrikeRules(), policies: policies, groups: [g])
                #expect(e.rules.maxUpcomingPerUser >= alone.rules.maxUpcomingPerUser)
                #expect(e.rules.maxDuration >= alone.rules.maxDuration)
                #expect(e.strikes.suspension <= alone.strikes.suspension)
                #expect(e.places.isSuperset(of: alone.places))
            }
        }
    }

    /// Groups from the identity provider (set at sign-in on the account) count like staff-given
    /// ones, and a change of them at the next sign-in changes the rules at once.
    @Test func identityProviderGroupsSelectPolicies() async throws {
        let (engine, _) = try await makeBareEngine(seats: 2, users: 1)
        var pg = GroupPolicy(group: "cn=pg,ou=groups")
        pg.maxUpcoming = 7
        _ = try await engine.setPolicy(pg)
        let user = try await engine.register(studentID: "OIDC1", name: "O", passwordHash: "") {
            $0.source = .oidc
            $0.groups = ["cn=pg,ou=groups"]
        }
        #expect(engine.effectiveRules(for: user.id).rules.maxUpcomingPerUser == 7)
        #expect(engine.effectiveRules(for: user.id).groups == ["default", "cn=pg,ou=groups"])
        _ = try await engine.updateUser(id: user.id) { $0.groups = [] }
        #expect(engine.effectiveRules(for: user.id).rules.maxUpcomingPerUser == 3)
    }

    @Test func policyValuesOutOfRangeAreRefused() {
        var p = GroupPolicy(group: "pg")
        p.maxHoursPerDay = 25
        #expect(throws: EngineError.self) { try p.validate() }
        p.maxHoursPerDay = 8
        p.features = ["projector"]
        #expect(throws: EngineError.self) { try p.validate() }
        #expect(throws: EngineError.self) { try GroupPolicy.validateGroupName(" pg") }
        #expect(throws: EngineError.self) { try GroupPolicy.validateGroupName("a\"b") }
        #expect(throws: EngineError.self) { try GroupPolicy.validateGroupName(String(repeating: "g", count: 65)) }
        #expect((try? GroupPolicy.validateGroupName("cn=pg,ou=groups")) != nil)
    }

    // MARK: - Limits per policy

    /// 100 simultaneous bookings on 100 seats in different shards by a student whose group
    /// allows 2 (default allows 1): exactly 2 succeed; another student gets exactly 1.
    @Test func perPolicyUpcomingLimitHoldsUnderConcurrency() async throws {
        let (engine, _) = try await makeBareEngine(seats: 100, users: 2, shards: 8)
        var d = GroupPolicy(group: "default")
        d.maxUpcoming = 1
        _ = try await engine.setPolicy(d)
        var pg = GroupPolicy(group: "pg")
        pg.maxUpcoming = 2
        _ = try await engine.setPolicy(pg)
        _ = try await engine.setGroups(user: 1, groups: ["pg"])
        for user in [UserID(1), 2] {
            let outcomes = await withTaskGroup(of: Bool.self) { group in
                for seat in 1...100 {
                    group.addTask {
                        (try? await engine.book(
                            user: user, seat: SeatID(seat), start: testNow + Int64(user) * 5 * hour,
                            end: testNow + Int64(user) * 5 * hour + hour)) != nil
                    }
                }
                var ok = 0
                for await o in group where o { ok += 1 }
                return ok
            }
            #expect(outcomes == (user == 1 ? 2 : 1), "user \(user)")
        }
        #expect(await engine.checkInvariants())
    }

    /// Hours per local day count booked and finished stays; the next day starts afresh.
    @Test func hoursPerDayCountBookedAndFinishedStays() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 4, users: 1)
        var d = GroupPolicy(group: "default")
        d.maxHoursPerDay = 4
        d.maxUpcoming = 10
        _ = try await engine.setPolicy(d)
        // testNow is 12:00 UTC: 12:00–15:00 is three hours of this day.
        let first = try await engine.book(user: 1, seat: 1, start: testNow, end: testNow + 3 * hour)
        let refused = await refusal {
            try await engine.book(user: 1, seat: 2, start: testNow + 4 * hour, end: testNow + 6 * hour)
        }
        #expect(refused == .hoursLimit(rule: "hours_per_day", hours: 4))
        _ = try await engine.book(user: 1, seat: 2, start: testNow + 4 * hour, end: testNow + 5 * hour)
        // Checked in and completed: it still counts; cancelled: it no longer does.
        _ = try await engine.checkIn(id: first.id, requester: Requester(userID: 1))
        clock.advance(by: 3 * hour)
        _ = await engine.sweep(now: clock.now())
        let again = await refusal {
            try await engine.book(user: 1, seat: 3, start: testNow + 6 * hour, end: testNow + 7 * hour)
        }
        #expect(again?.code == "limit_reached", "\(String(describing: again))")
        // Tomorrow is another day.
        _ = try await engine.book(user: 1, seat: 3, start: testNow + 22 * hour, end: testNow + 25 * hour)
    }

    // MARK: - Places

    @Test func restrictedAreaIsForItsGroupsOnly() async throws {
        let (engine, _) = try await makeBareEngine(seats: 4, users: 3)
        var pg = GroupPolicy(group: "pg")
        pg.places = ["B/A"]
        _ = try await engine.setPolicy(pg)
        var staff = GroupPolicy(group: "staff")
        staff.exempt = true
        _ = try await engine.setPolicy(staff)
        _ = try await engine.setGroups(user: 2, groups: ["pg"])
        _ = try await engine.setGroups(user: 3, groups: ["staff"])
        let refused = await refusal {
            try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        }
        #expect(refused == .notAllowedForGroup(groups: ["pg"]))
        #expect(refused?.kind == .forbidden && refused?.code == "not_allowed_for_group")
        let wait = await refusal { try await engine.joinWaitlist(user: 1, target: .seat(1), desired: testNow + hour) }
        #expect(wait?.code == "not_allowed_for_group")
        _ = try await engine.book(user: 2, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        _ = try await engine.book(user: 3, seat: 2, start: testNow + hour, end: testNow + 2 * hour)
        let seat = Seat(id: 1, branch: "B", area: "A", hasPower: false, hasMonitor: false)
        #expect(engine.placeRestrictions.groups(for: seat) == ["pg"])
        // The policy gone, the area is everyone's again.
        #expect(try await engine.removePolicy(group: "pg"))
        _ = try await engine.book(user: 1, seat: 3, start: testNow + hour, end: testNow + 2 * hour)
    }

    // MARK: - Release time

    /// Europe/Berlin on the nights the clocks change: 02:30 does not exist on 29 March 2026
    /// (the first instant after the gap, 03:00 CEST) and exists twice on 25 October 2026 (its
    /// first occurrence, CEST).
    @Test func releaseTimeAcrossDaylightSavingChanges() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Berlin")!
        let rule = ReleaseRule(daysBefore: 1, minute: 2 * 60 + 30)
        func t(_ s: String) -> Timestamp { RFC3339.parse(s)! }
        // Seats for 30 March open on 29 March, whose 02:30 falls in the gap.
        #expect(rule.opening(forStart: t("2026-03-30T08:00:00Z"), calendar: calendar) == t("2026-03-29T01:00:00Z"))
        // Seats for 26 October open on 25 October at the first 02:30 (CEST, UTC+2).
        #expect(rule.opening(forStart: t("2026-10-26T08:00:00Z"), calendar: calendar) == t("2026-10-25T00:30:00Z"))
        // An ordinary winter and summer day; a local day is the branch's, not UTC's (00:30 CET
        // on 2 December is 1 December in UTC).
        let seven = ReleaseRule(daysBefore: 1, minute: 7 * 60)
        #expect(seven.opening(forStart: t("2026-12-02T08:00:00Z"), calendar: calendar) == t("2026-12-01T06:00:00Z"))
        #expect(seven.opening(forStart: t("2026-07-02T08:00:00Z"), calendar: calendar) == t("2026-07-01T05:00:00Z"))
        #expect(seven.opening(forStart: t("2026-12-01T23:30:00Z"), calendar: calendar) == t("2026-12-01T06:00:00Z"))
        // The day after the spring change: the 07:00 of 29 March is CEST.
        #expect(seven.opening(forStart: t("2026-03-30T08:00:00Z"), calendar: calendar) == t("2026-03-29T05:00:00Z"))
        #expect(seven.opening(forStart: t("2026-10-26T08:00:00Z"), calendar: calendar) == t("2026-10-25T06:00:00Z"))
    }

    @Test func bookingBeforeTheReleaseIsNotOpenYet() async throws {
        let clock = ManualClock(RFC3339.parse("2026-03-29T00:59:59Z")!)
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 2), clock: clock)
        try await engine.define(branch: Branch(name: "Berlin", areas: ["A"], timeZone: "Europe/Berlin"))
        try await engine.define(seat: Seat(id: 1, branch: "Berlin", area: "A", hasPower: false, hasMonitor: false))
        _ = try await engine.register(studentID: "S1", name: "S", passwordHash: "")
        _ = try await engine.setRelease(branch: "Berlin", rule: ReleaseRule(daysBefore: 1, minute: 150))
        let start = RFC3339.parse("2026-03-30T07:00:00Z")!
        let early = await refusal { try await engine.book(user: 1, seat: 1, start: start, end: start + hour) }
        #expect(early == .notOpenYet(opensAt: RFC3339.parse("2026-03-29T01:00:00Z")!))
        #expect(early?.kind == .conflict)
        clock.advance(by: 1)
        _ = try await engine.book(user: 1, seat: 1, start: start, end: start + hour)
        // Staff overriding the student's policy may book before the release.
        let later = start + Seconds.day
        _ = try await engine.register(studentID: "STAFF", name: "Staff", passwordHash: "", role: .admin)
        let staffBooked = try await engine.book(
            onBehalfOf: 1, by: 2, seat: 1, start: later, end: later + hour, override: true)
        #expect(staffBooked.userID == 1)
    }

    // MARK: - Strikes

    /// Three no-shows within 30 days suspend booking and waiting for 7 days from the third;
    /// then it ends by itself; a removed strike no longer counts.
    @Test func noShowStrikesSuspendAndExpire() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 4, users: 2)
        for day in 0..<3 {
            let start = clock.now() + hour
            _ = try await engine.book(user: 1, seat: 1, start: start, end: start + hour)
            clock.advance(by: 2 * hour)
            _ = await engine.sweep(now: clock.now())
            if day < 2 { clock.advance(by: 2 * Seconds.day) }
        }
        let strikes = engine.strikes(of: 1)
        #expect(strikes.count == 3 && strikes.allSatisfy { $0.reason == .noShow })
        let suspension = try #require(engine.suspension(of: 1))
        #expect(suspension.until == strikes[0].at + 7 * Seconds.day)
        let refused = await refusal {
            try await engine.book(user: 1, seat: 2, start: clock.now() + hour, end: clock.now() + 2 * hour)
        }
        guard case .suspended(let until, let reasons) = refused else {
            Issue.record("expected suspended, got \(String(describing: refused))")
            return
        }
        #expect(until == suspension.until && reasons.count == 3 && reasons[0].contains("no-show"))
        #expect(
            await refusal { try await engine.joinWaitlist(user: 1, target: .seat(2), desired: clock.now() + hour) }?
                .code == "suspended")
        let kinds = engine.notifications.list(user: 1).map(\.kind)
        #expect(kinds.filter { $0 == .strikeRecorded }.count == 3 && kinds.contains(.suspended))
        // The other student is not affected.
        _ = try await engine.book(user: 2, seat: 2, start: clock.now() + hour, end: clock.now() + 2 * hour)
        // Removing a strike ends the suspension (two left); a lift needs a suspension.
        _ = try await engine.removeStrike(id: strikes[1].id, by: 2, reason: "the reader was broken")
        #expect(engine.suspension(of: 1) == nil)
        #expect(await refusal { try await engine.liftSuspension(user: 1, by: 2, reason: "x") }?.code == "invalid_state")
        _ = try await engine.book(user: 1, seat: 2, start: clock.now() + 3 * hour, end: clock.now() + 4 * hour)
    }

    /// A booking made after its start (the past tolerance) has the whole grace from when it was
    /// made: not a no-show, and no strike, before the student could check in.
    @Test func aLateBookingHasTheWholeGraceFromWhenItWasMade() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 2, users: 1)
        var d = GroupPolicy(group: "default")
        d.graceMinutes = 1
        _ = try await engine.setPolicy(d)
        let r = try await engine.book(user: 1, seat: 1, start: testNow - 2 * minute, end: testNow + hour)
        clock.advance(by: 59)
        #expect(await engine.sweep(now: clock.now()).noShows.isEmpty)
        #expect(engine.strikes(of: 1).isEmpty)
        clock.advance(by: 1)
        #expect(await engine.sweep(now: clock.now()).noShows.map(\.id) == [r.id])
        #expect(engine.strikes(of: 1).count == 1)
    }

    @Test func suspensionEndsByItselfAndALiftForgivesEarlierStrikes() async throws {
        let (engine, clock) = try await makeBareEngine(seats: 4, users: 2)
        var d = GroupPolicy(group: "default")
        d.strikeThreshold = 2
        d.suspensionDays = 3
        d.lateCancelMinutes = 60
        _ = try await engine.setPolicy(d)
        // Two late cancels (30 min before the start): two strikes, suspended for 3 days.
        for _ in 0..<2 {
            let r = try await engine.book(
                user: 1, seat: 1, start: clock.now() + 30 * minute, end: clock.now() + 90 * minute)
            _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
            clock.advance(by: hour)
        }
        #expect(engine.strikes(of: 1).map(\.reason) == [.lateCancel, .lateCancel])
        #expect(engine.suspension(of: 1) != nil)
        clock.advance(by: 3 * Seconds.day)
        #expect(engine.suspension(of: 1) == nil)
        // Suspended again, then lifted: the strikes before the lift do not suspend again.
        let r = try await engine.book(user: 1, seat: 1, start: clock.now() + 30 * minute, end: clock.now() + hour)
        _ = try await engine.cancel(id: r.id, requester: Requester(userID: 1))
        #expect(engine.suspension(of: 1) != nil)
        _ = try await engine.liftSuspension(user: 1, by: 2, reason: "spoke to the student")
        #expect(engine.suspension(of: 1) == nil)
        // A cancel well ahead, and a staff cancel, are no strikes.
        let ahead = try await engine.book(user: 1, seat: 1, start: clock.now() + 5 * hour, end: clock.now() + 6 * hour)
        _ = try await engine.cancel(id: ahead.id, requester: Requester(userID: 1))
        let soon = try await engine.book(user: 1, seat: 1, start: clock.now() + 10 * minute, end: clock.now() + hour)
        _ = try await engine.cancel(id: soon.id, requester: Requester(userID: 2, isAdmin: true))
        #expect(engine.strikes(of: 1).count == 3)
    }

    /// Strikes, lifts, policies and memberships survive a restart (replay of the journal, and a
    /// snapshot's image through the record codec) and reach a standby (the same records applied).
    @Test func policiesAndStrikesSurviveReplayAndSnapshots() async throws {
        let journal = RecordingJournal()
        let clock = ManualClock(testNow)
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 3), clock: clock, journal: journal)
        try await engine.define(branch: Branch(name: "B", areas: ["A"]))
        for s in 1...3 {
            try await engine.define(
                seat: Seat(id: SeatID(s), branch: "B", area: "A", hasPower: true, hasMonitor: false))
        }
        for u in 1...2 { _ = try await engine.register(studentID: "U\(u)", name: "U", passwordHash: "") }
        var pg = GroupPolicy(group: "pg")
        pg.maxUpcoming = 5
        pg.features = ["power"]
        _ = try await engine.setPolicy(pg)
        _ = try await engine.setGroups(user: 1, groups: ["pg", "night"])
        _ = try await engine.setRelease(branch: "B", rule: ReleaseRule(daysBefore: 2, minute: 420))
        for _ in 0..<3 {
            _ = try await engine.book(user: 1, seat: 1, start: clock.now() + hour, end: clock.now() + 2 * hour)
            clock.advance(by: 2 * hour)
            _ = await engine.sweep(now: clock.now())
        }
        let strikes = engine.strikes(of: 1)
        _ = try await engine.removeStrike(id: strikes[0].id, by: 2, reason: "sick")
        #expect(engine.suspension(of: 1) == nil)

        func check(_ copy: SeatEngine) {
            #expect(copy.strikes(of: 1) == engine.strikes(of: 1))
            #expect(copy.groupPolicies == engine.groupPolicies)
            #expect(copy.assignedGroups(of: 1) == ["night", "pg"])
            #expect(copy.effectiveRules(for: 1) == engine.effectiveRules(for: 1))
            #expect(copy.branch(named: "B")?.release == ReleaseRule(daysBefore: 2, minute: 420))
        }
        let replayed = SeatEngine(configuration: EngineConfiguration(shardCount: 2), clock: clock)
        await replayed.apply(batch: journal.records)
        check(replayed)
        let image = await engine.capture()
        let decoded = try Array(image).map { try RecordCodec.decode(RecordCodec.encode($0)) }
        let restored = SeatEngine(configuration: EngineConfiguration(shardCount: 2), clock: clock)
        await restored.apply(batch: decoded)
        check(restored)
        // A later, removed copy of a strike wins over an older one replayed after it.
        await restored.apply(.strike(strikes[0]))
        #expect(restored.strikes(of: 1).first { $0.id == strikes[0].id }?.removed != nil)
    }

    // MARK: - On behalf

    @Test func staffBookOnBehalfUnderThePolicyUnlessOverridden() async throws {
        let (engine, _) = try await makeBareEngine(seats: 6, users: 1)
        _ = try await engine.register(studentID: "STAFF", name: "Staff", passwordHash: "", role: .admin)
        var d = GroupPolicy(group: "default")
        d.maxUpcoming = 1
        _ = try await engine.setPolicy(d)
        let own = try await engine.book(user: 1, seat: 1, start: testNow + hour, end: testNow + 2 * hour)
        let limited = await refusal {
            try await engine.book(
                onBehalfOf: 1, by: 2, seat: 2, start: testNow + 3 * hour, end: testNow + 4 * hour, override: false)
        }
        #expect(limited == .limitReached(limit: 1))
        let forced = try await engine.book(
            onBehalfOf: 1, by: 2, seat: 2, start: testNow + 3 * hour, end: testNow + 4 * hour, override: true)
        #expect(forced.userID == 1)
        #expect(engine.notifications.list(user: 1).contains { $0.kind == .bookedByStaff })
        // The overriding booking counts afterwards: the student still cannot book more.
        _ = try await engine.cancel(id: own.id, requester: Requester(userID: 1))
        #expect(
            await refusal {
                try await engine.book(user: 1, seat: 3, start: testNow + 5 * hour, end: testNow + 6 * hour)
            } == .limitReached(limit: 1))
        // Staff cancel on behalf: the student hears of it, and it is no strike.
        _ = try await engine.cancel(id: forced.id, requester: Requester(userID: 2, isAdmin: true))
        #expect(engine.notifications.list(user: 1).contains { $0.kind == .reservationCancelled })
        #expect(engine.strikes(of: 1).isEmpty)
        #expect(
            await refusal {
                try await engine.book(
                    onBehalfOf: 2, by: 2, seat: 3, start: testNow + hour, end: testNow + 2 * hour, override: false)
            }?.code == "bad_request")
    }
}
