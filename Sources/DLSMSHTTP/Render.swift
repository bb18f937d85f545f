import DLSMSCore
import DLSMSEngine
import Hummingbird

/// The contract's JSON form of each resource.
package enum Render {
    static func user(_ u: User, _ w: inout JSONWriter) {
        w.object {
            $0.field("id", u.id)
            $0.field("student_id", u.studentID)
            $0.field("name", u.name)
            $0.field("role", u.role.name)
            $0.time("created_at", u.createdAt)
            $0.field("disabled", u.disabled)
        }
    }

    static func reservation(_ r: Reservation, _ w: inout JSONWriter) {
        w.object {
            $0.field("id", r.id)
            $0.field("seat_id", r.seatID)
            $0.field("user_id", r.userID)
            $0.time("start_time", r.start)
            $0.time("end_time", r.end)
            $0.field("status", r.status.name)
            $0.time("created_at", r.createdAt)
            $0.time("checked_in_at", r.checkedInAt)
        }
    }

    /// A branch with its figures, time zone and opening hours (`open_hours` as text, as in the
    /// original; `opening_hours` per weekday, local times).
    static func branch(_ b: BranchSummary, _ w: inout JSONWriter) {
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
    package static func seatsAnswer(_ seats: [SeatView], parts: [SeatFragments.Entry]?) -> JSONWriter {
        var w = JSONWriter()
        w.reserveCapacity(parts.map(SeatFragments.answerSize) ?? 64 + seats.count * 260)
        w.object {
            if let parts {
                $0.field("seats", array: seats.indices) { w, i in seat(seats[i], parts[i], &w) }
            } else {
                $0.field("seats", array: seats) { w, s in w.object { seatFields(s, &$0) } }
            }
            $0.field("count", seats.count)
        }
        return w
    }

    /// A seat's object from its cached members (``SeatFragments``): the bytes of ``seatFields``.
    package static func seat(_ v: SeatView, _ parts: SeatFragments.Entry, _ w: inout JSONWriter) {
        w.object {
            $0.members(parts.head)
            seatState(v, &$0)
            $0.members(parts.tail)
        }
    }

    /// The members before the seat's state, which change only with the seat.
    static func seatHead(_ seat: Seat, _ w: inout JSONWriter) {
        w.field("id", seat.id)
        w.field("branch", seat.branch)
        w.field("area", seat.area)
        w.field("has_power", seat.hasPower)
        w.field("has_monitor", seat.hasMonitor)
    }

    /// What changes with time and bookings.
    static func seatState(_ v: SeatView, _ w: inout JSONWriter) {
        w.field("status", v.statusName)
        w.field("is_available", v.isAvailable)
    }

    static func seatTail(_ seat: Seat, _ w: inout JSONWriter) {
        w.field("label", seat.displayLabel)
        w.field("accessible", seat.accessible)
        w.field("notes", seat.notes.isEmpty ? nil : seat.notes)
        w.field("x", seat.x)
        w.field("y", seat.y)
    }

    static func busy(_ intervals: [BusyInterval], _ w: inout JSONWriter) {
        w.field("busy", array: intervals) { w, b in
            w.object {
                $0.time("start_time", b.start)
                $0.time("end_time", b.end)
            }
        }
    }

    static func waitlist(_ e: WaitlistEntry, position: Int?, _ w: inout JSONWriter) {
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

    static func notification(_ n: UserNotification, _ w: inout JSONWriter) {
        w.object {
            $0.field("id", n.id)
            $0.field("user_id", n.userID)
            $0.field("type", n.kind.name)
            $0.field("message", n.message)
            $0.field("seat_id", n.seatID)
            $0.time("start_time", n.start)
            $0.time("end_time", n.end)
            $0.time("created_at", n.createdAt)
        }
    }

    static func response(_ status: HTTPResponse.Status = .ok, _ body: (inout JSONWriter) -> Void) -> Response {
        var w = JSONWriter()
        body(&w)
        return response(w, status: status)
    }

    static func response(_ w: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}
