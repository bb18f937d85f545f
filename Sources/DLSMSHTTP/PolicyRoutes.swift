import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// Rules per group: policies, staff-given groups, strikes and suspensions, release times
/// (`docs/rules-per-group.md`).
package func addPolicyRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    addGroupRoutes(to: api, service: service)
    addMembershipRoutes(to: api, service: service)
    addStrikeRoutes(to: api, service: service)
}

/// Groups and their policies.
private func addGroupRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    api.get("/admin/groups") { _, context -> Response in
        _ = try context.requireAdmin()
        let summaries = engine.groupSummaries()
        return Render.response {
            $0.object {
                $0.field("groups", array: summaries) { w, g in
                    w.object {
                        $0.field("group", g.name)
                        $0.field("members", g.members)
                        PolicyJSON.policyField(engine.groupPolicy(g.name), &$0)
                    }
                }
                $0.field("count", summaries.count)
            }
        }
    }

    api.get("/admin/groups/:group") { request, context -> Response in
        _ = try context.requireAdmin()
        let group = try context.groupName()
        let (limit, offset) = try request.queryPage(max: 1_000, default: 1_000)
        let members = engine.members(of: group)
        let page = members.dropFirst(offset).prefix(limit).compactMap { engine.user(id: $0) }
        return Render.response {
            $0.object {
                $0.field("group", group)
                PolicyJSON.policyField(engine.groupPolicy(group), &$0)
                $0.field("members", array: page) { w, u in
                    w.object {
                        $0.field("user_id", u.id)
                        $0.field("student_id", u.studentID)
                        $0.field("name", u.name)
                    }
                }
                $0.field("count", page.count)
                $0.field("total", members.count)
            }
        }
    }

    api.put("/admin/groups/:group/policy") { request, context -> Response in
        _ = try context.requireAdmin()
        let group = try context.groupName()
        var request = request
        let body = try await request.decodeJSON(PolicyBody.self)
        let before = engine.groupPolicy(group)
        let policy = try await engine.setPolicy(try body.policy(group: group))
        try await service.audit(
            context.auditActor, "group.policy_set", subject: "group:\(group)",
            before: before.map(auditPolicy) ?? "", after: auditPolicy(policy))
        return Render.response { w in w.object { PolicyJSON.policy(policy, &$0) } }
    }

    api.delete("/admin/groups/:group/policy") { _, context -> Response in
        _ = try context.requireAdmin()
        let group = try context.groupName()
        let before = engine.groupPolicy(group)
        guard try await engine.removePolicy(group: group) else {
            throw APIError(.notFound, "not_found", "group '\(group)' has no policy")
        }
        try await service.audit(
            context.auditActor, "group.policy_removed", subject: "group:\(group)",
            before: before.map(auditPolicy) ?? "")
        return Render.response {
            $0.object {
                $0.field("group", group)
                $0.field("removed", true)
            }
        }
    }

}

/// Who is in which group (staff-given), and the CSV import.
private func addMembershipRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    api.post("/admin/groups/import") { request, context -> Response in
        _ = try context.requireAdmin()
        let limit = SeatEngine.maxMembershipImportBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError(.contentTooLarge, "payload_too_large", "the file is larger than \(limit >> 20) MiB")
        }
        var request = request
        let buffer = try await request.collectBody(upTo: limit)
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw APIError.badRequest("the file must be UTF-8 text")
        }
        let added = try await engine.importMemberships(csv: text)
        try await service.audit(
            context.auditActor, "group.imported", subject: "groups",
            after: AuditChain.value {
                $0.object {
                    $0.field("added", added)
                    $0.field("bytes", text.utf8.count)
                }
            })
        return Render.response { $0.object { $0.field("added", added) } }
    }

    api.get("/admin/users/:id/groups") { _, context -> Response in
        _ = try context.requireAdmin()
        let user = try context.userAccount(engine)
        let mine = engine.effectiveRules(for: user.id)
        return Render.response {
            $0.object {
                $0.field("user_id", user.id)
                $0.field("student_id", user.studentID)
                $0.field("assigned", array: engine.assignedGroups(of: user.id)) { $0.value($1) }
                $0.field("identity", array: user.groups) { $0.value($1) }
                $0.field("rules", object: { PolicyJSON.effective(mine, &$0) })
            }
        }
    }

    api.put("/admin/users/:id/groups") { request, context -> Response in
        _ = try context.requireAdmin()
        let user = try context.userAccount(engine)
        var request = request
        guard let groups = try await request.decodeJSON(GroupsBody.self).groups else {
            throw APIError.badRequest("groups (a list of group names) is required")
        }
        let before = engine.assignedGroups(of: user.id)
        let assigned = try await engine.setGroups(user: user.id, groups: groups)
        try await service.audit(
            context.auditActor, "group.members_set", subject: "user:\(user.id)",
            before: AuditChain.value { w in w.object { $0.field("groups", array: before) { $0.value($1) } } },
            after: AuditChain.value { w in w.object { $0.field("groups", array: assigned) { $0.value($1) } } })
        return Render.response {
            $0.object {
                $0.field("user_id", user.id)
                $0.field("assigned", array: assigned) { $0.value($1) }
            }
        }
    }

}

