import DLSMSCore
import NIOCore
import Testing

@testable import DLSMSLoad

/// Synthetic histories: what clients saw, and what the server holds at the end.
struct CheckerTests {
    static let students: Set<Int64> = [1, 2, 3]

    func key(_ user: Int64, seat: Int64, _ start: Int64, _ end: Int64) -> BookingKey {
        BookingKey(userID: user, seatID: seat, start: start, end: end)
    }

    func reservation(_ id: Int64, _ key: BookingKey, _ status: String = "CONFIRMED") -> FinalReservation {
        FinalReservation(id: id, key: key, status: status)
    }

    @Test func aCleanHistoryPasses() {
        let a = key(1, seat: 10, 0, 3_600)
        let b = key(2, seat: 10, 3_600, 7_200)  // touches a: half-open windows do not overlap
        let refused = key(3, seat: 10, 1_800, 5_400)
        let unknownApplied = key(3, seat: 11, 0, 3_600)
        let unknownLost = key(3, seat: 12, 0, 3_600)
        let c = key(1, seat: 13, 0, 3_600)
        let d = key(2, seat: 14, 0, 3_600)
        let history: [Operation] = [
            .book(a, .ok, reservationID: 1), .book(b, .ok, reservationID: 2),
            .book(refused, .failed, reservationID: nil),
            .book(unknownApplied, .unknown, reservationID: nil), .book(unknownLost, .unknown, reservationID: nil),
            .book(c, .ok, reservationID: 4), .cancel(reservationID: 4, .ok),
            .book(d, .ok, reservationID: 5), .checkIn(reservationID: 5, .ok),
            .cancel(reservationID: 2, .failed),
        ]
        let final = [
            reservation(1, a), reservation(2, b), reservation(3, unknownApplied), reservation(4, c, "CANCELLED"),
            reservation(5, d, "CHECKED_IN"),
            // Another user's reservation on a seat nobody of this run touched.
            reservation(6, key(99, seat: 20, 0, 3_600)),
        ]
        let v = Checker.check(history: history, final: final, students: Self.students)
        #expect(v.passed, "\(v.violations)")
        #expect(v.acknowledgedBookings == 4)
        #expect(v.refusedBookings == 1)
        #expect(v.unknownBookings == 2)
        #expect(v.unknownApplied == 1)
        #expect(v.acknowledgedCancels == 1)
        #expect(v.acknowledgedCheckIns == 1)
        #expect(v.reservationsRead == 6)
        #expect(v.violations.isEmpty)
    }

    @Test func aLostAcknowledgedBookingIsCaught() {
        let a = key(1, seat: 10, 0, 3_600)
        let b = key(2, seat: 11, 0, 3_600)
        let v = Checker.check(
            history: [.book(a, .ok, reservationID: 1), .book(b, .ok, reservationID: 2)], final: [reservation(2, b)],
            students: Self.students)
        #expect(!v.passed)
        #expect(v.lost == 1)
        #expect(v.violations.first?.contains("reservation 1") == true)
    }

    @Test func anAcknowledgedBookingThatChangedIsLost() {
        let a = key(1, seat: 10, 0, 3_600)
        let v = Checker.check(
            history: [.book(a, .ok, reservationID: 1)], final: [reservation(1, key(1, seat: 11, 0, 3_600))],
            students: Self.students)
        #expect(v.lost == 1)
        #expect(!v.passed)
    }

    @Test func aRefusedBookingThatExistsIsAPhantom() {
        let a = key(1, seat: 10, 0, 3_600)
        let v = Checker.check(
            history: [.book(a, .failed, reservationID: nil)], final: [reservation(7, a)], students: Self.students)
        #expect(v.phantom == 1)
        #expect(!v.passed)
    }

    @Test func aReservationNobodyAskedForIsAPhantom() {
        let v = Checker.check(history: [], final: [reservation(7, key(2, seat: 10, 0, 3_600))], students: Self.students)
        #expect(v.phantom == 1)
        // …unless it is not this run's student's.
        let foreign = Checker.check(
            history: [], final: [reservation(7, key(42, seat: 10, 0, 3_600))], students: Self.students)
        #expect(foreign.passed)
    }

    @Test func oneUnknownBookingAccountsForOneReservationOnly() {
        let a = key(1, seat: 10, 0, 3_600)
        let v = Checker.check(
            history: [.book(a, .unknown, reservationID: nil), .book(a, .failed, reservationID: nil)],
            final: [reservation(7, a, "CANCELLED"), reservation(8, a, "CONFIRMED")], students: Self.students)
        #expect(v.phantom == 1)
    }

