import Foundation

/// One opening period of a local day: minutes after local midnight, `0 ≤ open < close ≤ 1440`.
public struct OpeningPeriod: Sendable, Hashable {
    public var open: Int
    public var close: Int

    public init(open: Int, close: Int) {
        self.open = open
        self.close = close
    }

    /// "08:00-22:00".
    public var description: String { "\(Self.clock(open))-\(Self.clock(close))" }

    static func clock(_ minutes: Int) -> String {
        let h = minutes / 60
        let m = minutes % 60
        return (h < 10 ? "0" : "") + "\(h):" + (m < 10 ? "0" : "") + "\(m)"
    }
}

/// When a branch is open, in its local time.
public enum OpeningHours: Sendable, Hashable {
    /// Open around the clock (the seed branches).
    case alwaysOpen
    /// Open every day from `openMinute` to `closeMinute` (minutes after local midnight,
    /// `0 ≤ open < close ≤ 1440`).
    case daily(openMinute: Int, closeMinute: Int)
    /// Per weekday, Monday first (seven lists): that local day's periods, in order and not
    /// overlapping; an empty list is a closed day.
    case weekly([[OpeningPeriod]])

    public static let weekdayNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    /// Periods a day may have.
    public static let maxPeriodsPerDay = 8

    /// Weekly hours after checking them: seven days, each with at most ``maxPeriodsPerDay``
    /// periods inside the day, in order and apart.
    public static func weekly(validating days: [[OpeningPeriod]]) throws(EngineError) -> OpeningHours {
        guard days.count == 7 else { throw .badRequest("opening hours need all seven weekdays") }
        for (d, periods) in days.enumerated() {
            let name = weekdayNames[d]
            guard periods.count <= maxPeriodsPerDay else {
                throw .badRequest("\(name): at most \(maxPeriodsPerDay) opening periods a day")
            }
            var last = -1
            for p in periods {
                guard p.open >= 0, p.close <= 1_440, p.open < p.close else {
                    throw .badRequest("\(name): a period must open before it closes, within the day (00:00–24:00)")
                }
                guard p.open > last else { throw .badRequest("\(name): periods must be in order and not overlap") }
                last = p.close - 1
            }
        }
        return .weekly(days)
    }

    public var isAlwaysOpen: Bool {
        if case .alwaysOpen = self { return true }
        return false
    }

    /// The periods of a weekday (0 = Monday).
    public func periods(weekday: Int) -> [OpeningPeriod] {
        switch self {
        case .alwaysOpen: return [OpeningPeriod(open: 0, close: 1_440)]
        case .daily(let open, let close): return [OpeningPeriod(open: open, close: close)]
        case .weekly(let days): return days[weekday]
        }
    }

    /// `true` when `[start, end)` lies inside one opening, in the local time of `zone`, daylight
    /// saving time included: a period's ends are local wall-clock times of that very day (on the
    /// night the clocks change, 08:00–22:00 is still 08:00–22:00 local, and the day is 23 or 25
    /// hours long). Periods that meet at midnight count as one opening.
    public func permits(start: Timestamp, end: Timestamp, zone: TimeZone) -> Bool {
        permits(start: start, end: end, calendar: Self.calendar(zone))
    }

    /// The same with the branch's calendar made once (``calendar(_:)``), for checks made often.
    public func permits(start: Timestamp, end: Timestamp, calendar: Calendar) -> Bool {
        if case .alwaysOpen = self { return true }
        guard end > start else { return false }
        let day = calendar.startOfDay(for: Date(timeIntervalSince1970: Double(start)))
        var open: [(Timestamp, Timestamp)] = []
        for offset in -1...1 {
            guard let d = calendar.date(byAdding: .day, value: offset, to: day) else { continue }
            let weekday = (calendar.component(.weekday, from: d) + 5) % 7  // Sunday is 1: Monday → 0
            for p in periods(weekday: weekday) {
                guard let a = Self.instant(calendar, d, p.open), let b = Self.instant(calendar, d, p.close) else {
                    continue
                }
                if let last = open.last, last.1 >= a {
                    open[open.count - 1].1 = max(last.1, b)
                } else {
                    open.append((a, b))
                }
            }
        }
        return open.contains { $0.0 <= start && end <= $0.1 }
    }

