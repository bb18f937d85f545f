import DLSMSCore

/// The binary form of a ``JournalRecord``: the payload of a WAL record and the unit of a snapshot.
///
/// Compact on purpose (a snapshot holds millions of reservations): integers are LEB128 varints,
/// signed ones zigzag-encoded, and a reservation's end and creation time are stored as deltas
/// from its start. Strings are a varint byte count and UTF-8. Every payload starts with a kind byte.
/// Format version 1; the golden vectors in the tests pin the bytes.
public enum RecordCodec {
    public static let formatVersion: UInt8 = 1

    public enum Kind: UInt8, Sendable, CaseIterable {
        case branchDefined = 1
        case seatDefined = 2
        case userCreated = 3
        case reservationCreated = 4
        case reservationChanged = 5
        case waitlistChanged = 6
        case notificationCreated = 7
        case userChanged = 8
        case idFloor = 9
        /// A waitlist entry with its offer (`waitlistChanged` plus the offer's fields).
        case waitlistOffer = 10
        case reservationsArchived = 11
        case webhookEndpoint = 12
        case webhookEvent = 13
        case epoch = 14
        case sessionRevoked = 15
        case groupPolicy = 16
        case groupMembership = 17
        case strike = 18
        case suspensionLifted = 19
        case together = 20
        case audit = 21
        case reservationsAnonymised = 22
        case accountErased = 23
        case mailQueued = 24
        case mailSettled = 25

        public var name: String {
            switch self {
            case .branchDefined: return "branch"
            case .seatDefined: return "seat"
            case .userCreated: return "user"
            case .reservationCreated: return "reservation+"
            case .reservationChanged: return "reservation~"
            case .waitlistChanged: return "waitlist"
            case .notificationCreated: return "notification"
            case .userChanged: return "user~"
            case .idFloor: return "ids"
            case .waitlistOffer: return "waitlist+offer"
            case .reservationsArchived: return "archived"
            case .webhookEndpoint: return "webhook"
            case .webhookEvent: return "event"
            case .epoch: return "epoch"
            case .sessionRevoked: return "revoked"
            case .groupPolicy: return "policy"
            case .groupMembership: return "groups"
            case .strike: return "strike"
            case .suspensionLifted: return "lift"
            case .together: return "together"
            case .audit: return "audit"
            case .reservationsAnonymised: return "anonymised"
            case .accountErased: return "erased"
            case .mailQueued: return "mail"
            case .mailSettled: return "mail~"
            }
        }
    }

    public struct DecodingError: Error, Hashable, Sendable {
        public var reason: String
        public init(_ reason: String) { self.reason = reason }
    }

    public static func kind(of record: JournalRecord) -> Kind {
        switch record {
        case .branchDefined: return .branchDefined
        case .seatDefined: return .seatDefined
        case .userCreated: return .userCreated
        case .reservationCreated: return .reservationCreated
        case .reservationChanged: return .reservationChanged
        case .waitlistChanged(let e): return e.offer == nil ? .waitlistChanged : .waitlistOffer
        case .notificationCreated: return .notificationCreated
        case .userChanged: return .userChanged
        case .idFloor: return .idFloor
        case .reservationsArchived: return .reservationsArchived
        case .webhookEndpoint: return .webhookEndpoint
        case .webhookEvent: return .webhookEvent
        case .epoch: return .epoch
        case .sessionRevoked: return .sessionRevoked
        case .groupPolicy: return .groupPolicy
        case .groupMembership: return .groupMembership
        case .strike: return .strike
        case .suspensionLifted: return .suspensionLifted
        case .together: return .together
        case .audit: return .audit
        case .reservationsAnonymised: return .reservationsAnonymised
        case .accountErased: return .accountErased
        case .mailQueued: return .mailQueued
        case .mailSettled: return .mailSettled
        }
    }

    public static func encode(_ record: JournalRecord) -> [UInt8] {
        var w = ByteWriter()
        encode(record, into: &w)
        return w.bytes
    }

