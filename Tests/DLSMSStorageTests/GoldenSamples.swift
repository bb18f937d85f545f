import DLSMSCore
import Foundation

/// One record of each kind, fixed values: the golden vectors encode these.
let goldenRecords: [JournalRecord] = [
    .branchDefined(
        Branch(
            name: "Main Library", areas: ["Silent Study Zone", "Group Study Zone"], timeZone: "UTC",
            openingHours: .alwaysOpen)),
    .branchDefined(
        Branch(
            name: "Night", areas: [], timeZone: "Europe/Berlin",
            openingHours: .daily(openMinute: 480, closeMinute: 1320))),
    .seatDefined(
        Seat(
            id: 10, branch: "Main Library", area: "Silent Study Zone", hasPower: true, hasMonitor: false,
            inMaintenance: true)),
    .userCreated(
        User(
            id: 1, studentID: "S2021001", name: "Alice Johnson", role: .student, passwordHash: "$2b$12$abc",
            createdAt: 1_760_184_000)),
    .reservationCreated(
        Reservation(id: 42, seatID: 10, userID: 1, start: 1_760_191_200, end: 1_760_198_400, createdAt: 1_760_184_000)),
    .reservationChanged(
        Reservation(
            id: 42, seatID: 10, userID: 1, start: 1_760_191_200, end: 1_760_194_800, status: .completed,
            createdAt: 1_760_184_000, checkedInAt: 1_760_190_300)),
    .waitlistChanged(
        WaitlistEntry(
            id: 7, userID: 6, target: .seat(1), desiredTime: 1_760_194_800, endTime: 1_760_198_400, status: .notified,
            notifiedAt: 1_760_190_000, createdAt: 1_760_184_000)),
    .waitlistChanged(
        WaitlistEntry(
            id: 8, userID: 8, target: .branch("Main Library"), desiredTime: 1_760_191_200, endTime: 1_760_194_800,
            createdAt: 1_760_184_000)),
    .notificationCreated(
        UserNotification(
            id: 3, userID: 6, kind: .seatAvailable, message: "Seat 1 is free", seatID: 1, start: 1_760_194_800,
            end: 1_760_198_400, createdAt: 1_760_190_000)),
    .notificationCreated(
        UserNotification(
            id: 4, userID: 2, kind: .reservationNoShow, message: "x", seatID: nil, start: nil, end: nil, createdAt: 5)),
]