    /// The Gregorian calendar of a time zone.
    public static func calendar(_ zone: TimeZone) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        return calendar
    }

    /// The moment a local day's minute falls on (24:00 is the next day's midnight; a minute the
    /// clocks skip is the first one after the gap; one they repeat, the first of the two).
    static func instant(_ calendar: Calendar, _ day: Date, _ minute: Int) -> Timestamp? {
        let date =
            minute >= 1_440
            ? calendar.date(byAdding: .day, value: 1, to: day)
            : calendar.date(bySettingHour: minute / 60, minute: minute % 60, second: 0, of: day)
        return date.map { Timestamp($0.timeIntervalSince1970.rounded()) }
    }

    /// "00:00-24:00" style text for people: one range for every day, or per weekday.
    public var description: String {
        switch self {
        case .alwaysOpen: return "00:00-24:00"
        case .daily(let open, let close): return OpeningPeriod(open: open, close: close).description
        case .weekly(let days):
            return days.enumerated().map { d, periods in
                String(Self.weekdayNames[d].prefix(3)).capitalized + " "
                    + (periods.isEmpty ? "closed" : periods.map(\.description).joined(separator: ","))
            }.joined(separator: "; ")
        }
    }
}

@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

extension TimeZone {
    /// Coordinated Universal Time.
    public static let utc = TimeZone(identifier: "UTC")!
}

public struct Branch: Sendable, Hashable {
    /// Areas a branch may have (the record format allows more).
    public static let maxAreas = 200

    public var name: String
    public var areas: [String]
    /// IANA time zone identifier, e.g. "UTC" or "Europe/Berlin".
    public var timeZone: String
    public var openingHours: OpeningHours
    /// Times the branch, or one of its areas, is closed (exams, holidays), by id.
    public var closures: [Closure]
    /// The highest closure id this branch has given (ids are never given twice, even after a
    /// closure is removed).
    public var closureSerial: Int64
    /// Students check in only at the seat (its QR code), not with the plain check-in endpoint.
    public var presenceCheckIn = false
    /// Raising it invalidates every printed seat code of the branch (codes are made from it).
    public var seatCodeGeneration: UInt32 = 0
    /// When seats for a day open for booking (nil: as soon as `max_days_ahead` allows).
    public var release: ReleaseRule? = nil
    /// Staff turned the branch's public display (`/display/{branch}`) off.
    public var displayOff = false

    public init(
        name: String, areas: [String], timeZone: String = "UTC", openingHours: OpeningHours = .alwaysOpen,
        closures: [Closure] = [], closureSerial: Int64? = nil, presenceCheckIn: Bool = false,
        seatCodeGeneration: UInt32 = 0
    ) {
        self.presenceCheckIn = presenceCheckIn
        self.seatCodeGeneration = seatCodeGeneration
        self.name = name
        self.areas = areas
        self.timeZone = timeZone
        self.openingHours = openingHours
        self.closures = closures
        self.closureSerial = max(closureSerial ?? 0, closures.map(\.id).max() ?? 0)
    }

    /// The first closure of `area` (or of the whole branch) that overlaps `[start, end)`.
    public func closure(area: String, overlapping start: Timestamp, _ end: Timestamp) -> Closure? {
        closures.first { $0.applies(to: area) && $0.overlaps(start, end) }
    }

    /// A branch's name: 1–100 bytes of text people see, without '/' (it appears in paths).
    public static func validateName(_ name: String) throws(EngineError) {
        try BookingRules.validateText(name, field: "branch name", maxBytes: 100, required: true, identifier: true)
        guard !name.contains("/") else { throw .badRequest("a branch name must not contain '/'") }
    }

    /// The platform's time zone of the branch (UTC when the identifier is unknown).
    public var zone: TimeZone { TimeZone(identifier: timeZone) ?? .utc }
}

/// A time a branch, or one area of it, is closed: new bookings inside it are refused, and the
/// reservations and waitlist entries it overlaps were cancelled when it was declared.
public struct Closure: Sendable, Hashable {
    /// Closures a branch may have at once (ended ones are dropped as new ones come).
    public static let maxPerBranch = 500
    /// How long an ended closure stays listed.
    public static let keptAfterEnd: Timestamp = 30 * 86_400
    /// The longest closure (a renovation over the summer fits; a typo of a year does not).
    public static let maxDuration: Timestamp = 366 * 86_400
    /// How far ahead a closure may start.
    public static let maxAdvance: Timestamp = 2 * 366 * 86_400

