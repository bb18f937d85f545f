import Foundation

/// One group's rules over the defaults (see `docs/rules-per-group.md`). Every rule is optional: a
/// policy names only what it changes. `exempt` lifts every limit.
public struct GroupPolicy: Sendable, Hashable {
    public static let defaultGroup = "default"
    /// Places and features one policy may name.
    public static let maxPlaces = 100
    /// Groups one student may be given by staff.
    public static let maxAssignedGroups = 64

    public var group: String
    public var exempt = false
    public var maxUpcoming: Int?
    public var maxHoursPerDay: Int?
    public var maxHoursPerWeek: Int?
    public var maxDurationMinutes: Int?
    public var maxDaysAhead: Int?
    public var graceMinutes: Int?
    public var maxWaitlist: Int?
    /// Restricted places this group may book: `"Branch"` or `"Branch/Area"`.
    public var places: [String] = []
    /// Restricted seat features this group may book: `"power"`, `"monitor"`.
    public var features: [String] = []
    public var strikeThreshold: Int?
    public var strikeWindowDays: Int?
    public var suspensionDays: Int?
    public var lateCancelMinutes: Int?
    /// Stepping away: how long, how many times a stay, and whether running out is a strike (1).
    public var awayMinutes: Int?
    public var awayTimes: Int?
    public var awayStrike: Int?
    /// The record that removes the group's policy.
    public var removed = false

    public init(group: String) { self.group = group }

    /// The integer rules in record order, each with its name and range (the record format and the
    /// REST body both go by this table).
    public static var integerRules: [(name: String, path: WritableKeyPath<GroupPolicy, Int?>, range: ClosedRange<Int>)]
    {
        [
            ("max_upcoming", \.maxUpcoming, 1...1_000),
            ("max_hours_per_day", \.maxHoursPerDay, 1...24),
            ("max_hours_per_week", \.maxHoursPerWeek, 1...168),
            ("max_duration_minutes", \.maxDurationMinutes, 15...1_440),
            ("max_days_ahead", \.maxDaysAhead, 1...365),
            ("grace_minutes", \.graceMinutes, 1...240),
            ("max_waitlist", \.maxWaitlist, 1...1_000),
            ("strike_threshold", \.strikeThreshold, 1...100),
            ("strike_window_days", \.strikeWindowDays, 1...365),
            ("suspension_days", \.suspensionDays, 1...365),
            ("late_cancel_minutes", \.lateCancelMinutes, 0...1_440),
            ("away_minutes", \.awayMinutes, 5...240),
            ("away_times", \.awayTimes, 0...20),
            ("away_strike", \.awayStrike, 0...1),
        ]
    }

    public static let knownFeatures: Set<String> = ["power", "monitor"]

    /// Checks every value against its range, the places' form and the group's name.
    public func validate() throws(EngineError) {
        try Self.validateGroupName(group)
        for rule in Self.integerRules {
            if let v = self[keyPath: rule.path], !rule.range.contains(v) {
                throw .badRequest("\(rule.name) must be between \(rule.range.lowerBound) and \(rule.range.upperBound)")
            }
        }
        guard places.count <= Self.maxPlaces, features.count <= Self.maxPlaces else {
            throw .badRequest("a policy names at most \(Self.maxPlaces) places and features")
        }
        for place in places {
            try BookingRules.validateText(place, field: "place", maxBytes: 201, required: true, identifier: true)
        }
        for feature in features where !Self.knownFeatures.contains(feature) {
            throw .badRequest("unknown feature '\(feature)': power or monitor")
        }
    }

