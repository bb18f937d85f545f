import DLSMSCore
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

@Suite struct CodecPropertyTests {
    static func randomRecord(_ rng: inout SplitMix64) -> JournalRecord {
        func text(_ rng: inout SplitMix64) -> String {
            String((0..<Int.random(in: 0...12, using: &rng)).map { _ in "abcé😀 Z-_".randomElement(using: &rng)! })
        }
        let t = Int64.random(in: 0...4_000_000_000, using: &rng)
        switch Int.random(in: 0..<7, using: &rng) {
        case 0:
            let open = Int.random(in: 0..<1_439, using: &rng)
            return .branchDefined(
                Branch(
                    name: text(&rng), areas: (0..<Int.random(in: 0...3, using: &rng)).map { _ in text(&rng) },
                    timeZone: text(&rng),
                    openingHours: [
                        .alwaysOpen,
                        .daily(openMinute: open, closeMinute: Int.random(in: (open + 1)...1_440, using: &rng)),
                        randomWeek(&rng),
                    ][Int.random(in: 0..<3, using: &rng)],
                    closures: (0..<Int.random(in: 0...3, using: &rng)).map { i in
                        Closure(
                            id: Int64(i + 1), area: text(&rng), start: t,
                            end: t + Int64.random(in: 1...Closure.maxDuration, using: &rng), reason: text(&rng))
                    },
                    presenceCheckIn: .random(using: &rng), seatCodeGeneration: .random(in: 0...3, using: &rng)))
        case 1:
            return .seatDefined(
                Seat(
                    id: Int32.random(in: .min ... .max, using: &rng), branch: text(&rng), area: text(&rng),
                    hasPower: .random(using: &rng), hasMonitor: .random(using: &rng),
                    inMaintenance: .random(using: &rng), label: Bool.random(using: &rng) ? text(&rng) : "",
                    accessible: .random(using: &rng), notes: Bool.random(using: &rng) ? text(&rng) : "",
                    x: Bool.random(using: &rng) ? Int32.random(in: .min ... .max, using: &rng) : nil,
                    y: Bool.random(using: &rng) ? Int32.random(in: 0...10_000, using: &rng) : nil,
                    retired: .random(using: &rng)))
        case 2:
            var user = User(
                id: Int32.random(in: 1 ... .max, using: &rng), studentID: text(&rng), name: text(&rng),
                role: .random(using: &rng) ? .admin : .student, passwordHash: text(&rng), createdAt: t)
            guard Bool.random(using: &rng) else { return .userCreated(user) }
            user.disabled = .random(using: &rng)
            user.tokenGeneration = .random(in: 0...1_000, using: &rng)
            if Bool.random(using: &rng) {
                user.calendarFeed = (0..<User.calendarFeedBytes).map { _ in .random(in: 0...255, using: &rng) }
            }
            return .userChanged(user)
        case 3, 4:
            var r = Reservation(
                id: Int64.random(in: 1 ... .max, using: &rng), seatID: Int32.random(in: .min ... .max, using: &rng),
                userID: Int32.random(in: .min ... .max, using: &rng),
                start: t, end: t + Int64.random(in: 0...Int64(UInt32.max), using: &rng),
                status: ReservationStatus.allCases.randomElement(using: &rng)!,
                createdAt: t + Int64(Int32.random(in: .min ... .max, using: &rng)),
                checkedInAt: Bool.random(using: &rng)
                    ? t + Int64(Int32.random(in: (.min + 1) ... .max, using: &rng)) : nil)
            if Int.random(in: 0..<3, using: &rng) == 0 {
                func maybe(_ v: Int64) -> Int64? { Bool.random(using: &rng) ? v : nil }
                r.extras = ReservationExtras(
                    awayUntil: maybe(t + Int64.random(in: 0...100_000, using: &rng)),
                    awayCount: Bool.random(using: &rng) ? Int.random(in: 1...20, using: &rng) : 0,
                    seriesID: maybe(Int64.random(in: 1 ... .max, using: &rng)),
                    groupID: maybe(Int64.random(in: 1 ... .max, using: &rng)),
                    movedFrom: maybe(Int64.random(in: 1 ... .max, using: &rng)))
            }
            let record: JournalRecord = Bool.random(using: &rng) ? .reservationCreated(r) : .reservationChanged(r)
            // Sometimes a move: this change and a created one, together.
            if Int.random(in: 0..<4, using: &rng) == 0 {
                var other = r
                other.id = r.id &+ 1 == 0 ? 1 : max(1, r.id &+ 1)
                other.extras.movedFrom = r.id
                return .together([.reservationChanged(r), .reservationCreated(other)])
            }
            return record
        case 5:
            return .waitlistChanged(
                WaitlistEntry(
                    id: Int64.random(in: 1 ... .max, using: &rng), userID: Int32.random(in: .min ... .max, using: &rng),
                    target: Bool.random(using: &rng)
                        ? .seat(Int32.random(in: .min ... .max, using: &rng)) : .branch(text(&rng)),
                    desiredTime: t, endTime: t + Int64.random(in: 0...100_000, using: &rng),
                    status: WaitlistStatus.allCases.randomElement(using: &rng)!,
                    notifiedAt: Bool.random(using: &rng) ? t - 5 : nil, createdAt: t - 100))
        default:
            return .notificationCreated(
                UserNotification(
                    id: Int64.random(in: 1 ... .max, using: &rng), userID: Int32.random(in: .min ... .max, using: &rng),
                    kind: NotificationKind.allCases.randomElement(using: &rng)!,
                    message: text(&rng), seatID: Bool.random(using: &rng) ? 5 : nil,
                    start: Bool.random(using: &rng) ? t : nil, end: Bool.random(using: &rng) ? -t : nil, createdAt: t))
        }
    }