    public var id: Int64
    /// The closed area; empty: the whole branch.
    public var area: String
    public var start: Timestamp
    public var end: Timestamp
    /// Why (shown to students and in the notifications): 1–200 bytes.
    public var reason: String

    public init(id: Int64, area: String = "", start: Timestamp, end: Timestamp, reason: String) {
        self.id = id
        self.area = area
        self.start = start
        self.end = end
        self.reason = reason
    }

    public func applies(to area: String) -> Bool { self.area.isEmpty || self.area == area }

    public func overlaps(_ start: Timestamp, _ end: Timestamp) -> Bool { self.start < end && start < self.end }
}

public struct Seat: Sendable, Hashable {
    public var id: SeatID
    public var branch: String
    public var area: String
    public var hasPower: Bool
    public var hasMonitor: Bool
    /// Taken out of service by an admin: cannot be booked.
    public var inMaintenance: Bool
    /// What people see on the seat (e.g. "S-014"); empty: the id is shown.
    public var label: String
    /// Suitable for wheelchair users.
    public var accessible: Bool
    /// Free text for people (e.g. "by the window").
    public var notes: String
    /// Place on the area's seat map (grid coordinates), if the staff gave one.
    public var x: Int32?
    public var y: Int32?
    /// Taken out of the library for good: not listed, not bookable; its history stays.
    public var retired: Bool

    public init(
        id: SeatID, branch: String, area: String, hasPower: Bool, hasMonitor: Bool, inMaintenance: Bool = false,
        label: String = "", accessible: Bool = false, notes: String = "", x: Int32? = nil, y: Int32? = nil,
        retired: Bool = false
    ) {
        self.id = id
        self.branch = branch
        self.area = area
        self.hasPower = hasPower
        self.hasMonitor = hasMonitor
        self.inMaintenance = inMaintenance
        self.label = label
        self.accessible = accessible
        self.notes = notes
        self.x = x
        self.y = y
        self.retired = retired
    }

    /// An area's name: 1–100 bytes of text people see.
    public static func validateArea(_ area: String) throws(EngineError) {
        try BookingRules.validateText(area, field: "area", maxBytes: 100, required: true, identifier: true)
    }

    /// The label people see: the staff's, or the id.
    public var displayLabel: String { label.isEmpty ? String(id) : label }

    /// Whether anything beyond the original's fields is set (the record then carries them).
    package var hasDetails: Bool { !label.isEmpty || accessible || !notes.isEmpty || x != nil || y != nil || retired }
}

public enum Role: UInt8, Sendable, Hashable, CaseIterable {
    case student = 0
    case admin = 1

    public var name: String { self == .admin ? "admin" : "student" }
}

/// Where an account's identity comes from. Accounts of a source other than `local` have no
/// password here: the source vouches for them at each sign-in.
public enum AccountSource: UInt8, Sendable, Hashable, CaseIterable {
    case local = 0
    case oidc = 1
    case ldap = 2
    case proxy = 3

    public var name: String {
        switch self {
        case .local: "local"
        case .oidc: "oidc"
        case .ldap: "ldap"
        case .proxy: "sso_proxy"
        }
    }
}

public struct User: Sendable, Hashable {
    public var id: UserID
    public var studentID: String
    public var name: String
    public var role: Role
    /// A bcrypt hash (`$2b$…`); empty when the account cannot log in.
    public var passwordHash: String
    public var createdAt: Timestamp
    /// A disabled account cannot log in, and its tokens are refused.
    public var disabled: Bool
    /// Tokens carry the generation they were issued under; raising it (password change, "revoke
    /// sessions") invalidates every token issued before.
    public var tokenGeneration: UInt32
    /// The SHA-256 of the student's private calendar feed token (``calendarFeedBytes`` bytes);
    /// empty: no feed.
    public var calendarFeed: [UInt8] = []

    public static let calendarFeedBytes = 32

    /// Where the identity comes from (`local`: a password of ours).
    public var source: AccountSource = .local
    /// The email the identity source gave (empty: none).
    public var email: String = ""
    /// Group memberships, as the identity source gave them at the last sign-in (sorted, unique).
    public var groups: [String] = []