    /// A group name: 1–64 bytes of letters, digits, space, `-`, `_`, `.`, `:`, `=`, `,` (directory
    /// group names such as `cn=postgraduate,ou=groups`), no leading or trailing space.
    public static func validateGroupName(_ name: String) throws(EngineError) {
        let ok =
            !name.isEmpty && name.utf8.count <= 64 && name.first != " " && name.last != " "
            && name.utf8.allSatisfy { c in
                (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 32 || c == 45 || c == 95
                    || c == 46 || c == 58 || c == 61 || c == 44
            }
        guard ok, !name.allSatisfy({ $0 == "." }) else {
            throw .badRequest(
                "a group name is 1-64 letters, digits, spaces, '-', '_', '.', ':', '=' or ',' (not dots alone)")
        }
    }
}

/// The groups staff gave one student (the identity provider's are on ``User/groups``).
public struct GroupMembership: Sendable, Hashable {
    public var userID: UserID
    public var groups: [String]
    public init(userID: UserID, groups: [String]) {
        self.userID = userID
        self.groups = Array(Set(groups)).sorted()
    }
}

/// How strikes turn into suspensions. Durations in seconds; `lateCancel` 0: a late cancel is no strike.
public struct StrikeRules: Sendable, Hashable {
    public var threshold = 3
    public var window: Int64 = 30 * Seconds.day
    public var suspension: Int64 = 7 * Seconds.day
    public var lateCancel: Int64 = 0
    /// A step away that runs out (the student did not come back) is a strike.
    public var awayStrike = false
    public init() {}
}

/// A student's rules after their groups' policies: rule by rule the most generous value over
/// `default` and every group of theirs that sets the rule.
public struct EffectiveRules: Sendable, Hashable {
    public var groups: [String]
    public var exempt: Bool
    /// The booking rules with this student's values (upcoming, duration, days ahead, grace,
    /// waitlist entries, hours per day and week).
    public var rules: BookingRules
    /// Restricted places and features this student may book.
    public var places: Set<String>
    public var features: Set<String>
    public var strikes: StrikeRules

    /// Resolves the rules of a student in `groups` (`default` is added) under `policies`.
    public static func resolve(
        base: BookingRules, strikes baseStrikes: StrikeRules, policies: [String: GroupPolicy], groups: [String]
    ) -> EffectiveRules {
        var rules = base
        var strikes = baseStrikes
        var names = groups
        if !names.contains(GroupPolicy.defaultGroup) { names.insert(GroupPolicy.defaultGroup, at: 0) }
        // `default` replaces the server's values; the others can only give more.
        if let d = policies[GroupPolicy.defaultGroup] { apply(d, to: &rules, &strikes, replacing: true) }
        var exempt = policies[GroupPolicy.defaultGroup]?.exempt ?? false
        var places = Set(policies[GroupPolicy.defaultGroup]?.places ?? [])
        var features = Set(policies[GroupPolicy.defaultGroup]?.features ?? [])
        for name in names where name != GroupPolicy.defaultGroup {
            guard let p = policies[name] else { continue }
            apply(p, to: &rules, &strikes, replacing: false)
            exempt = exempt || p.exempt
            places.formUnion(p.places)
            features.formUnion(p.features)
        }
        if exempt {
            rules.maxUpcomingPerUser = .max
            rules.maxConcurrentPerUser = nil
            rules.maxPerDay = nil
            rules.maxPerWeek = nil
            rules.maxWaitingPerUser = max(rules.maxWaitingPerUser, 1_000)
            strikes.threshold = .max
        }
        return EffectiveRules(
            groups: names, exempt: exempt, rules: rules, places: places, features: features, strikes: strikes)
    }

    private static func apply(_ p: GroupPolicy, to r: inout BookingRules, _ s: inout StrikeRules, replacing: Bool) {
        func more<T: Comparable>(_ current: T, _ value: T?) -> T {
            guard let value else { return current }
            return replacing ? value : Swift.max(current, value)
        }
        func less<T: Comparable>(_ current: T, _ value: T?) -> T {
            guard let value else { return current }
            return replacing ? value : Swift.min(current, value)
        }
        /// A cap (nil: none): a group without one keeps what it had; `default` sets it.
        func cap(_ current: Int64?, _ hours: Int?) -> Int64? {
            guard let hours else { return current }
            let value = Int64(hours) * Seconds.hour
            guard let current, !replacing else { return value }
            return Swift.max(current, value)
        }
        r.maxUpcomingPerUser = more(r.maxUpcomingPerUser, p.maxUpcoming)
        r.maxPerDay = cap(r.maxPerDay, p.maxHoursPerDay)
        r.maxPerWeek = cap(r.maxPerWeek, p.maxHoursPerWeek)
        r.maxDuration = more(r.maxDuration, p.maxDurationMinutes.map { Int64($0) * Seconds.minute })
        r.maxAdvance = more(r.maxAdvance, p.maxDaysAhead.map { Int64($0) * Seconds.day })
        r.grace = more(r.grace, p.graceMinutes.map { Int64($0) * Seconds.minute })
        r.maxWaitingPerUser = more(r.maxWaitingPerUser, p.maxWaitlist)
        r.awayLimit = more(r.awayLimit, p.awayMinutes.map { Int64($0) * Seconds.minute })
        r.awayTimes = more(r.awayTimes, p.awayTimes)
        if let strike = p.awayStrike { s.awayStrike = replacing ? strike == 1 : s.awayStrike && strike == 1 }
        s.threshold = more(s.threshold, p.strikeThreshold)
        s.window = less(s.window, p.strikeWindowDays.map { Int64($0) * Seconds.day })
        s.suspension = less(s.suspension, p.suspensionDays.map { Int64($0) * Seconds.day })
        if let late = p.lateCancelMinutes {
            let value = Int64(late) * Seconds.minute
            // 0 (never a strike) is the most generous.
            s.lateCancel = replacing ? value : (s.lateCancel == 0 || value == 0 ? 0 : Swift.min(s.lateCancel, value))
        }
    }