/// Strikes, suspensions, and the branches' release times.
private func addStrikeRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    api.get("/admin/users/:id/strikes") { _, context -> Response in
        _ = try context.requireAdmin()
        let user = try context.userAccount(engine)
        return PolicyJSON.strikesAnswer(user, engine: engine)
    }

    api.get("/me/strikes") { _, context -> Response in
        let caller = try context.requireCaller()
        guard let user = engine.user(id: caller.userID) else { throw APIError.unauthorized }
        return PolicyJSON.strikesAnswer(user, engine: engine)
    }

    api.delete("/admin/strikes/:id") { request, context -> Response in
        let staff = try context.requireAdmin()
        guard let id = try context.pathID("strike id") else {
            throw APIError(.notFound, "not_found", "strike not found")
        }
        var request = request
        let reason = try await request.decodeJSON(ReasonBody.self).reason ?? ""
        let strike = try await engine.removeStrike(id: id, by: staff.userID, reason: reason)
        var before = strike
        before.removed = nil
        try await service.audit(
            context.auditActor, "strike.removed", subject: "user:\(strike.userID)", reason: reason,
            before: auditStrike(before), after: auditStrike(strike))
        return Render.response { w in PolicyJSON.strike(strike, engine: engine, &w) }
    }

    api.post("/admin/users/:id/suspension/lift") { request, context -> Response in
        let staff = try context.requireAdmin()
        let user = try context.userAccount(engine)
        var request = request
        let reason = try await request.decodeJSON(ReasonBody.self).reason ?? ""
        let suspended = engine.suspension(of: user.id)
        let lift = try await engine.liftSuspension(user: user.id, by: staff.userID, reason: reason)
        try await service.audit(
            context.auditActor, "suspension.lifted", subject: "user:\(user.id)", reason: reason,
            before: auditSuspension(suspended),
            after: AuditChain.value { w in w.object { $0.time("lifted_at", lift.at) } })
        return Render.response {
            $0.object {
                $0.field("user_id", lift.userID)
                $0.time("lifted_at", lift.at)
                $0.field("by", lift.by)
                $0.field("reason", lift.reason)
            }
        }
    }

    api.put("/admin/branches/:name/release") { request, context -> Response in
        _ = try context.requireAdmin()
        var request = request
        let body = try await request.decodeJSON(ReleaseBody.self)
        let rule = try body.rule()
        let branch = try await service.auditedBranchChange("branch.release", context) {
            try await engine.setRelease(branch: $0, rule: rule)
        }
        return try await branchResponse(branch.name, status: .ok, engine: engine)
    }

    api.delete("/admin/branches/:name/release") { _, context -> Response in
        _ = try context.requireAdmin()
        let branch = try await service.auditedBranchChange("branch.release", context) {
            try await engine.setRelease(branch: $0, rule: nil)
        }
        return try await branchResponse(branch.name, status: .ok, engine: engine)
    }
}