    /// The most groups an account keeps (a directory may list hundreds; the rest are dropped).
    public static let maxGroups = 256
    /// The longest group name kept, in bytes; the longest email.
    public static let maxGroupBytes = 256
    public static let maxEmailBytes = 254

    /// The language the student chose for texts and emails (`en`, `de`, `zh-CN`); empty: none
    /// chosen (the browser's `Accept-Language` decides).
    public var language: String = ""
    /// Which emails the student gets, and where.
    public var mail = MailPreferences()

    public init(
        id: UserID, studentID: String, name: String, role: Role, passwordHash: String, createdAt: Timestamp,
        disabled: Bool = false, tokenGeneration: UInt32 = 0
    ) {
        self.id = id
        self.studentID = studentID
        self.name = name
        self.role = role
        self.passwordHash = passwordHash
        self.createdAt = createdAt
        self.disabled = disabled
        self.tokenGeneration = tokenGeneration
    }

    /// `true` for an account as it was created: enabled, generation 0 (a `userCreated` record
    /// describes it whole).
    public var isAsCreated: Bool {
        !disabled && tokenGeneration == 0 && calendarFeed.isEmpty && source == .local && email.isEmpty
            && groups.isEmpty && language.isEmpty && mail.isDefault
    }
}

/// A booking of one seat for the half-open interval `[start, end)`.
///
/// Laid out compactly (56 bytes stride) because millions of them live in memory.
public struct Reservation: Sendable, Hashable {
    public var id: ReservationID
    public var seatID: SeatID
    public var userID: UserID
    public var start: Timestamp
    public var end: Timestamp
    public var createdAt: Timestamp
    public var checkedInAt: Timestamp?
    public var status: ReservationStatus
    /// What most reservations do not have: a step away, a series, a group (``ReservationExtras``),
    /// behind one reference (nil for most), so that a reservation stays 64 bytes.
    private var box: ExtrasBox?
    public var extras: ReservationExtras {
        get { box?.value ?? .none }
        set { box = newValue.isEmpty ? nil : ExtrasBox(newValue) }
    }

    public init(
        id: ReservationID, seatID: SeatID, userID: UserID, start: Timestamp, end: Timestamp,
        status: ReservationStatus = .confirmed, createdAt: Timestamp, checkedInAt: Timestamp? = nil,
        extras: ReservationExtras = .none
    ) {
        self.id = id
        self.seatID = seatID
        self.userID = userID
        self.start = start
        self.end = end
        self.createdAt = createdAt
        self.checkedInAt = checkedInAt
        self.status = status
        self.box = extras.isEmpty ? nil : ExtrasBox(extras)
    }
}

/// A reservation's extras behind a reference; equal and hashed by value.
final class ExtrasBox: Sendable, Hashable {
    let value: ReservationExtras
    init(_ value: ReservationExtras) { self.value = value }
    static func == (a: ExtrasBox, b: ExtrasBox) -> Bool { a.value == b.value }
    func hash(into hasher: inout Hasher) { hasher.combine(value) }
}

/// The parts of a reservation that only some have. Stored beside the compact slot of a shard
/// (most reservations have none) and in the record behind a flag bit (older records have none).
public struct ReservationExtras: Sendable, Hashable {
    /// The student stepped away (checked in): the seat stays theirs until then.
    public var awayUntil: Timestamp?
    /// How many times the student has stepped away during this stay.
    public var awayCount: Int
    /// The weekly series this reservation is an instance of: the id of its first instance.
    public var seriesID: ReservationID?
    /// The seats-together booking this reservation is part of: the id of its first reservation.
    public var groupID: ReservationID?
    /// The reservation this one was moved from (its seat was changed for the rest of the window).
    public var movedFrom: ReservationID?

    public init(
        awayUntil: Timestamp? = nil, awayCount: Int = 0, seriesID: ReservationID? = nil,
        groupID: ReservationID? = nil, movedFrom: ReservationID? = nil
    ) {
        self.awayUntil = awayUntil
        self.awayCount = awayCount
        self.seriesID = seriesID
        self.groupID = groupID
        self.movedFrom = movedFrom
    }

    public static let none = ReservationExtras()

    public var isEmpty: Bool { self == .none }
}