    public static func encode(_ record: JournalRecord, into w: inout ByteWriter) {
        w.byte(kind(of: record).rawValue)
        switch record {
        case .branchDefined(let b): encode(branch: b, into: &w)
        case .seatDefined(let s): encode(seat: s, into: &w)
        case .userCreated(let u): encode(user: u, changed: false, into: &w)
        case .userChanged(let u): encode(user: u, changed: true, into: &w)
        case .reservationsArchived(let list), .reservationsAnonymised(let list): encode(archived: list, into: &w)
        case .audit(let e): encode(audit: e, into: &w)
        case .accountErased(let e):
            w.svarint(Int64(e.userID))
            w.svarint(e.at)
            w.byte(e.done ? 1 : 0)
        case .mailQueued(let m): encode(mail: m, into: &w)
        case .mailSettled(let m):
            w.svarint(m.id)
            w.byte(m.outcome.rawValue)
            w.svarint(m.at)
        case .webhookEndpoint(let e): encode(endpoint: e, into: &w)
        case .webhookEvent(let e): encode(event: e, into: &w)
        case .groupPolicy(let p): encode(policy: p, into: &w)
        case .groupMembership(let m):
            w.svarint(Int64(m.userID))
            w.uvarint(UInt64(m.groups.count))
            for g in m.groups { w.string(g) }
        case .strike(let s): encode(strike: s, into: &w)
        case .suspensionLifted(let l):
            w.svarint(Int64(l.userID))
            w.svarint(l.at)
            w.svarint(Int64(l.by))
            w.string(l.reason)
        case .sessionRevoked(let s):
            w.svarint(Int64(s.userID))
            w.bytes(s.digest)
            w.svarint(s.expiresAt)
        case .epoch(let e):
            w.svarint(Int64(bitPattern: e.epoch))
            w.string(e.node)
            w.svarint(e.at)
        case .idFloor(let f):
            w.svarint(f.reservation)
            w.svarint(f.waitlistEntry)
            w.svarint(f.notification)
            // The webhook event floor follows when there is one (the record's length delimits it),
            // so a floor without one has the bytes of the first format version.
            if f.webhookEvent > 0 { w.svarint(f.webhookEvent) }
        case .reservationCreated(let r), .reservationChanged(let r): encode(reservation: r, into: &w)
        case .together(let parts):
            // Each part length-prefixed (a record is delimited by its length, not by itself).
            w.uvarint(UInt64(parts.count))
            for part in parts {
                let bytes = encode(part)
                w.uvarint(UInt64(bytes.count))
                w.bytes(bytes)
            }
        case .waitlistChanged(let e): encode(waitlistEntry: e, into: &w)
        case .notificationCreated(let n): encode(notification: n, into: &w)
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodingError) -> JournalRecord {
        let result: Result<JournalRecord, DecodingError> = bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            do throws(DecodingError) {
                let record = try decode(from: &r)
                return r.isAtEnd ? .success(record) : .failure(DecodingError("\(r.remaining) trailing bytes"))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    public static func decode(from r: inout ByteReader) throws(DecodingError) -> JournalRecord {
        guard let kind = Kind(rawValue: try r.byte()) else { throw DecodingError("unknown record kind") }
        switch kind {
        case .branchDefined: return .branchDefined(try decodeBranch(from: &r))
        case .seatDefined: return .seatDefined(try decodeSeat(from: &r))
        case .userCreated: return .userCreated(try decodeUser(changed: false, from: &r))
        case .userChanged: return .userChanged(try decodeUser(changed: true, from: &r))
        case .reservationsArchived: return .reservationsArchived(try decodeArchived(from: &r))
        case .reservationsAnonymised: return .reservationsAnonymised(try decodeArchived(from: &r))
        case .audit: return .audit(try decodeAudit(from: &r))
        case .accountErased:
            let user = try r.int32()
            let at = try r.svarint()
            let stage = try r.byte()
            guard user > 0, stage <= 1 else { throw DecodingError("bad erasure") }
            return .accountErased(AccountErasure(userID: user, at: at, done: stage == 1))
        case .mailQueued: return .mailQueued(try decodeMail(from: &r))
        case .mailSettled:
            let id = try r.svarint()
            guard let outcome = MailSettlement.Outcome(rawValue: try r.byte()), id > 0 else {
                throw DecodingError("bad mail settlement")
            }
            return .mailSettled(MailSettlement(id: id, outcome: outcome, at: try r.svarint()))
        case .webhookEndpoint: return .webhookEndpoint(try decodeEndpoint(from: &r))
        case .webhookEvent: return .webhookEvent(try decodeEvent(from: &r))
        case .groupPolicy: return .groupPolicy(try decodePolicy(from: &r))
        case .groupMembership:
            let user = try r.int32()
            let n = try r.count(limit: GroupPolicy.maxAssignedGroups)
            var groups: [String] = []
            for _ in 0..<n { groups.append(try r.string()) }
            guard user > 0 else { throw DecodingError("bad membership") }
            return .groupMembership(GroupMembership(userID: user, groups: groups))
        case .strike: return .strike(try decodeStrike(from: &r))
        case .suspensionLifted:
            let user = try r.int32()
            let at = try r.svarint()
            let by = try r.int32()
            let reason = try r.string()
            guard user > 0 else { throw DecodingError("bad suspension lift") }
            return .suspensionLifted(SuspensionLift(userID: user, at: at, by: by, reason: reason))
        case .sessionRevoked:
            let user = try r.int32()
            let digest = Array(try r.bytes(SessionRevocation.digestBytes))
            let expires = try r.svarint()
            guard user > 0 else { throw DecodingError("bad revoked session") }
            return .sessionRevoked(SessionRevocation(userID: user, digest: digest, expiresAt: expires))
        case .epoch:
            let epoch = try r.svarint()
            let node = try r.string()
            let at = try r.svarint()
            guard epoch > 0 else { throw DecodingError("bad epoch") }
            return .epoch(EpochChange(epoch: UInt64(epoch), node: node, at: at))
        case .idFloor:
            let reservation = try r.svarint()
            let waitlist = try r.svarint()
            let notification = try r.svarint()
            let event = r.isAtEnd ? 0 : try r.svarint()
            guard reservation > 0, waitlist > 0, notification > 0, event >= 0 else {
                throw DecodingError("bad id floor")
            }
            return .idFloor(
                IDFloor(
                    reservation: reservation, waitlistEntry: waitlist, notification: notification, webhookEvent: event))
        case .reservationCreated: return .reservationCreated(try decodeReservation(from: &r))
        case .together: return .together(try decodeTogether(from: &r))
        case .reservationChanged: return .reservationChanged(try decodeReservation(from: &r))
        case .waitlistChanged: return .waitlistChanged(try decodeWaitlistEntry(withOffer: false, from: &r))
        case .waitlistOffer: return .waitlistChanged(try decodeWaitlistEntry(withOffer: true, from: &r))
        case .notificationCreated: return .notificationCreated(try decodeNotification(from: &r))
        }
    }
}

// The fields of each kind of record, after the kind byte.
extension RecordCodec {
    // MARK: Rules per group

    /// The group, a flags byte (1: exempt, 2: removed), a bitmap of the integer rules present (in
    /// ``GroupPolicy/integerRules`` order) and their values, the places, the features.
    private static func encode(policy p: GroupPolicy, into w: inout ByteWriter) {
        w.string(p.group)
        w.byte((p.exempt ? 1 : 0) | (p.removed ? 2 : 0))
        var present: UInt64 = 0
        for (i, rule) in GroupPolicy.integerRules.enumerated() where p[keyPath: rule.path] != nil {
            present |= 1 << UInt64(i)
        }
        w.uvarint(present)
        for rule in GroupPolicy.integerRules { if let v = p[keyPath: rule.path] { w.svarint(Int64(v)) } }
        w.uvarint(UInt64(p.places.count))
        for place in p.places { w.string(place) }
        w.uvarint(UInt64(p.features.count))
        for feature in p.features { w.string(feature) }
    }

    private static func decodePolicy(from r: inout ByteReader) throws(DecodingError) -> GroupPolicy {
        var p = GroupPolicy(group: try r.string())
        let flags = try r.byte()
        guard flags < 4 else { throw DecodingError("unknown policy flags") }
        p.exempt = flags & 1 != 0
        p.removed = flags & 2 != 0
        let present = try r.uvarint()
        guard present >> UInt64(GroupPolicy.integerRules.count) == 0 else { throw DecodingError("unknown policy rule") }
        for (i, rule) in GroupPolicy.integerRules.enumerated() where present & (1 << UInt64(i)) != 0 {
            let v = try r.svarint()
            guard rule.range.contains(Int(clamping: v)) else { throw DecodingError("policy rule out of range") }
            p[keyPath: rule.path] = Int(v)
        }
        for _ in 0..<(try r.count(limit: GroupPolicy.maxPlaces)) { p.places.append(try r.string()) }
        for _ in 0..<(try r.count(limit: GroupPolicy.maxPlaces)) { p.features.append(try r.string()) }
        return p
    }

    private static func encode(strike s: Strike, into w: inout ByteWriter) {
        w.svarint(s.id)
        w.svarint(Int64(s.userID))
        w.byte(s.reason.rawValue | (s.removed != nil ? 0x80 : 0))
        w.svarint(s.reservationID)
        w.svarint(Int64(s.seatID))
        w.svarint(s.start)
        w.svarint(s.at)
        if let removed = s.removed {
            w.svarint(removed.at)
            w.svarint(Int64(removed.by))
            w.string(removed.reason)
        }
    }

    private static func decodeStrike(from r: inout ByteReader) throws(DecodingError) -> Strike {
        let id = try r.svarint()
        let user = try r.int32()
        let flags = try r.byte()
        guard let reason = Strike.Reason(rawValue: flags & 0x7F) else { throw DecodingError("unknown strike reason") }
        let reservation = try r.svarint()
        let seat = try r.int32()
        let start = try r.svarint()
        let at = try r.svarint()
        guard id > 0, user > 0 else { throw DecodingError("bad strike") }
        var strike = Strike(
            id: id, userID: user, reason: reason, reservationID: reservation, seatID: seat, start: start, at: at)
        if flags & 0x80 != 0 {
            strike.removed = Strike.Removal(at: try r.svarint(), by: try r.int32(), reason: try r.string())
        }
        return strike
    }

    // MARK: Catalog: branches and seats

    private static func encode(branch b: Branch, into w: inout ByteWriter) {
        w.string(b.name)
        w.uvarint(UInt64(b.areas.count))
        for a in b.areas { w.string(a) }
        w.string(b.timeZone)
        // Bit 7 of the hours byte: the branch's closure serial and closures follow the hours; a
        // branch that never had a closure leaves it clear, so its bytes are those of the first
        // format version and old logs and snapshots decode unchanged.
        let closuresFlag: UInt8 = b.closureSerial == 0 ? 0 : 0x80
        // Bit 6: the check-in settings follow (presence flag, seat code generation), and with bit 1
        // of their flags byte the release rule (days before, minute of the day); bit 2 of that
        // byte: the public display is off.
        let checkIn = b.presenceCheckIn || b.seatCodeGeneration != 0 || b.release != nil || b.displayOff
        encode(hours: b.openingHours, flags: closuresFlag | (checkIn ? 0x40 : 0), into: &w)
        if closuresFlag != 0 {
            w.svarint(b.closureSerial)
            w.uvarint(UInt64(b.closures.count))
            for c in b.closures {
                w.svarint(c.id)
                w.string(c.area)
                w.svarint(c.start)
                w.svarint(c.end - c.start)
                w.string(c.reason)
            }
        }
        if checkIn {
            w.byte((b.presenceCheckIn ? 1 : 0) | (b.release != nil ? 2 : 0) | (b.displayOff ? 4 : 0))
            w.uvarint(UInt64(b.seatCodeGeneration))
            if let release = b.release {
                w.uvarint(UInt64(release.daysBefore))
                w.uvarint(UInt64(release.minute))
            }
        }
    }

    /// The hours byte (the form in bits 0–5, `flags` above them), then the hours.
    private static func encode(hours: OpeningHours, flags: UInt8, into w: inout ByteWriter) {
        switch hours {
        case .alwaysOpen: w.byte(0 | flags)
        case .daily(let open, let close):
            w.byte(1 | flags)
            w.uvarint(UInt64(open))
            w.uvarint(UInt64(close))
        case .weekly(let days):
            w.byte(2 | flags)
            for periods in days {
                w.uvarint(UInt64(periods.count))
                for p in periods {
                    w.uvarint(UInt64(p.open))
                    w.uvarint(UInt64(p.close))
                }
            }
        }
    }

    private static func encode(seat s: Seat, into w: inout ByteWriter) {
        w.svarint(Int64(s.id))
        w.string(s.branch)
        w.string(s.area)
        // Bit 3: the seat's details follow (label, notes, map position, accessible); a seat
        // without them leaves it clear, in the bytes of the first format version.
        w.byte((s.hasPower ? 1 : 0) | (s.hasMonitor ? 2 : 0) | (s.inMaintenance ? 4 : 0) | (s.hasDetails ? 8 : 0))
        if s.hasDetails {
            w.string(s.label)
            w.string(s.notes)
            w.byte((s.accessible ? 1 : 0) | (s.retired ? 2 : 0))
            for c in [s.x, s.y] {
                if let c {
                    w.byte(1)
                    w.svarint(Int64(c))
                } else {
                    w.byte(0)
                }
            }
        }
    }

    private static func decodeBranch(from r: inout ByteReader) throws(DecodingError) -> Branch {
        let name = try r.string()
        let n = try r.count(limit: 1_000)
        var areas: [String] = []
        for _ in 0..<n { areas.append(try r.string()) }
        let tz = try r.string()
        let hoursByte = try r.byte()
        let hours = try decodeHours(form: hoursByte & 0x3F, from: &r)
        var closures: [Closure] = []
        var serial: Int64 = 0
        if hoursByte & 0x80 != 0 {
            serial = try r.svarint()
            let n = try r.count(limit: Closure.maxPerBranch)
            for _ in 0..<n {
                let id = try r.svarint()
                let area = try r.string()
                let start = try r.svarint()
                let end = try r.add(start, try r.svarint())
                let reason = try r.string()
                guard id > 0, id <= serial, end > start else { throw DecodingError("invalid closure") }
                closures.append(Closure(id: id, area: area, start: start, end: end, reason: reason))
            }
        }
        guard hoursByte & 0x80 == 0 || serial > 0 else { throw DecodingError("invalid closure serial") }
        var branch = Branch(
            name: name, areas: areas, timeZone: tz, openingHours: hours, closures: closures, closureSerial: serial)
        if hoursByte & 0x40 != 0 {
            let flags = try r.byte()
            guard flags < 8 else { throw DecodingError("unknown check-in flags") }
            branch.presenceCheckIn = flags & 1 != 0
            branch.displayOff = flags & 4 != 0
            guard let generation = UInt32(exactly: try r.uvarint()) else {
                throw DecodingError("bad seat code generation")
            }
            branch.seatCodeGeneration = generation
            if flags & 2 != 0 {
                let days = try r.uvarint()
                let minute = try r.uvarint()
                guard days <= UInt64(ReleaseRule.maxDaysBefore), minute < 1_440 else {
                    throw DecodingError("bad release rule")
                }
                branch.release = ReleaseRule(daysBefore: Int(days), minute: Int(minute))
            }
        }
        return branch
    }

    /// The hours of the form in bits 0–5 of the hours byte.
    private static func decodeHours(form: UInt8, from r: inout ByteReader) throws(DecodingError) -> OpeningHours {
        switch form {
        case 0: return .alwaysOpen
        case 1:
            let open = try r.count(limit: 1_440)
            let close = try r.count(limit: 1_440)
            guard open < close else { throw DecodingError("opening hours out of order") }
            return .daily(openMinute: open, closeMinute: close)
        case 2:
            var days: [[OpeningPeriod]] = []
            for _ in 0..<7 {
                let n = try r.count(limit: OpeningHours.maxPeriodsPerDay)
                var periods: [OpeningPeriod] = []
                for _ in 0..<n {
                    periods.append(OpeningPeriod(open: try r.count(limit: 1_440), close: try r.count(limit: 1_440)))
                }
                days.append(periods)
            }
            do {
                return try OpeningHours.weekly(validating: days)
            } catch {
                throw DecodingError("weekly opening hours out of order")
            }
        default: throw DecodingError("unknown opening hours")
        }
    }

    private static func decodeSeat(from r: inout ByteReader) throws(DecodingError) -> Seat {
        let id = try r.int32()
        let branch = try r.string()
        let area = try r.string()
        let flags = try r.byte()
        guard flags < 16 else { throw DecodingError("unknown seat flags") }
        var seat = Seat(
            id: id, branch: branch, area: area, hasPower: flags & 1 != 0, hasMonitor: flags & 2 != 0,
            inMaintenance: flags & 4 != 0)
        if flags & 8 != 0 {
            seat.label = try r.string()
            seat.notes = try r.string()
            let details = try r.byte()
            guard details < 4 else { throw DecodingError("unknown seat detail flags") }
            seat.accessible = details & 1 != 0
            seat.retired = details & 2 != 0
            var coordinates: [Int32?] = []
            for _ in 0..<2 { coordinates.append(try r.byte() == 0 ? nil : try r.int32()) }
            (seat.x, seat.y) = (coordinates[0], coordinates[1])
        }
        return seat
    }

    // MARK: Accounts

    /// A user; `changed` (a `userChanged` record) adds the flags, the token generation and the
    /// calendar feed's hash.
    private static func encode(user u: User, changed: Bool, into w: inout ByteWriter) {
        w.svarint(Int64(u.id))
        w.string(u.studentID)
        w.string(u.name)
        w.byte(u.role.rawValue)
        w.string(u.passwordHash)
        w.svarint(u.createdAt)
        if changed {
            // Bit 1: the calendar feed's hash follows the generation. Bit 2: the identity's
            // source, email and groups follow (accounts of a campus identity source).
            let feed = u.calendarFeed.count == User.calendarFeedBytes
            let identity = u.source != .local || !u.email.isEmpty || !u.groups.isEmpty
            // Bit 8: the language and the email preferences follow (when not the defaults).
            let settings = !u.language.isEmpty || !u.mail.isDefault
            w.byte((u.disabled ? 1 : 0) | (feed ? 2 : 0) | (identity ? 4 : 0) | (settings ? 8 : 0))
            w.svarint(Int64(u.tokenGeneration))
            if feed { w.bytes(u.calendarFeed) }
            if identity {
                w.byte(u.source.rawValue)
                w.string(u.email)
                w.svarint(Int64(u.groups.count))
                for g in u.groups { w.string(g) }
            }
            if settings {
                w.string(u.language)
                w.string(u.mail.address)
                w.svarint(Int64(u.mail.off))
                w.svarint(Int64(u.mail.reminderMinutes))
                w.svarint(Int64(u.mail.serial))
            }
        }
    }

    private static func decodeUser(changed: Bool, from r: inout ByteReader) throws(DecodingError) -> User {
        let id = try r.int32()
        let sid = try r.string()
        let name = try r.string()
        guard let role = Role(rawValue: try r.byte()) else { throw DecodingError("unknown role") }
        let hash = try r.string()
        let created = try r.svarint()
        var user = User(id: id, studentID: sid, name: name, role: role, passwordHash: hash, createdAt: created)
        guard changed else { return user }
        let flags = try r.byte()
        guard flags < 16 else { throw DecodingError("bad disabled flag") }
        user.disabled = flags & 1 != 0
        guard let generation = UInt32(exactly: try r.svarint()) else { throw DecodingError("bad token generation") }
        user.tokenGeneration = generation
        if flags & 2 != 0 { user.calendarFeed = Array(try r.bytes(User.calendarFeedBytes)) }
        if flags & 4 != 0 {
            guard let source = AccountSource(rawValue: try r.byte()) else {
                throw DecodingError("unknown account source")
            }
            user.source = source
            user.email = try r.string()
            let count = try r.svarint()
            guard count >= 0, count <= User.maxGroups else { throw DecodingError("bad group count") }
            user.groups = try (0..<count).map { _ throws(DecodingError) in try r.string() }
        }
        if flags & 8 != 0 {
            user.language = try r.string()
            user.mail.address = try r.string()
            guard let off = UInt16(exactly: try r.svarint()),
                let minutes = Int32(exactly: try r.svarint()), minutes >= 0,
                let serial = UInt32(exactly: try r.svarint())
            else { throw DecodingError("bad email preferences") }
            user.mail.off = off
            user.mail.reminderMinutes = minutes
            user.mail.serial = serial
        }
        return user
    }

    // MARK: Mail

    private static func encode(mail m: MailItem, into w: inout ByteWriter) {
        w.svarint(m.id)
        w.svarint(Int64(m.userID))
        w.byte(m.kind.rawValue)
        w.svarint(m.createdAt)
        w.string(m.to)
        w.string(m.language)
        w.svarint(m.reference)
        w.svarint(Int64(m.seatID))
        w.svarint(m.start)
        w.svarint(m.end - m.start)
        w.string(m.text)
    }

    private static func decodeMail(from r: inout ByteReader) throws(DecodingError) -> MailItem {
        let id = try r.svarint()
        let user = try r.int32()
        guard let kind = MailKind(rawValue: try r.byte()), id > 0 else { throw DecodingError("bad mail") }
        let created = try r.svarint()
        let to = try r.string()
        let language = try r.string()
        let reference = try r.svarint()
        let seat = try r.int32()
        let start = try r.svarint()
        let length = try r.svarint()
        return MailItem(
            id: id, userID: user, kind: kind, createdAt: created, to: to, language: language, reference: reference,
            seatID: seat, start: start, end: start &+ length, text: try r.string())
    }

    // MARK: Reservations

    private static func encode(reservation r: Reservation, into w: inout ByteWriter) {
        w.svarint(r.id)
        w.svarint(Int64(r.seatID))
        w.svarint(Int64(r.userID))
        w.svarint(r.start)
        w.svarint(r.end - r.start)
        w.svarint(r.createdAt - r.start)
        w.byte(r.status.rawValue | (r.checkedInAt == nil ? 0 : 0x80) | (r.extras.isEmpty ? 0 : 0x40))
        if let t = r.checkedInAt { w.svarint(t - r.start) }
        if !r.extras.isEmpty { encode(extras: r.extras, start: r.start, into: &w) }
    }

    /// A reservation's extras, after the flags bit 0x40 of its status byte (a reservation without
    /// any has the bytes of the first format version): a byte of which fields follow.
    private static func encode(extras e: ReservationExtras, start: Timestamp, into w: inout ByteWriter) {
        let fields: UInt8 =
            (e.awayUntil == nil ? 0 : 1) | (e.awayCount == 0 ? 0 : 2) | (e.seriesID == nil ? 0 : 4)
            | (e.groupID == nil ? 0 : 8) | (e.movedFrom == nil ? 0 : 16)
        w.byte(fields)
        if let t = e.awayUntil { w.svarint(t - start) }
        if e.awayCount != 0 { w.uvarint(UInt64(e.awayCount)) }
        if let s = e.seriesID { w.svarint(s) }
        if let g = e.groupID { w.svarint(g) }
        if let m = e.movedFrom { w.svarint(m) }
    }

    private static func decodeExtras(start: Timestamp, from r: inout ByteReader) throws(DecodingError)
        -> ReservationExtras
    {
        let fields = try r.byte()
        guard fields & ~0x1F == 0 else { throw DecodingError("unknown reservation extras") }
        var e = ReservationExtras()
        if fields & 1 != 0 { e.awayUntil = try r.add(start, try r.svarint()) }
        if fields & 2 != 0 { e.awayCount = try r.count(limit: 1_000) }
        if fields & 4 != 0 { e.seriesID = try r.svarint() }
        if fields & 8 != 0 { e.groupID = try r.svarint() }
        if fields & 16 != 0 { e.movedFrom = try r.svarint() }
        guard !e.isEmpty else { throw DecodingError("empty reservation extras") }
        return e
    }

    /// The parts of a ``JournalRecord/together(_:)`` record: reservation records only.
    private static func decodeTogether(from r: inout ByteReader) throws(DecodingError) -> [JournalRecord] {
        let count = try r.count(limit: 1_000)
        guard count > 0 else { throw DecodingError("empty together record") }
        var parts: [JournalRecord] = []
        for _ in 0..<count {
            let n = try r.count(limit: 1 << 16)
            var sub = ByteReader(try r.bytes(n))
            let part = try decode(from: &sub)
            guard sub.isAtEnd else { throw DecodingError("trailing bytes in a together record") }
            switch part {
            case .reservationCreated, .reservationChanged: parts.append(part)
            default: throw DecodingError("a together record holds reservations only")
            }
        }
        return parts
    }

    private static func encode(archived list: [ArchivedReservation], into w: inout ByteWriter) {
        w.uvarint(UInt64(list.count))
        for a in list {
            w.svarint(a.id)
            w.svarint(Int64(a.seatID))
            w.svarint(Int64(a.userID))
        }
    }

    private static func decodeReservation(from r: inout ByteReader) throws(DecodingError) -> Reservation {
        let id = try r.svarint()
        let seat = try r.int32()
        let user = try r.int32()
        let start = try r.svarint()
        let end = try r.add(start, try r.svarint())
        let created = try r.add(start, try r.svarint())
        let flags = try r.byte()
        guard let status = ReservationStatus(rawValue: flags & 0x3F) else { throw DecodingError("unknown status") }
        let checkedIn = flags & 0x80 != 0 ? try r.add(start, try r.svarint()) : nil
        let extras = flags & 0x40 != 0 ? try decodeExtras(start: start, from: &r) : .none
        // The engine stores end, creation and check-in as 32-bit offsets from the start.
        guard id > 0, end >= start, end - start <= Int64(UInt32.max), Int32(exactly: created - start) != nil,
            checkedIn.map({ $0 - start > Int64(Int32.min) && $0 - start <= Int64(Int32.max) }) ?? true
        else { throw DecodingError("invalid reservation") }
        return Reservation(
            id: id, seatID: seat, userID: user, start: start, end: end, status: status, createdAt: created,
            checkedInAt: checkedIn, extras: extras)
    }

    private static func encode(audit e: AuditEntry, into w: inout ByteWriter) {
        precondition(
            e.previousHash.count == AuditEntry.hashBytes && e.hash.count == AuditEntry.hashBytes,
            "an audit entry carries two 32-byte hashes")
        w.uvarint(e.seq)
        w.svarint(e.at)
        w.svarint(Int64(e.actorID))
        for text in [e.actor, e.address, e.kind, e.subject, e.reason, e.before, e.after] { w.string(text) }
        w.bytes(e.previousHash)
        w.bytes(e.hash)
    }

    private static func decodeAudit(from r: inout ByteReader) throws(DecodingError) -> AuditEntry {
        let seq = try r.uvarint()
        let at = try r.svarint()
        let actorID = try r.int32()
        var texts: [String] = []
        for _ in 0..<7 { texts.append(try r.string()) }
        let previous = Array(try r.bytes(AuditEntry.hashBytes))
        let hash = Array(try r.bytes(AuditEntry.hashBytes))
        guard seq > 0 else { throw DecodingError("bad audit entry") }
        return AuditEntry(
            seq: seq, at: at, actorID: actorID, actor: texts[0], address: texts[1], kind: texts[2],
            subject: texts[3], reason: texts[4], before: texts[5], after: texts[6], previousHash: previous,
            hash: hash)
    }

    private static func decodeArchived(from r: inout ByteReader) throws(DecodingError) -> [ArchivedReservation] {
        let count = try r.uvarint()
        guard count <= 1_000_000 else { throw DecodingError("bad archived count") }
        var list: [ArchivedReservation] = []
        for _ in 0..<count {
            let id = try r.svarint()
            let seat = try r.int32()
            let user = try r.int32()
            guard id > 0 else { throw DecodingError("bad archived reservation") }
            list.append(ArchivedReservation(id: id, seatID: seat, userID: user))
        }
        return list
    }

    // MARK: Waitlist and notifications

    /// An entry; one with an offer (a `waitlistOffer` record) adds the offer's fields.
    private static func encode(waitlistEntry e: WaitlistEntry, into w: inout ByteWriter) {
        w.svarint(e.id)
        w.svarint(Int64(e.userID))
        switch e.target {
        case .seat(let s):
            w.byte(0)
            w.svarint(Int64(s))
        case .branch(let b):
            w.byte(1)
            w.string(b)
        }
        w.svarint(e.desiredTime)
        w.svarint(e.endTime - e.desiredTime)
        w.byte(e.status.rawValue | (e.notifiedAt == nil ? 0 : 0x80))
        if let t = e.notifiedAt { w.svarint(t - e.desiredTime) }
        w.svarint(e.createdAt - e.desiredTime)
        if let o = e.offer {
            w.svarint(Int64(o.seatID))
            w.svarint(o.reservationID)
            w.svarint(o.expiresAt - e.desiredTime)
            w.svarint(o.madeAt - e.desiredTime)
        }
    }

    private static func encode(notification n: UserNotification, into w: inout ByteWriter) {
        w.svarint(n.id)
        w.svarint(Int64(n.userID))
        w.byte(n.kind.rawValue)
        w.string(n.message)
        w.byte((n.seatID == nil ? 0 : 1) | (n.start == nil ? 0 : 2) | (n.end == nil ? 0 : 4))
        if let s = n.seatID { w.svarint(Int64(s)) }
        if let t = n.start { w.svarint(t) }
        if let t = n.end { w.svarint(t) }
        w.svarint(n.createdAt)
    }

    private static func decodeWaitlistEntry(
        withOffer: Bool, from r: inout ByteReader
    ) throws(DecodingError) -> WaitlistEntry {
        let id = try r.svarint()
        let user = try r.int32()
        let target: WaitTarget
        switch try r.byte() {
        case 0: target = .seat(try r.int32())
        case 1: target = .branch(try r.string())
        default: throw DecodingError("unknown waitlist target")
        }
        let desired = try r.svarint()
        let end = try r.add(desired, try r.svarint())
        let flags = try r.byte()
        guard let status = WaitlistStatus(rawValue: flags & 0x7F) else {
            throw DecodingError("unknown waitlist status")
        }
        let notified = flags & 0x80 != 0 ? try r.add(desired, try r.svarint()) : nil
        let created = try r.add(desired, try r.svarint())
        guard id > 0 else { throw DecodingError("invalid waitlist entry") }
        var offer: WaitlistOffer?
        if withOffer {
            let seat = try r.int32()
            let reservation = try r.svarint()
            let expires = try r.add(desired, try r.svarint())
            let made = try r.add(desired, try r.svarint())
            guard reservation > 0 else { throw DecodingError("invalid waitlist offer") }
            offer = WaitlistOffer(seatID: seat, reservationID: reservation, expiresAt: expires, madeAt: made)
        }
        return WaitlistEntry(
            id: id, userID: user, target: target, desiredTime: desired, endTime: end, status: status,
            notifiedAt: notified, createdAt: created, offer: offer)
    }

    private static func decodeNotification(from r: inout ByteReader) throws(DecodingError) -> UserNotification {
        let id = try r.svarint()
        let user = try r.int32()
        guard let kind = NotificationKind(rawValue: try r.byte()) else {
            throw DecodingError("unknown notification kind")
        }
        let message = try r.string()
        let flags = try r.byte()
        guard flags < 8 else { throw DecodingError("unknown notification flags") }
        let seat = flags & 1 != 0 ? try r.int32() : nil
        let start = flags & 2 != 0 ? try r.svarint() : nil
        let end = flags & 4 != 0 ? try r.svarint() : nil
        let created = try r.svarint()
        guard id > 0 else { throw DecodingError("invalid notification") }
        return UserNotification(
            id: id, userID: user, kind: kind, message: message, seatID: seat, start: start, end: end,
            createdAt: created)
    }

    // MARK: Webhooks

    private static func encode(endpoint e: WebhookEndpoint, into w: inout ByteWriter) {
        w.svarint(e.id)
        w.string(e.url)
        w.string(e.secret)
        w.uvarint(UInt64(e.events.count))
        for t in e.events { w.string(t) }
        // Bit 1 of the flag: the delivered and given-up counts follow; an endpoint without any
        // leaves it clear, in the bytes of the first format version.
        let counted = e.delivered != 0 || e.givenUp != 0
        w.byte((e.active ? 1 : 0) | (counted ? 2 : 0))
        w.svarint(e.deliveredThrough)
        w.svarint(e.createdAt)
        if counted {
            w.svarint(e.delivered)
            w.svarint(e.givenUp)
        }
    }

    private static func encode(event e: WebhookEvent, into w: inout ByteWriter) {
        w.svarint(e.id)
        w.string(e.type)
        w.svarint(e.createdAt)
        w.string(e.payload)
    }

    private static func decodeEndpoint(from r: inout ByteReader) throws(DecodingError) -> WebhookEndpoint {
        let id = try r.svarint()
        let url = try r.string()
        let secret = try r.string()
        let n = try r.count(limit: WebhookEvent.types.count)
        var events: [String] = []
        for _ in 0..<n { events.append(try r.string()) }
        let flag = try r.byte()
        guard flag < 4 else { throw DecodingError("bad webhook flag") }
        let through = try r.svarint()
        let created = try r.svarint()
        let delivered = flag & 2 != 0 ? try r.svarint() : 0
        let givenUp = flag & 2 != 0 ? try r.svarint() : 0
        guard id > 0, through >= 0, delivered >= 0, givenUp >= 0 else {
            throw DecodingError("invalid webhook endpoint")
        }
        return WebhookEndpoint(
            id: id, url: url, secret: secret, events: events, active: flag & 1 == 1, deliveredThrough: through,
            createdAt: created, delivered: delivered, givenUp: givenUp)
    }

    private static func decodeEvent(from r: inout ByteReader) throws(DecodingError) -> WebhookEvent {
        let id = try r.svarint()
        let type = try r.string()
        let created = try r.svarint()
        let payload = try r.string()
        guard id > 0 else { throw DecodingError("invalid webhook event") }
        return WebhookEvent(id: id, type: type, createdAt: created, payload: payload)
    }
}

/// Appends little-endian integers, varints and strings to a byte array.
public struct ByteWriter: Sendable {
    public var bytes: [UInt8] = []

    public init(capacity: Int = 64) { bytes.reserveCapacity(capacity) }

    @inlinable public mutating func byte(_ b: UInt8) { bytes.append(b) }

    /// Raw bytes, no length (the reader knows it).
    public mutating func bytes(_ b: [UInt8]) { bytes.append(contentsOf: b) }

    @inlinable public mutating func uvarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inlinable public mutating func svarint(_ value: Int64) {
        uvarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            uvarint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    @inlinable public mutating func u32(_ v: UInt32) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }

    @inlinable public mutating func u64(_ v: UInt64) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Reads what ``ByteWriter`` writes, with bounds checks: malformed input is an error, never a crash.
public struct ByteReader {
    public let buffer: UnsafeRawBufferPointer
    public private(set) var offset = 0

    public init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    public var isAtEnd: Bool { offset >= buffer.count }
    public var remaining: Int { buffer.count - offset }

    public mutating func byte() throws(RecordCodec.DecodingError) -> UInt8 {
        guard offset < buffer.count else { throw .init("truncated") }
        defer { offset += 1 }
        return buffer[offset]
    }

    public mutating func uvarint() throws(RecordCodec.DecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            if shift == 63 && b > 1 { throw .init("varint overflow") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw .init("varint overflow") }
        }
    }

    public mutating func svarint() throws(RecordCodec.DecodingError) -> Int64 {
        let u = try uvarint()
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    public mutating func int32() throws(RecordCodec.DecodingError) -> Int32 {
        let v = try svarint()
        guard let i = Int32(exactly: v) else { throw .init("value out of range") }
        return i
    }

    public mutating func count(limit: Int) throws(RecordCodec.DecodingError) -> Int {
        let v = try uvarint()
        guard v <= UInt64(limit) else { throw .init("count out of range") }
        return Int(v)
    }

    public func add(_ a: Int64, _ b: Int64) throws(RecordCodec.DecodingError) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        guard !overflow else { throw .init("time out of range") }
        return sum
    }

    public mutating func string() throws(RecordCodec.DecodingError) -> String {
        let n = try count(limit: 1 << 20)
        guard n <= remaining else { throw .init("truncated string") }
        defer { offset += n }
        return String(decoding: UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + n)]), as: UTF8.self)
    }

    public mutating func bytes(_ n: Int) throws(RecordCodec.DecodingError) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw .init("truncated") }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + n)])
    }

    public mutating func u32() throws(RecordCodec.DecodingError) -> UInt32 {
        let b = try bytes(4)
        return UInt32(b[0]) | UInt32(b[1]) << 8 | UInt32(b[2]) << 16 | UInt32(b[3]) << 24
    }

    public mutating func u64() throws(RecordCodec.DecodingError) -> UInt64 {
        UInt64(try u32()) | UInt64(try u32()) << 32
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` that keeps the body's typed error.
    @inlinable
    public func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeBytes { raw in
            do throws(E) {
                return .success(try body(raw))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