    @Test func anOverlapIsCaught() {
        let a = key(1, seat: 10, 0, 3_600)
        let b = key(2, seat: 10, 1_800, 5_400)
        let v = Checker.check(
            history: [.book(a, .ok, reservationID: 1), .book(b, .ok, reservationID: 2)],
            final: [reservation(1, a), reservation(2, b)], students: Self.students)
        #expect(v.overlaps == 1)
        #expect(v.lost == 0 && v.phantom == 0)
        #expect(!v.passed)
    }

    /// A seat held for a waitlist offer counts as taken: a booking of this run over it is an
    /// overlap; a hold of another student's on a free window is no violation; a hold claimed by one
    /// of this run's students, who never used the waitlist, is a phantom.
    @Test func heldSeatsForWaitlistOffersAreLearned() {
        let booked = key(1, seat: 10, 0, 3_600)
        let held = key(900, seat: 10, 1_800, 5_400)
        let elsewhere = key(900, seat: 11, 0, 3_600)
        var hold = reservation(2, held)
        hold.status = "HELD"
        var free = reservation(3, elsewhere)
        free.status = "HELD"
        let v = Checker.check(
            history: [.book(booked, .ok, reservationID: 1)], final: [reservation(1, booked), hold, free],
            students: Self.students)
        #expect(v.overlaps == 1 && v.phantom == 0 && !v.passed)
        let clean = Checker.check(
            history: [.book(booked, .ok, reservationID: 1)], final: [reservation(1, booked), free],
            students: Self.students)
        #expect(clean.passed)
        var mine = reservation(4, key(2, seat: 12, 0, 3_600))
        mine.status = "HELD"
        let phantom = Checker.check(history: [], final: [mine], students: Self.students)
        #expect(phantom.phantom == 1 && !phantom.passed)
    }

    @Test func anOverlapHiddenBehindALongReservationIsCaught() {
        // c starts after b ends but inside a, which is longer than both.
        let a = key(1, seat: 10, 0, 10_000)
        let b = key(2, seat: 10, 100, 200)
        let c = key(3, seat: 10, 300, 400)
        let v = Checker.check(
            history: [
                .book(a, .ok, reservationID: 1), .book(b, .ok, reservationID: 2), .book(c, .ok, reservationID: 3),
            ],
            final: [reservation(1, a), reservation(2, b), reservation(3, c)], students: Self.students)
        #expect(v.overlaps == 2)
    }

    @Test func anUnknownOutcomeMayGoEitherWayButNeverIntoAnOverlap() {
        let a = key(1, seat: 10, 0, 3_600)
        let b = key(2, seat: 10, 1_800, 5_400)
        let history: [Operation] = [.book(a, .ok, reservationID: 1), .book(b, .unknown, reservationID: nil)]
        let absent = Checker.check(history: history, final: [reservation(1, a)], students: Self.students)
        #expect(absent.passed)
        let present = Checker.check(
            history: history, final: [reservation(1, a), reservation(2, b)], students: Self.students)
        #expect(present.phantom == 0)
        #expect(present.unknownApplied == 1)
        #expect(present.overlaps == 1)
        #expect(!present.passed)
        // Released seats do not overlap: a cancelled or no-show reservation under another is fine.
        let released = Checker.check(
            history: history + [.cancel(reservationID: 1, .ok)],
            final: [reservation(1, a, "CANCELLED"), reservation(2, b)], students: Self.students)
        #expect(released.passed, "\(released.violations)")
    }

    @Test func acknowledgedCancelsAndCheckInsMustBeReflected() {
        let a = key(1, seat: 10, 0, 3_600)
        let b = key(2, seat: 11, 0, 3_600)
        let history: [Operation] = [
            .book(a, .ok, reservationID: 1), .cancel(reservationID: 1, .ok), .book(b, .ok, reservationID: 2),
            .checkIn(reservationID: 2, .ok),
        ]
        let v = Checker.check(
            history: history, final: [reservation(1, a), reservation(2, b)], students: Self.students)
        #expect(v.wrongState == 2)
        #expect(!v.passed)
        let completed = Checker.check(
            history: history, final: [reservation(1, a, "CANCELLED"), reservation(2, b, "COMPLETED")],
            students: Self.students)
        #expect(completed.passed, "\(completed.violations)")
    }