/// The life of a waitlist entry (checked in one place, ``WaitlistEntry/move(to:)``):
///
/// ```
/// WAITING ──seat time frees──▶ OFFERED ──accept──▶ ACCEPTED
///    │                            ├──decline──▶ DECLINED
///    │                            └──hold runs out──▶ EXPIRED
///    ├──desired time + grace passes──▶ EXPIRED
///    └──leave──▶ CANCELLED (also from OFFERED: that declines the offer)
/// ```
/// `NOTIFIED` is the state of entries written before offers existed (told, not held).
public enum WaitlistStatus: UInt8, Sendable, Hashable, CaseIterable {
    case waiting = 0
    case notified = 1
    case cancelled = 2
    case expired = 3
    case offered = 4
    case accepted = 5
    case declined = 6

    /// 0 `WAITING`, 1 `NOTIFIED` or `OFFERED`, 2 a final status; every change of an entry raises it.
    public var stage: Int {
        switch self {
        case .waiting: return 0
        case .notified, .offered: return 1
        case .cancelled, .expired, .accepted, .declined: return 2
        }
    }

    public var name: String {
        switch self {
        case .waiting: return "WAITING"
        case .notified: return "NOTIFIED"
        case .cancelled: return "CANCELLED"
        case .expired: return "EXPIRED"
        case .offered: return "OFFERED"
        case .accepted: return "ACCEPTED"
        case .declined: return "DECLINED"
        }
    }

    /// Whether an entry may move from this status to `next`.
    public func allows(_ next: WaitlistStatus) -> Bool {
        switch (self, next) {
        case (.waiting, .offered), (.waiting, .expired), (.waiting, .cancelled), (.waiting, .notified): return true
        case (.offered, .accepted), (.offered, .declined), (.offered, .expired), (.offered, .cancelled): return true
        case (.notified, .cancelled), (.notified, .expired): return true
        default: return false
        }
    }
}

/// A seat held for a waitlist entry: which seat, the hold (a `HELD` reservation), until when,
/// and when the seat time freed (for the time-to-acceptance figure).
public struct WaitlistOffer: Sendable, Hashable {
    public var seatID: SeatID
    public var reservationID: ReservationID
    public var expiresAt: Timestamp
    public var madeAt: Timestamp

    public init(seatID: SeatID, reservationID: ReservationID, expiresAt: Timestamp, madeAt: Timestamp) {
        self.seatID = seatID
        self.reservationID = reservationID
        self.expiresAt = expiresAt
        self.madeAt = madeAt
    }
}

/// What a waitlist entry waits for: one seat, or any seat of a branch.
public enum WaitTarget: Sendable, Hashable {
    case seat(SeatID)
    case branch(String)
}

public struct WaitlistEntry: Sendable, Hashable {
    public var id: WaitlistEntryID
    public var userID: UserID
    public var target: WaitTarget
    public var desiredTime: Timestamp
    public var endTime: Timestamp
    public var status: WaitlistStatus
    public var notifiedAt: Timestamp?
    public var createdAt: Timestamp
    /// The offer, once one was made (kept after acceptance, decline or expiry).
    public var offer: WaitlistOffer?

    /// The entry in `next` status, or `nil` when the state machine does not allow the move.
    public func move(to next: WaitlistStatus) -> WaitlistEntry? {
        guard status.allows(next) else { return nil }
        var e = self
        e.status = next
        return e
    }

    public init(
        id: WaitlistEntryID, userID: UserID, target: WaitTarget, desiredTime: Timestamp, endTime: Timestamp,
        status: WaitlistStatus = .waiting, notifiedAt: Timestamp? = nil, createdAt: Timestamp,
        offer: WaitlistOffer? = nil
    ) {
        self.offer = offer
        self.id = id
        self.userID = userID
        self.target = target
        self.desiredTime = desiredTime
        self.endTime = endTime
        self.status = status
        self.notifiedAt = notifiedAt
        self.createdAt = createdAt
    }
}