/// The JSON of policies, effective rules, strikes and suspensions.
package enum PolicyJSON {
    /// `"policy"`: the group's policy, or null.
    static func policyField(_ p: GroupPolicy?, _ w: inout JSONWriter) {
        if let p { w.field("policy", object: { policy(p, &$0) }) } else { w.field("policy", nil as String?) }
    }

    static func policy(_ p: GroupPolicy, _ w: inout JSONWriter) {
        w.field("group", p.group)
        w.field("exempt", p.exempt)
        for rule in GroupPolicy.integerRules {
            if let v = p[keyPath: rule.path] { w.field(name: rule.name, v) }
        }
        w.field("places", array: p.places) { $0.value($1) }
        w.field("features", array: p.features) { $0.value($1) }
    }

    /// A student's effective rules (the fields of `GET /rules` that depend on the student).
    package static func effective(_ e: EffectiveRules, _ w: inout JSONWriter) {
        w.field("groups", array: e.groups) { $0.value($1) }
        w.field("exempt", e.exempt)
        let r = e.rules
        w.field("max_upcoming_per_student", r.maxUpcomingPerUser == .max ? nil : r.maxUpcomingPerUser)
        w.field("max_duration_minutes", Int(r.maxDuration / Seconds.minute))
        w.field("max_days_ahead", Int(r.maxAdvance / Seconds.day))
        w.field("grace_minutes", Int(r.grace / Seconds.minute))
        w.field("max_hours_per_day", r.maxPerDay.map { Int($0 / Seconds.hour) })
        w.field("max_hours_per_week", r.maxPerWeek.map { Int($0 / Seconds.hour) })
        w.field("max_waitlist", r.maxWaitingPerUser)
        w.field("places", array: e.places.sorted()) { $0.value($1) }
        w.field("features", array: e.features.sorted()) { $0.value($1) }
        let s = e.strikes
        w.field("strike_threshold", s.threshold == .max ? nil : s.threshold)
        w.field("strike_window_days", Int(s.window / Seconds.day))
        w.field("suspension_days", Int(s.suspension / Seconds.day))
        w.field("late_cancel_minutes", Int(s.lateCancel / Seconds.minute))
        w.field("away_minutes", Int(r.awayLimit / Seconds.minute))
        w.field("away_times", r.awayTimes)
        w.field("away_strike", s.awayStrike)
    }

    static func strike(_ s: Strike, engine: SeatEngine, _ w: inout JSONWriter) {
        let window = engine.effectiveRules(for: s.userID).strikes.window
        w.object {
            $0.field("id", s.id)
            $0.field("user_id", s.userID)
            $0.field("student_id", engine.user(id: s.userID)?.studentID)
            $0.field("reason", s.reason.name)
            $0.field("reservation_id", s.reservationID)
            $0.field("seat_id", s.seatID)
            $0.time("start_time", s.start)
            $0.time("at", s.at)
            $0.time("expires_at", s.at + window)
            $0.field("description", s.description)
            if let removed = s.removed {
                $0.field(
                    "removed",
                    object: {
                        $0.time("at", removed.at)
                        $0.field("by", removed.by)
                        $0.field("reason", removed.reason)
                    })
            } else {
                $0.field("removed", nil as String?)
            }
        }
    }

    package static func suspension(_ s: Suspension?, lift: SuspensionLift?, _ w: inout JSONWriter) {
        if let s {
            w.field(
                "suspension",
                object: {
                    $0.time("since", s.since)
                    $0.time("until", s.until)
                    $0.field("reasons", array: s.strikes.map(\.description)) { $0.value($1) }
                })
        } else {
            w.field("suspension", nil as String?)
        }
        if let lift {
            w.field(
                "last_lift",
                object: {
                    $0.time("at", lift.at)
                    $0.field("by", lift.by)
                    $0.field("reason", lift.reason)
                })
        }
    }

    static func strikesAnswer(_ user: User, engine: SeatEngine) -> Response {
        let strikes = engine.strikes(of: user.id)
        return Render.response {
            $0.object {
                $0.field("user_id", user.id)
                $0.field("student_id", user.studentID)
                $0.field("strikes", array: strikes) { w, s in strike(s, engine: engine, &w) }
                $0.field("live", engine.liveStrikeCount(of: user.id))
                suspension(engine.suspension(of: user.id), lift: engine.suspensionLift(of: user.id), &$0)
            }
        }
    }
}