    @Test func aTransitionWithoutAnyRequestIsCaught() {
        let a = key(1, seat: 10, 0, 3_600)
        let b = key(2, seat: 11, 0, 3_600)
        let history: [Operation] = [
            .book(a, .ok, reservationID: 1), .book(b, .ok, reservationID: 2), .checkIn(reservationID: 2, .failed),
        ]
        let v = Checker.check(
            history: history, final: [reservation(1, a, "CANCELLED"), reservation(2, b, "CHECKED_IN")],
            students: Self.students)
        #expect(v.wrongState == 2)
        // An unknown-outcome cancel or check-in may have happened.
        let unknown = Checker.check(
            history: history + [.cancel(reservationID: 1, .unknown), .checkIn(reservationID: 2, .unknown)],
            final: [reservation(1, a, "CANCELLED"), reservation(2, b, "CHECKED_IN")], students: Self.students)
        #expect(unknown.passed, "\(unknown.violations)")
    }

    /// Random histories from a model of a correct server pass; removing one acknowledged
    /// reservation from the final state, or adding a refused one, never does.
    @Test(arguments: 0..<20) func randomCorrectHistoriesPassAndEveryCorruptionIsCaught(seed: UInt64) {
        var rng = SplitMix64(seed: 0xC4EC_0000 + seed)
        var history: [Operation] = []
        var final: [FinalReservation] = []
        var nextID: Int64 = 1
        var refused: [BookingKey] = []
        for _ in 0..<300 {
            let seat = Int64(rng.next() % 5)
            let start = Int64(rng.next() % 20) * 900
            let k = key(Int64(1 + rng.next() % 3), seat: seat, start, start + 900 * Int64(1 + rng.next() % 4))
            let free = !final.contains {
                $0.heldTheSeat && $0.key.seatID == seat && $0.key.start < k.end && k.start < $0.key.end
            }
            let unknown = rng.next() % 10 == 0
            if free && (!unknown || rng.next() % 2 == 0) {
                final.append(reservation(nextID, k))
                history.append(.book(k, unknown ? .unknown : .ok, reservationID: unknown ? nil : nextID))
                nextID += 1
            } else {
                history.append(.book(k, unknown ? .unknown : .failed, reservationID: nil))
                if !unknown { refused.append(k) }
            }
            if rng.next() % 4 == 0, let i = final.indices.randomElement(using: &rng), final[i].status == "CONFIRMED" {
                final[i].status = "CANCELLED"
                history.append(.cancel(reservationID: final[i].id, .ok))
            }
        }
        let clean = Checker.check(history: history, final: final, students: Self.students)
        #expect(clean.passed, "\(clean.violations)")

        let acknowledged = history.compactMap { op -> Int64? in
            if case .book(_, .ok, let id) = op { return id }
            return nil
        }
        if let victim = acknowledged.randomElement(using: &rng) {
            let lost = Checker.check(history: history, final: final.filter { $0.id != victim }, students: Self.students)
            #expect(lost.lost == 1)
        }
        let unknownKeys = Set(
            history.compactMap { op -> BookingKey? in
                if case .book(let k, .unknown, _) = op { return k }
                return nil
            })
        if let phantom = refused.filter({ !unknownKeys.contains($0) }).randomElement(using: &rng) {
            let v = Checker.check(
                history: history, final: final + [reservation(nextID, phantom, "CANCELLED")], students: Self.students)
            #expect(v.phantom == 1)
            #expect(!v.passed)
        }
    }
}

struct JSONScanTests {
    @Test func readsAnIdAndAnErrorCodeWithoutParsingTheDocument() {
        let booking = ByteBuffer(string: #"{"id": 42,"seat_id":7,"user_id":3}"#)
        #expect(JSON.integer("id", in: booking) == 42)
        #expect(JSON.integer("seat_id", in: booking) == 7)
        #expect(JSON.integer("missing", in: booking) == nil)
        #expect(JSON.integer("id", in: ByteBuffer(string: #"{"seat_id":7}"#)) == nil)
        #expect(JSON.integer("id", in: ByteBuffer(string: #"{"id":"x"}"#)) == nil)
        #expect(JSON.integer("id", in: ByteBuffer(string: #"{"id":"#)) == nil)
        let error = ByteBuffer(string: #"{"error":"the seat is taken","code":"seat_conflict"}"#)
        #expect(JSON.errorCode(status: 409, body: error) == "seat_conflict")
        #expect(JSON.errorCode(status: 502, body: ByteBuffer(string: "<html>")) == "http_502")
        #expect(JSON.errorCode(status: 500, body: ByteBuffer(string: #"{"code":"unterminated"#)) == "http_500")
    }
}