    /// Whether this student may book `seat` where `restrictions` lists the places and features
    /// some policy names (nil: allowed; else the groups that may).
    public func mayBook(_ seat: Seat, restrictions: PlaceRestrictions) -> Bool {
        exempt || restrictions.allows(seat, places: places, features: features)
    }
}

/// Every place and feature that some policy names: a seat they match is bookable only by the
/// groups whose policies name each of them (a branch covers its areas).
public struct PlaceRestrictions: Sendable, Hashable {
    public struct Grant: Sendable, Hashable {
        public var places: Set<String> = []
        public var features: Set<String> = []
    }

    /// What each group's policy names.
    public private(set) var grants: [String: Grant] = [:]
    private var places: Set<String> = []
    private var features: Set<String> = []

    public init() {}

    public init(policies: some Sequence<GroupPolicy>) {
        for p in policies where !p.removed && (!p.places.isEmpty || !p.features.isEmpty) {
            grants[p.group] = Grant(places: Set(p.places), features: Set(p.features))
            places.formUnion(p.places)
            features.formUnion(p.features)
        }
    }

    public var isEmpty: Bool { places.isEmpty && features.isEmpty }

    /// Whether some policy restricts `seat`.
    public func restricts(_ seat: Seat) -> Bool {
        guard !isEmpty else { return false }
        return places.contains(seat.branch) || places.contains(seat.branch + "/" + seat.area)
            || (seat.hasPower && features.contains("power")) || (seat.hasMonitor && features.contains("monitor"))
    }

    /// The groups whose own policy (with `default`'s) lets them book `seat`; nil when it is not
    /// restricted.
    public func groups(for seat: Seat) -> [String]? {
        guard restricts(seat) else { return nil }
        let base = grants[GroupPolicy.defaultGroup] ?? Grant()
        return grants.filter { g, grant in
            g != GroupPolicy.defaultGroup
                && allows(seat, places: grant.places.union(base.places), features: grant.features.union(base.features))
        }.map(\.key).sorted()
    }

    /// Whether a student granted `mine` places and `myFeatures` may book `seat`.
    public func allows(_ seat: Seat, places mine: Set<String>, features myFeatures: Set<String>) -> Bool {
        guard !isEmpty else { return true }
        let area = seat.branch + "/" + seat.area
        if places.contains(seat.branch) || places.contains(area) {
            guard mine.contains(seat.branch) || mine.contains(area) else { return false }
        }
        if seat.hasPower, features.contains("power"), !myFeatures.contains("power") { return false }
        if seat.hasMonitor, features.contains("monitor"), !myFeatures.contains("monitor") { return false }
        return true
    }
}

/// A strike: a no-show, or a cancel too close to the start.
public struct Strike: Sendable, Hashable {
    public enum Reason: UInt8, Sendable, Hashable {
        case noShow = 1
        case lateCancel = 2
        public var name: String { self == .noShow ? "no_show" : "late_cancel" }
    }

    public struct Removal: Sendable, Hashable {
        public var at: Timestamp
        public var by: UserID
        public var reason: String
        public init(at: Timestamp, by: UserID, reason: String) {
            self.at = at
            self.by = by
            self.reason = reason
        }
    }

    public var id: Int64
    public var userID: UserID
    public var reason: Reason
    public var reservationID: ReservationID
    public var seatID: SeatID
    /// When the reservation would have started (what the student sees).
    public var start: Timestamp
    public var at: Timestamp
    public var removed: Removal?

