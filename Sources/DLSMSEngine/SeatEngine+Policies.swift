import DLSMSCore
import Dispatch
import Foundation
import SwiftCSV

/// Rules per group: policies, staff-given groups, strikes and suspensions, release times, and
/// bookings staff make on a student's behalf (see `docs/rules-per-group.md`).
extension SeatEngine {
    // MARK: - Reading

    /// The rules of `user` now, after their groups' policies.
    public func effectiveRules(for user: UserID) -> EffectiveRules { context.policies.effective(for: user) }

    /// The places and features policies restrict.
    public var placeRestrictions: PlaceRestrictions { context.policies.restrictions }

    public var groupPolicies: [GroupPolicy] { context.policies.policies }

    public func groupPolicy(_ group: String) -> GroupPolicy? { context.policies.policy(group) }

    /// Every group a policy or a staff-given membership names, with its staff-given member count.
    public func groupSummaries() -> [(name: String, members: Int)] { context.policies.groups() }

    /// Students staff gave `group`, by id.
    public func members(of group: String) -> [UserID] { context.policies.members(of: group) }

    public func assignedGroups(of user: UserID) -> [String] { context.policies.assignedGroups(of: user) }

    /// A student's strikes, newest first.
    public func strikes(of user: UserID) -> [Strike] { context.policies.strikes(of: user).reversed() }

    /// Strikes of `user` that count now: not removed, and younger than the student's strike window.
    public func liveStrikeCount(of user: UserID) -> Int {
        let now = clock.now()
        let window = effectiveRules(for: user).strikes.window
        return context.policies.strikes(of: user).filter { $0.removed == nil && $0.at + window > now }.count
    }

    public func suspension(of user: UserID) -> Suspension? {
        context.policies.suspension(of: user, now: clock.now())
    }

    public func suspensionLift(of user: UserID) -> SuspensionLift? { context.policies.lift(of: user) }

    // MARK: - Changes

    /// The largest membership CSV (100,000 lines of a student id and a group fit easily).
    public static let maxMembershipImportBytes = 4 << 20

    /// Sets a group's policy (the whole policy).
    public func setPolicy(_ policy: GroupPolicy) async throws(EngineError) -> GroupPolicy {
        try policy.validate()
        // Each place names a branch, or an area of one, that the catalog has.
        for place in policy.places {
            // Empty parts kept: "Branch/" names no area, and is refused, not taken for the branch.
            let parts = place.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            guard let branch = self.branch(named: parts[0]), parts.count == 1 || branch.areas.contains(parts[1])
            else {
                throw .badRequest("unknown place '\(place.prefix(201))': a branch, or branch/area, of the catalog")
            }
        }
        var p = policy
        p.removed = false
        p.places = Array(Set(p.places)).sorted()
        p.features = Array(Set(p.features)).sorted()
        try context.health.check()
        let ticket = try context.policies.put(p, journal: context.journal)
        try await context.health.commit(ticket)
        return p
    }

    /// Removes a group's policy; false when it had none.
    public func removePolicy(group: String) async throws(EngineError) -> Bool {
        try GroupPolicy.validateGroupName(group)
        guard context.policies.policy(group) != nil else { return false }
        var p = GroupPolicy(group: group)
        p.removed = true
        try context.health.check()
        try await context.health.commit(try context.policies.put(p, journal: context.journal))
        return true
    }

    /// Replaces the groups staff gave a student.
    public func setGroups(user: UserID, groups: [String]) async throws(EngineError) -> [String] {
        guard let account = users.user(id: user), !account.isErased else { throw .userNotFound }
        for g in groups { try GroupPolicy.validateGroupName(g) }
        let membership = GroupMembership(userID: user, groups: groups)
        guard membership.groups.count <= GroupPolicy.maxAssignedGroups else {
            throw .badRequest("a student has at most \(GroupPolicy.maxAssignedGroups) groups")
        }
        try context.health.check()
        try await context.health.commit(try context.policies.assign(membership, journal: context.journal))
        return membership.groups
    }