public enum NotificationKind: UInt8, Sendable, Hashable, CaseIterable {
    case seatAvailable = 0
    case reservationNoShow = 1
    case reservationCompleted = 2
    case seatOffered = 3
    case offerExpired = 4
    /// A message from the staff to the first in line for a seat (gRPC `NotifyUsers`).
    case staffMessage = 5
    /// The library cancelled the reservation (its seat was retired, or a closure).
    case reservationCancelled = 6
    /// A no-show or a late cancel was counted against the student.
    case strikeRecorded = 7
    /// Strikes suspended the student's booking rights.
    case suspended = 8
    /// Staff booked a seat on the student's behalf.
    case bookedByStaff = 9
    /// The reservation moved to another seat (by the student, or by staff on their behalf).
    case reservationMoved = 10
    /// A fellow student booked seats together, this one for the student.
    case bookedTogether = 11
    /// A step away ran out: the stay ended and the seat was freed.
    case awayEnded = 12

    public var name: String {
        switch self {
        case .seatAvailable: return "seat_available"
        case .reservationNoShow: return "reservation_no_show"
        case .reservationCompleted: return "reservation_completed"
        case .seatOffered: return "seat_offered"
        case .offerExpired: return "offer_expired"
        case .staffMessage: return "staff_message"
        case .reservationCancelled: return "reservation_cancelled"
        case .strikeRecorded: return "strike_recorded"
        case .suspended: return "suspended"
        case .bookedByStaff: return "booked_by_staff"
        case .reservationMoved: return "reservation_moved"
        case .bookedTogether: return "booked_together"
        case .awayEnded: return "away_ended"
        }
    }
}

public struct UserNotification: Sendable, Hashable {
    public var id: NotificationID
    public var userID: UserID
    public var kind: NotificationKind
    public var message: String
    public var seatID: SeatID?
    public var start: Timestamp?
    public var end: Timestamp?
    public var createdAt: Timestamp

    public init(
        id: NotificationID, userID: UserID, kind: NotificationKind, message: String, seatID: SeatID?,
        start: Timestamp?, end: Timestamp?, createdAt: Timestamp
    ) {
        self.id = id
        self.userID = userID
        self.kind = kind
        self.message = message
        self.seatID = seatID
        self.start = start
        self.end = end
        self.createdAt = createdAt
    }
}

/// The emails DL-SMS sends a student (each can be turned off).
public enum MailKind: UInt8, Sendable, Hashable, CaseIterable {
    case confirmed = 0
    case reminder = 1
    case checkIn = 2
    case noShow = 3
    case offer = 4
    case cancelled = 5
    case strike = 6
    case suspended = 7
    /// The confirmation of an address the student set (always sent; not a preference).
    case address = 8

    /// The kinds a student can turn on and off.
    public static let preferences: [MailKind] = allCases.filter { $0 != .address }

    /// The name in the API and the catalog.
    public var name: String {
        switch self {
        case .confirmed: "confirmed"
        case .reminder: "reminder"
        case .checkIn: "check_in"
        case .noShow: "no_show"
        case .offer: "offer"
        case .cancelled: "cancelled"
        case .strike: "strike"
        case .suspended: "suspended"
        case .address: "address"
        }
    }

    public init?(name: String) {
        guard let kind = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = kind
    }
}

/// A student's email settings: an address they set and confirmed (empty: the one the identity
/// source gave, if any), the kinds turned off, and how long before a reservation the reminder comes.
public struct MailPreferences: Sendable, Hashable {
    public var address: String = ""
    /// Bit `kind.rawValue` set: that kind is not sent.
    public var off: UInt16 = 0
    /// Minutes before the start; 0: no reminder.
    public var reminderMinutes: Int32 = Self.defaultReminderMinutes
    /// Raised by every address request, confirmation and removal: a confirmation link names the
    /// serial it was sent under, so only the newest outstanding one works, once.
    public var serial: UInt32 = 0

    public static let defaultReminderMinutes: Int32 = 30
    public static let maxReminderMinutes: Int32 = 24 * 60

    public init() {}

    public var isDefault: Bool { self == MailPreferences() }

    public func wants(_ kind: MailKind) -> Bool {
        kind == .address || (off & (1 << UInt16(kind.rawValue)) == 0 && (kind != .reminder || reminderMinutes > 0))
    }

    public mutating func set(_ kind: MailKind, on: Bool) {
        let bit: UInt16 = 1 << UInt16(kind.rawValue)
        off = on ? off & ~bit : off | bit
    }

    /// Every kind off (a one-click unsubscribe).
    public static let allOff: UInt16 = MailKind.preferences.reduce(0) { $0 | (1 << UInt16($1.rawValue)) }
}