    @Test func randomRecordsRoundTrip() throws {
        var rng = SplitMix64(seed: testSeed("CodecPropertyTests.roundTrip"))
        for _ in 0..<20_000 {
            let r = Self.randomRecord(&rng)
            #expect(try RecordCodec.decode(RecordCodec.encode(r)) == r)
        }
    }

    /// Garbage, truncations and single-byte changes of valid payloads: an error or a record, never a crash.
    @Test func malformedPayloadsAreErrorsNotCrashes() {
        var rng = SplitMix64(seed: testSeed("CodecPropertyTests.malformed"))
        for _ in 0..<20_000 {
            var bytes = RecordCodec.encode(Self.randomRecord(&rng))
            switch Int.random(in: 0..<3, using: &rng) {
            case 0: bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
            case 1: bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            default:
                bytes = (0..<Int.random(in: 0...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
            _ = try? RecordCodec.decode(bytes)
        }
        #expect(throws: RecordCodec.DecodingError.self) { try RecordCodec.decode([]) }
        #expect(throws: RecordCodec.DecodingError.self) { try RecordCodec.decode([0x04, 0xFF, 0xFF]) }
        // An offset that does not fit the engine's 32-bit storage is refused.
        var w = ByteWriter()
        w.byte(4)
        w.svarint(1)
        w.svarint(1)
        w.svarint(1)
        w.svarint(0)
        w.svarint(1 << 40)
        w.svarint(0)
        w.byte(0)
        #expect(throws: RecordCodec.DecodingError("invalid reservation")) { try RecordCodec.decode(w.bytes) }
        // A closure that ends before it starts is refused.
        var c = ByteWriter()
        c.byte(1)
        c.string("B")
        c.uvarint(0)
        c.string("UTC")
        c.byte(0x80)
        c.svarint(5)
        c.uvarint(1)
        c.svarint(1)
        c.string("")
        c.svarint(100)
        c.svarint(0)
        c.string("x")
        #expect(throws: RecordCodec.DecodingError("invalid closure")) { try RecordCodec.decode(c.bytes) }
    }

    @Test func snapshotDamageIsDetected() throws {
        let (bytes, _) = try SnapshotFile.encode(goldenRecords, coveredLSN: 5, chainChecksum: 1, createdAt: 2)
        for i in stride(from: 0, to: bytes.count, by: 3) {
            var damaged = bytes
            damaged[i] ^= 0x40
            #expect(throws: SnapshotError.self) { try SnapshotFile.decode(damaged) }
        }
        #expect(throws: SnapshotError.self) { try SnapshotFile.decode(Array(bytes.dropLast())) }
        #expect(throws: SnapshotError.self) { try SnapshotFile.decode(Array(bytes.prefix(50))) }
    }
}

/// Seven days of up to three ordered, separate periods each (some days closed).
func randomWeek(_ rng: inout SplitMix64) -> OpeningHours {
    var days: [[OpeningPeriod]] = []
    for _ in 0..<7 {
        var cuts = (0..<2 * Int.random(in: 0...3, using: &rng)).map { _ in Int.random(in: 0...1_440, using: &rng) }
        cuts = Array(Set(cuts)).sorted()
        if cuts.count % 2 == 1 { cuts.removeLast() }
        days.append(stride(from: 0, to: cuts.count, by: 2).map { OpeningPeriod(open: cuts[$0], close: cuts[$0 + 1]) })
    }
    return try! OpeningHours.weekly(validating: days)
}