    /// Adds the memberships of a CSV file of `student_id,group` lines (a header line of those
    /// names is skipped): every line is checked first, and nothing is added if any is wrong.
    /// Answers the memberships added (those a student had already do not count).
    public func importMemberships(csv text: String) async throws(EngineError) -> Int {
        guard text.utf8.count <= Self.maxMembershipImportBytes else {
            throw .badRequest("the file is larger than \(Self.maxMembershipImportBytes >> 20) MiB")
        }
        // A blank line is skipped wherever it is (inside the file the CSV reader would pad it to the
        // header's two fields, which is a line of empty fields); the others keep their numbers.
        // ("\r\n" is one Character in Swift: a split on "\n" alone would not see it.)
        let nonBlank = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .enumerated().filter { !$0.element.allSatisfy(\.isWhitespace) }
        let numbers = nonBlank.map { $0.offset + 1 }
        let kept = nonBlank.map(\.element).joined(separator: "\n")
        func number(_ row: Int) -> Int { row < numbers.count ? numbers[row] : row + 1 }
        // Parsed on a thread of Dispatch's, not of Swift's small cooperative pool: a large file
        // takes a second or more, and the pool serves every request (a health check too).
        let parsed: Result<EnumeratedCSV, EngineError> = await withCheckedContinuation { done in
            DispatchQueue.global().async {
                do {
                    done.resume(
                        returning: .success(try EnumeratedCSV(string: kept, delimiter: .comma, loadColumns: false)))
                } catch {
                    done.resume(returning: .failure(.badRequest("not a CSV file: \(error)")))
                }
            }
        }
        let csv = try parsed.get()
        // The first line is a header when it names the columns; else it is data (line 1).
        let header = csv.header.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        var lines = csv.rows.enumerated().map { (line: number($0.offset + 1), fields: $0.element) }
        if header != ["student_id", "group"] { lines.insert((number(0), csv.header), at: 0) }
        guard lines.count <= 100_000 else { throw .badRequest("at most 100000 lines") }
        var additions: [UserID: [String]] = [:]
        var problems: [String] = []
        for (line, row) in lines {
            let fields = row.map { $0.trimmingCharacters(in: .whitespaces) }
            if fields.count <= 1 && fields.allSatisfy(\.isEmpty) { continue }  // a blank line
            guard fields.count == 2, !fields[1].isEmpty else {
                problems.append("line \(line): two fields expected (student_id,group)")
                continue
            }
            guard let user = users.user(studentID: fields[0]) else {
                problems.append("line \(line): no student '\(fields[0].prefix(64))'")
                continue
            }
            do throws(EngineError) {
                try GroupPolicy.validateGroupName(fields[1])
            } catch {
                problems.append("line \(line): \(error.message)")
                continue
            }
            additions[user.id, default: []].append(fields[1])
        }
        guard !additions.isEmpty || !problems.isEmpty else {
            throw .badRequest("the file has no student_id,group line")
        }
        guard problems.isEmpty else {
            throw .badRequest(problems.prefix(20).joined(separator: "; ") + (problems.count > 20 ? "; …" : ""))
        }
        let before = additions.keys.reduce(0) { $0 + context.policies.assignedGroups(of: $1).count }
        try context.health.check()
        try await context.health.commit(try context.policies.add(additions, journal: context.journal))
        let after = additions.keys.reduce(0) { $0 + context.policies.assignedGroups(of: $1).count }
        return after - before
    }

    /// Removes a strike (staff, with a reason).
    public func removeStrike(id: Int64, by staff: UserID, reason: String) async throws(EngineError) -> Strike {
        try BookingRules.validateText(reason, field: "reason", maxBytes: 200, required: true)
        try context.health.check()
        let (strike, ticket) = try context.policies.removeStrike(
            id: id, removal: Strike.Removal(at: clock.now(), by: staff, reason: reason), journal: context.journal)
        try await context.health.commit(ticket)
        return strike
    }

    /// Lifts a student's suspension (staff, with a reason): the strikes so far no longer suspend.
    public func liftSuspension(user: UserID, by staff: UserID, reason: String) async throws(EngineError)
        -> SuspensionLift
    {
        try BookingRules.validateText(reason, field: "reason", maxBytes: 200, required: true)
        guard users.user(id: user) != nil else { throw .userNotFound }
        guard suspension(of: user) != nil else { throw .invalidState("the student is not suspended") }
        let lift = SuspensionLift(userID: user, at: clock.now(), by: staff, reason: reason)
        try context.health.check()
        try await context.health.commit(try context.policies.lift(lift, journal: context.journal))
        return lift
    }

    /// Sets (or, with nil, removes) a branch's release rule.
    public func setRelease(branch name: String, rule: ReleaseRule?) async throws(EngineError) -> Branch {
        try rule?.validate()
        let changed = try await changeCatalog { c throws(EngineError) in
            guard var b = c.branch(named: name) else { throw .branchNotFound(name) }
            b.release = rule
            return b
        }
        guard let changed else { throw .branchNotFound(name) }
        return changed
    }

    /// The instant bookings of `branch` starting at `start` open, if the branch has a release rule.
    public func opening(branch: Branch, start: Timestamp) -> Timestamp? {
        branch.release?.opening(forStart: start, calendar: OpeningHours.calendar(branch.zone))
    }

    /// Staff book for a student: the student's policy applies unless `override`; the student
    /// hears of it (`booked_by_staff`).
    public func book(
        onBehalfOf student: UserID, by staff: UserID, seat: SeatID, start: Timestamp, end: Timestamp, override: Bool
    ) async throws(EngineError) -> Reservation {
        guard let user = users.user(id: student), !user.isErased else { throw .userNotFound }
        guard user.role == .student else { throw .badRequest("user_id must be a student's account") }
        let r = try await book(user: student, seat: seat, start: start, end: end, override: override)
        let created = notifications.create(
            user: student, kind: .bookedByStaff,
            message:
                "The library staff booked seat \(seat) for you from \(RFC3339.format(start)) to \(RFC3339.format(end)) (reservation \(r.id)).",
            seat: seat, start: start, end: end, now: clock.now(), journal: context.journal)
        switch created {
        case .success(let (n, ticket)):
            try await context.health.commit(ticket)
            notifications.publish(n.id)
        case .failure(let e):
            context.health.fail(e)
            throw e
        }
        return r
    }
}