    public init(
        id: Int64, userID: UserID, reason: Reason, reservationID: ReservationID, seatID: SeatID, start: Timestamp,
        at: Timestamp, removed: Removal? = nil
    ) {
        self.id = id
        self.userID = userID
        self.reason = reason
        self.reservationID = reservationID
        self.seatID = seatID
        self.start = start
        self.at = at
        self.removed = removed
    }

    /// Text for a person, e.g. "no-show: seat 12, reservation 45, 2026-12-01T09:00:00Z".
    public var description: String {
        "\(reason == .noShow ? "no-show" : "late cancel"): seat \(seatID), reservation \(reservationID), \(RFC3339.format(start))"
    }
}

/// Staff lifted a student's suspension: strikes up to `at` no longer suspend.
public struct SuspensionLift: Sendable, Hashable {
    public var userID: UserID
    public var at: Timestamp
    public var by: UserID
    public var reason: String
    public init(userID: UserID, at: Timestamp, by: UserID, reason: String) {
        self.userID = userID
        self.at = at
        self.by = by
        self.reason = reason
    }
}

/// A suspension derived from strikes: `threshold` live strikes within the window suspend from the
/// last of them for the suspension time.
public struct Suspension: Sendable, Hashable {
    public var since: Timestamp
    public var until: Timestamp
    public var strikes: [Strike]

    /// The suspension in force at `now`, if any: over the strikes not removed and after the
    /// last lift, the newest run of `threshold` strikes within `window` whose suspension has not
    /// ended.
    public static func current(
        strikes: [Strike], liftedAt: Timestamp?, rules: StrikeRules, now: Timestamp
    ) -> Suspension? {
        guard rules.threshold > 0, rules.threshold != .max else { return nil }
        let live = strikes.filter { $0.removed == nil && $0.at > (liftedAt ?? .min) }.sorted { $0.at < $1.at }
        guard live.count >= rules.threshold else { return nil }
        for last in stride(from: live.count - 1, through: rules.threshold - 1, by: -1) {
            let first = live[last - rules.threshold + 1]
            guard live[last].at - first.at <= rules.window else { continue }
            let until = live[last].at + rules.suspension
            guard until > now else { return nil }  // the newest run has ended: older ones too
            return Suspension(
                since: live[last].at, until: until, strikes: Array(live[(last - rules.threshold + 1)...last]))
        }
        return nil
    }
}

/// Per branch: seats for local day D open at `minute` (minutes after midnight) local time on
/// day D − `daysBefore`.
public struct ReleaseRule: Sendable, Hashable {
    public var daysBefore: Int
    public var minute: Int
    public init(daysBefore: Int, minute: Int) {
        self.daysBefore = daysBefore
        self.minute = minute
    }

    public static let maxDaysBefore = 365

    public func validate() throws(EngineError) {
        guard (0...Self.maxDaysBefore).contains(daysBefore) else {
            throw .badRequest("days_before must be between 0 and \(Self.maxDaysBefore)")
        }
        guard (0..<1_440).contains(minute) else { throw .badRequest("time must be HH:MM, 00:00 to 23:59") }
    }

    /// "07:00".
    public var time: String {
        let h = minute / 60
        let m = minute % 60
        return (h < 10 ? "0" : "") + String(h) + ":" + (m < 10 ? "0" : "") + String(m)
    }

    /// The instant bookings starting at `start` open, in `calendar`'s time zone. A local time the
    /// clocks skip is the first instant after the gap; one they repeat, its first occurrence.
    public func opening(forStart start: Timestamp, calendar: Calendar) -> Timestamp {
        let day = calendar.startOfDay(for: Date(timeIntervalSince1970: TimeInterval(start)))
        guard let releaseDay = calendar.date(byAdding: .day, value: -daysBefore, to: day) else { return start }
        var c = calendar.dateComponents([.year, .month, .day], from: releaseDay)
        c.hour = minute / 60
        c.minute = minute % 60
        c.second = 0
        guard
            let instant = calendar.nextDate(
                after: calendar.startOfDay(for: releaseDay).addingTimeInterval(-1), matching: c,
                matchingPolicy: .nextTime, repeatedTimePolicy: .first, direction: .forward)
        else { return Timestamp(releaseDay.timeIntervalSince1970) }
        return Timestamp(instant.timeIntervalSince1970)
    }
}
