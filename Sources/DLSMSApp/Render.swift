import DLSMSCore
import DLSMSEngine

/// The contract's JSON form of each resource.
package enum Render {
    package static func user(_ u: User, _ w: inout JSONWriter) { w.object { userFields(u, &$0) } }

    package static func userFields(_ u: User, _ w: inout JSONWriter) {
        w.field("id", u.id)
        w.field("student_id", u.studentID)
        w.field("name", u.name)
        w.field("role", u.role.name)
        w.time("created_at", u.createdAt)
        w.field("disabled", u.disabled)
        // Where the identity comes from (local, oidc, ldap, sso_proxy), and what it said.
        w.field("source", u.source.name)
        if !u.email.isEmpty { w.field("email", u.email) }
        w.field("groups", array: u.groups) { w, g in w.value(g) }
    }

    package static func reservation(_ r: Reservation, _ w: inout JSONWriter) { w.object { reservationFields(r, &$0) } }

    package static func reservationFields(_ r: Reservation, _ w: inout JSONWriter) {
        w.field("id", r.id)
        w.field("seat_id", r.seatID)
        w.field("user_id", r.userID)
        w.time("start_time", r.start)
        w.time("end_time", r.end)
        w.field("status", r.status.name)
        w.time("created_at", r.createdAt)
        w.time("checked_in_at", r.checkedInAt)
        guard !r.extras.isEmpty else { return }
        // Only the fields a reservation has (most have none of them).
        let e = r.extras
        if let t = e.awayUntil { w.time("away_until", t) }
        if e.awayCount > 0 { w.field("away_count", e.awayCount) }
        if let s = e.seriesID { w.field("series_id", s) }
        if let g = e.groupID { w.field("group_id", g) }
        if let m = e.movedFrom { w.field("moved_from", m) }
    }

    /// A branch with its figures, time zone and opening hours (`open_hours` as text, as in the
    /// original; `opening_hours` per weekday, local times).
    package static func branch(_ b: BranchSummary, _ w: inout JSONWriter) {
        w.object {
            $0.field("branch", b.branch.name)
            $0.field("total_seats", b.totalSeats)
            $0.field("power_seats", b.powerSeats)
            $0.field("monitor_seats", b.monitorSeats)
            $0.field("available_seats", b.availableSeats)
            $0.field("areas", array: b.branch.areas) { $0.value($1) }
            $0.field("open_hours", b.branch.openingHours.description)
            $0.field("time_zone", b.branch.timeZone)
            $0.field("presence_required", b.branch.presenceCheckIn)
            $0.field("display_enabled", !b.branch.displayOff)
            if let release = b.branch.release {
                $0.field(
                    "release",
                    object: {
                        $0.field("days_before", release.daysBefore)
                        $0.field("time", release.time)
                    })
            } else {
                $0.field("release", nil as String?)
            }
            let hours = b.branch.openingHours
            $0.field(
                "opening_hours",
                object: { w in
                    let days: [StaticString] = [
                        "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                    ]
                    for (d, name) in days.enumerated() {
                        w.field(name, array: hours.periods(weekday: d)) { $0.value($1.description) }
                    }
                })
        }
    }

    package static func seatFields(_ v: SeatView, _ w: inout JSONWriter) {
        seatHead(v.seat, &w)
        seatState(v, &w)
        seatTail(v.seat, &w)
    }

    /// The answer of `GET /seats`: each seat from its cached members when `parts` is given (one
    /// per seat, in order), else field by field; the bytes are the same.
    /// How many of `items`, from the first, fit in an answer of `budget` bytes as `render` writes
    /// them (at least one): a page of long, escape-heavy names ends before its `limit`.
    package static func fitting<C: Collection>(
        _ items: C, budget: Int, _ render: (C.Element, inout JSONWriter) -> Void
    ) -> Int {
        var size = 128
        for (i, item) in items.enumerated() {
            var scratch = JSONWriter()
            render(item, &scratch)
            size += scratch.bytes.count + 1
            if size > budget { return max(1, i) }
        }
        return items.count
    }

    /// A page of a seat search: its seats, `count` (on the page), `total` (matching in all) and
    /// `next_cursor` (`null` on the last page).
    package static func seatsAnswer(
        _ page: SeatPage, parts: [SeatFragments.Entry]?, access: [SeatAccess?]? = nil
    ) -> JSONWriter {
        seatsAnswer(page.seats, parts: parts, access: access) {
            $0.field("total", page.total)
            $0.field("next_cursor", page.next.map(String.init))
        }
    }

    package static func seatsAnswer(
        _ seats: [SeatView], parts: [SeatFragments.Entry]?, access: [SeatAccess?]? = nil,
        more: (inout JSONWriter) -> Void = { _ in }
    ) -> JSONWriter {
        var w = JSONWriter()
        w.reserveCapacity(parts.map(SeatFragments.answerSize) ?? 64 + seats.count * 260)
        w.object {
            if let parts {
                // The view's state read in place: copying each view retained its seat's strings.
                $0.field("seats", array: seats.indices) { w, i in
                    if let a = access?[i] {
                        var one = JSONWriter()
                        seat(
                            status: seats[i].statusLiteral, available: seats[i].isAvailable, away: seats[i].awayNow,
                            parts[i], &one)
                        w.verbatim(Array(one.bytes.dropLast()))  // its closing brace: the access fields go before it
                        a.append(to: &w)
                    } else {
                        seat(
                            status: seats[i].statusLiteral, available: seats[i].isAvailable, away: seats[i].awayNow,
                            parts[i], &w)
                    }
                }
            } else {
                $0.field("seats", array: seats.indices) { w, i in
                    w.object {
                        seatFields(seats[i], &$0)
                        if let a = access?[i] {
                            $0.field("restricted_to", array: a.restrictedTo) { $0.value($1) }
                            $0.field("allowed", a.allowed)
                        }
                    }
                }
            }
            $0.field("count", seats.count)
            more(&$0)
        }
        return w
    }

    /// A seat policies reserve for some groups: those groups, and whether the caller may book it.
    package struct SeatAccess: Sendable {
        package var restrictedTo: [String]
        package var allowed: Bool
        package init(restrictedTo: [String], allowed: Bool) {
            self.restrictedTo = restrictedTo
            self.allowed = allowed
        }

        /// `,"restricted_to":[…],"allowed":…}`: the end of a seat object whose closing brace was left off.
        func append(to w: inout JSONWriter) {
            var fields = JSONWriter()
            fields.object {
                $0.field("restricted_to", array: restrictedTo) { $0.value($1) }
                $0.field("allowed", allowed)
            }
            w.verbatim([UInt8(ascii: ",")] + fields.bytes.dropFirst())
        }
    }

    /// A seat's object from its cached members (``SeatFragments``): the bytes of ``seatFields``,
    /// in four appends (the search answer's hundreds of seats were a tenth of its CPU).
    package static func seat(_ v: SeatView, _ parts: SeatFragments.Entry, _ w: inout JSONWriter) {
        seat(status: v.statusLiteral, available: v.isAvailable, away: v.awayNow, parts, &w)
    }

    static func seat(
        status: StaticString, available: Bool, away: Bool, _ parts: SeatFragments.Entry, _ w: inout JSONWriter
    ) {
        w.verbatim(parts.opening)
        w.verbatim(status)
        w.verbatim(available ? #"","is_available":true"# : #"","is_available":false"#)
        if away { w.verbatim(#","away":true"#) }
        w.verbatim(parts.closing)
    }

    /// The members before the seat's state, which change only with the seat.
    package static func seatHead(_ seat: Seat, _ w: inout JSONWriter) {
        w.field("id", seat.id)
        w.field("branch", seat.branch)
        w.field("area", seat.area)
        w.field("has_power", seat.hasPower)
        w.field("has_monitor", seat.hasMonitor)
    }

    /// What changes with time and bookings.
    package static func seatState(_ v: SeatView, _ w: inout JSONWriter) {
        w.field("status", v.statusName)
        w.field("is_available", v.isAvailable)
        if v.awayNow { w.field("away", true) }  // only then: the holder stepped away
    }

    package static func seatTail(_ seat: Seat, _ w: inout JSONWriter) {
        w.field("label", seat.displayLabel)
        w.field("accessible", seat.accessible)
        w.field("notes", seat.notes.isEmpty ? nil : seat.notes)
        w.field("x", seat.x)
        w.field("y", seat.y)
    }

    package static func busy(_ intervals: [BusyInterval], _ w: inout JSONWriter) {
        w.field("busy", array: intervals) { w, b in
            w.object {
                $0.time("start_time", b.start)
                $0.time("end_time", b.end)
            }
        }
    }

    package static func waitlist(_ e: WaitlistEntry, position: Int?, _ w: inout JSONWriter) {
        w.object {
            $0.field("id", e.id)
            $0.field("user_id", e.userID)
            switch e.target {
            case .seat(let s):
                $0.field("seat_id", s)
                $0.field("branch", nil as String?)
            case .branch(let b):
                $0.field("seat_id", nil as Int32?)
                $0.field("branch", b)
            }
            $0.time("desired_time", e.desiredTime)
            $0.time("end_time", e.endTime)
            $0.field("status", e.status.name)
            $0.field("position", position)
            $0.time("notified_at", e.notifiedAt)
            $0.time("created_at", e.createdAt)
            $0.field("offered_seat_id", e.offer?.seatID)
            $0.field("offer_reservation_id", e.offer?.reservationID)
            $0.time("offer_expires_at", e.status == .offered ? e.offer?.expiresAt : nil)
        }
    }

    /// A notification; `message` replaces its recorded (English) text (a translation).
    package static func notification(_ n: UserNotification, message: String? = nil, _ w: inout JSONWriter) {
        w.object {
            $0.field("id", n.id)
            $0.field("user_id", n.userID)
            $0.field("type", n.kind.name)
            $0.field("message", message ?? n.message)
            $0.field("seat_id", n.seatID)
            $0.time("start_time", n.start)
            $0.time("end_time", n.end)
            $0.time("created_at", n.createdAt)
        }
    }

    package static func closure(_ c: Closure, _ w: inout JSONWriter) { w.object { closureFields(c, &$0) } }

    package static func closureFields(_ c: Closure, _ w: inout JSONWriter) {
        w.field("id", c.id)
        w.field("area", c.area.isEmpty ? nil : c.area)
        w.time("start_time", c.start)
        w.time("end_time", c.end)
        w.field("reason", c.reason)
    }

    /// A webhook event's body: `{"id", "type", "created_at", "data": {…}}`.
    public static func webhookPayload(_ notice: WebhookNotice) -> String {
        var w = JSONWriter()
        w.object {
            $0.field("id", notice.id)
            $0.field("type", notice.type)
            $0.time("created_at", notice.createdAt)
            $0.field(
                "data",
                object: { data in
                    switch notice.subject {
                    case .reservation(let r):
                        data.field("reservation", object: { reservationFields(r, &$0) })
                    case .waitlistEntry(let e):
                        data.field("waitlist_entry", object: { webhookWaitlistFields(e, &$0) })
                    case .closure(let branch, let c):
                        data.field("branch", branch)
                        data.field("closure", object: { closureFields(c, &$0) })
                    }
                })
        }
        return w.text
    }

    static func webhookWaitlistFields(_ e: WaitlistEntry, _ w: inout JSONWriter) {
        w.field("id", e.id)
        w.field("user_id", e.userID)
        switch e.target {
        case .seat(let id):
            w.field("seat_id", id)
            w.field("branch", nil as String?)
        case .branch(let b):
            w.field("seat_id", nil as Int64?)
            w.field("branch", b)
        }
        w.time("desired_time", e.desiredTime)
        w.time("end_time", e.endTime)
        w.field("status", e.status.name)
        w.field("offered_seat_id", e.offer?.seatID)
    }
}