/// A policy's body: every rule optional; an unknown rule is refused (a typo must not pass silently).
package struct PolicyBody: JSONNamedKeys {
    var integers: [String: Int] = [:]
    var exempt: Bool?
    var places: [String]?
    var features: [String]?

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        let known = Set(GroupPolicy.integerRules.map(\.name))
        for key in c.allKeys {
            switch key.stringValue {
            case "exempt": exempt = try c.decodeIfPresent(Bool.self, forKey: key)
            case "places": places = try c.decodeIfPresent([String].self, forKey: key)
            case "features": features = try c.decodeIfPresent([String].self, forKey: key)
            case "group": continue  // as answered: the path names the group
            case let name where known.contains(name):
                if let v = try c.decodeIfPresent(Int.self, forKey: key) { integers[name] = v }
            default:
                throw APIError.badRequest("unknown rule '\(key.stringValue.prefix(64))'")
            }
        }
    }

    func policy(group: String) throws(APIError) -> GroupPolicy {
        var p = GroupPolicy(group: group)
        p.exempt = exempt ?? false
        p.places = places ?? []
        p.features = features ?? []
        for rule in GroupPolicy.integerRules { p[keyPath: rule.path] = integers[rule.name] }
        try checked { () throws(EngineError) in try p.validate() }
        return p
    }
}

package struct GroupsBody: Decodable {
    package var groups: [String]?
}

package struct ReasonBody: Decodable {
    package var reason: String?
}

/// `{"days_before": 1, "time": "07:00"}`; `{"days_before": null}` removes the rule. Any other key,
/// or a body without `days_before`, is refused (a misspelt key must not remove the rule).
package struct ReleaseBody: JSONNamedKeys {
    var daysBefore: Int?
    var time: String?

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: PolicyBody.Key.self)
        var sawDays = false
        for key in c.allKeys {
            switch key.stringValue {
            case "days_before":
                sawDays = true
                daysBefore = try c.decodeIfPresent(Int.self, forKey: key)
            case "time": time = try c.decodeIfPresent(String.self, forKey: key)
            default: throw APIError.badRequest("unknown key '\(key.stringValue.prefix(64))': days_before and time")
            }
        }
        guard sawDays else {
            throw APIError.badRequest("days_before is required (null removes the release rule)")
        }
    }

    func rule() throws(APIError) -> ReleaseRule? {
        guard let days = daysBefore else {
            guard time == nil else { throw APIError.badRequest("days_before is required with time") }
            return nil
        }
        guard let time else { throw APIError.badRequest("time (HH:MM, the branch's local time) is required") }
        let parts = time.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }),
            let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m)
        else { throw APIError.badRequest("time must be HH:MM (00:00 to 23:59): \(time.prefix(32))") }
        let rule = ReleaseRule(daysBefore: days, minute: h * 60 + m)
        try checked { () throws(EngineError) in try rule.validate() }
        return rule
    }
}

extension APIContext {
    package func groupName() throws(APIError) -> String {
        guard let raw = parameters.get("group") else { throw APIError(.notFound, "not_found", "no such group") }
        let name = raw.removingPercentEncoding ?? raw
        try checked { () throws(EngineError) in try GroupPolicy.validateGroupName(name) }
        return name
    }

    /// The account the path's `:id` names.
    package func userAccount(_ engine: SeatEngine) throws(APIError) -> User {
        guard let id = try pathID("user id"), let small = UserID(exactly: id), let user = engine.user(id: small) else {
            throw APIError(.notFound, "not_found", "user not found")
        }
        return user
    }
}

/// A strike as the audit trail keeps it (the student by number only).
private func auditStrike(_ s: Strike) -> String {
    AuditChain.value { w in
        w.object {
            $0.field("id", s.id)
            $0.field("user_id", s.userID)
            $0.field("reason", s.reason.name)
            $0.field("reservation_id", s.reservationID)
            $0.field("removed", s.removed != nil)
        }
    }
}

private func auditPolicy(_ p: GroupPolicy) -> String {
    AuditChain.value { w in w.object { PolicyJSON.policy(p, &$0) } }
}

private func auditSuspension(_ s: Suspension?) -> String {
    AuditChain.value { w in
        w.object {
            $0.time("suspended_until", s?.until)
            $0.field("strikes", array: s?.strikes ?? []) { $0.value($1.id) }
        }
    }
}