/// Record kinds added after the pinned snapshot was written (the snapshot keeps the kinds above).
let laterGoldenRecords: [JournalRecord] = [
    .userChanged(
        User(
            id: 1, studentID: "S2021001", name: "Alice Johnson", role: .student, passwordHash: "$2b$12$xyz",
            createdAt: 1_760_184_000, disabled: true, tokenGeneration: 300)),
    .idFloor(IDFloor(reservation: 43, waitlistEntry: 9, notification: 5)),
    .waitlistChanged(
        WaitlistEntry(
            id: 9, userID: 6, target: .branch("Main Library"), desiredTime: 1_760_194_800, endTime: 1_760_198_400,
            status: .offered, createdAt: 1_760_184_000,
            offer: WaitlistOffer(seatID: 12, reservationID: 44, expiresAt: 1_760_191_200, madeAt: 1_760_190_600))),
    .reservationsArchived([ArchivedReservation(id: 42, seatID: 10, userID: 1)]),
    .branchDefined(
        Branch(
            name: "Weekly", areas: ["A"], timeZone: "Australia/Sydney",
            openingHours: try! OpeningHours.weekly(
                validating: Array(
                    repeating: [OpeningPeriod(open: 480, close: 720), OpeningPeriod(open: 780, close: 1_320)], count: 5)
                    + [[OpeningPeriod(open: 600, close: 960)], []]))),
    .notificationCreated(
        UserNotification(
            id: 6, userID: 7, kind: .staffMessage, message: "Seat 2 frees at noon", seatID: 2, start: 1_760_198_400,
            end: 1_760_202_000, createdAt: 1_760_190_000)),
    .seatDefined(
        Seat(
            id: 51, branch: "City", area: "Quiet", hasPower: true, hasMonitor: false, label: "Q-001", accessible: true,
            notes: "window", x: 3, y: nil)),
    .branchDefined(
        Branch(
            name: "Exam", areas: ["Hall"], timeZone: "UTC", openingHours: .alwaysOpen,
            closures: [
                Closure(id: 1, area: "", start: 1_760_191_200, end: 1_760_194_800, reason: "drill"),
                Closure(id: 2, area: "Hall", start: 1_760_194_800, end: 1_760_202_000, reason: "exam"),
            ])),
    .userChanged(
        {
            var u = User(
                id: 2, studentID: "S2021002", name: "Bob", role: .student, passwordHash: "$2b$12$def",
                createdAt: 1_760_184_000, tokenGeneration: 1)
            u.calendarFeed = Array(0..<32)
            return u
        }()),
    .branchDefined(
        {
            var b = Branch(name: "Quiet", areas: [])
            b.presenceCheckIn = true
            b.seatCodeGeneration = 3
            return b
        }()),
    .webhookEndpoint(
        WebhookEndpoint(
            id: 1, url: "http://127.0.0.1:9099/hooks", secret: "s3cret-s3cret-s3cret",
            events: ["reservation.created", "closure.created"], deliveredThrough: 7, createdAt: 1_760_184_000)),
    .webhookEvent(WebhookEvent(id: 8, type: "reservation.created", createdAt: 1_760_184_000, payload: #"{"id":8}"#)),
    .epoch(EpochChange(epoch: 4, node: "n2", at: 1_760_184_000)),
    .sessionRevoked(SessionRevocation(userID: 2, digest: Array(0..<16), expiresAt: 1_760_184_000)),
    .userChanged(
        {
            var u = User(
                id: 3, studentID: "dwho", name: "Doctor Who", role: .admin, passwordHash: "",
                createdAt: 1_760_000_000)
            u.source = .oidc
            u.email = "dwho@badwolf.org"
            u.groups = ["library-staff", "students"]
            return u
        }()),
    // Rules per group (kinds 16–19) and a branch with a release rule.
    .groupPolicy(
        {
            var p = GroupPolicy(group: "pg")
            p.maxUpcoming = 5
            p.maxHoursPerDay = 6
            p.lateCancelMinutes = 0
            p.places = ["Main Library/Research Area"]
            p.features = ["monitor"]
            return p
        }()),
    .groupPolicy(
        {
            var p = GroupPolicy(group: "staff")
            p.exempt = true
            p.removed = true
            return p
        }()),
    .groupMembership(GroupMembership(userID: 2, groups: ["pg", "night"])),
    .strike(
        Strike(
            id: 1, userID: 2, reason: .noShow, reservationID: 43, seatID: 12, start: 1_760_184_000, at: 1_760_184_900)),
    .strike(
        Strike(
            id: 2, userID: 2, reason: .lateCancel, reservationID: 44, seatID: 12, start: 1_760_184_000,
            at: 1_760_183_000, removed: Strike.Removal(at: 1_760_190_000, by: 1, reason: "ill"))),
    .suspensionLifted(SuspensionLift(userID: 2, at: 1_760_190_000, by: 1, reason: "spoke")),
    .branchDefined(
        {
            var b = Branch(name: "Law", areas: [], timeZone: "Europe/Berlin")
            b.release = ReleaseRule(daysBefore: 1, minute: 420)
            return b
        }()),
    // The seat over the day: a checked-in reservation away until 30 minutes after its start,
    // twice, of series 40, group 41, moved from 39 (status byte bits 7 and 6, then the extras);
    // and a move as one together record (kind 20): the old one cancelled, the new one created.
    .reservationChanged(
        Reservation(
            id: 42, seatID: 10, userID: 1, start: 1_760_187_600, end: 1_760_194_800, status: .checkedIn,
            createdAt: 1_760_184_000, checkedInAt: 1_760_187_000,
            extras: ReservationExtras(awayUntil: 1_760_189_400, awayCount: 2, seriesID: 40, groupID: 41, movedFrom: 39))
    ),
    .together([
        .reservationChanged(
            Reservation(
                id: 43, seatID: 10, userID: 1, start: 1_760_187_600, end: 1_760_191_200, status: .cancelled,
                createdAt: 1_760_184_000)),
        .reservationCreated(
            Reservation(
                id: 44, seatID: 11, userID: 1, start: 1_760_187_600, end: 1_760_191_200, createdAt: 1_760_185_000,
                extras: ReservationExtras(movedFrom: 43))),
    ]),
    // The audit trail (kind 21): seq, time, actor id, seven strings, the two 32-byte hashes; an
    // anonymisation (kind 22, as an archive list with user 0); an erasure (kind 23).
    .audit(
        AuditEntry(
            seq: 1, at: 1_760_190_000, actorID: 1, actor: "admin", address: "127.0.0.1", kind: "account.disabled",
            subject: "user:2", before: #"{"disabled":false}"#, after: #"{"disabled":true}"#,
            previousHash: AuditEntry.genesis, hash: [UInt8](repeating: 0xAB, count: 32))),
    .reservationsAnonymised([ArchivedReservation(id: 7, seatID: 3, userID: 0)]),
    .accountErased(AccountErasure(userID: 2, at: 1_760_190_000)),
    // An account with a language and email preferences (flags bit 8).
    .userChanged(
        {
            var u = User(id: 2, studentID: "S1", name: "A", role: .student, passwordHash: "", createdAt: 1_760_000_000)
            u.language = "de"
            u.mail.address = "a@b.de"
            u.mail.set(.reminder, on: false)
            u.mail.reminderMinutes = 15
            u.mail.serial = 3
            return u
        }()),
    // The email outbox (kinds 24, 25): a queued confirmation, and a delivery.
    .mailQueued(
        MailItem(
            id: 5, userID: 2, kind: .confirmed, createdAt: 1_760_184_000, to: "a@b.de", language: "de", reference: 43,
            seatID: 10, start: 1_760_187_600, end: 1_760_191_200)),
    .mailSettled(MailSettlement(id: 5, outcome: .delivered, at: 1_760_184_060)),
]

func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

func unhex(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var i = s.startIndex
    while i < s.endIndex {
        let j = s.index(i, offsetBy: 2)
        out.append(UInt8(s[i..<j], radix: 16)!)
        i = j
    }
    return out
}
