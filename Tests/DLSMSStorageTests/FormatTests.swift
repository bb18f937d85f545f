import DLSMSCore
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

/// The on-disk format is pinned byte for byte: a change here is a format change (bump the version).
@Suite struct GoldenVectorTests {
    static let records = [
        "010c4d61696e204c696272617279021153696c656e74205374756479205a6f6e651047726f7570205374756479205a6f6e650355544300",
        "01054e69676874000d4575726f70652f4265726c696e01e003a80a",
        "02140c4d61696e204c6962726172791153696c656e74205374756479205a6f6e6505",
        "03020853323032313030310d416c696365204a6f686e736f6e000a24326224313224616263809bd28e0d",
        "04541402c08bd38e0dc070bf7000",
        "05541402c08bd38e0da038bf7082870e",
        "060e0c0002e0c3d38e0da03881ff4adfa801",
        "061010010c4d61696e204c696272617279c08bd38e0da03800bf70",
        "07060c000e53656174203120697320667265650702e0c3d38e0d80fcd38e0de0f8d28e0d",
        "070804010178000a",
    ]
    static let laterRecords = [
        "08020853323032313030310d416c696365204a6f686e736f6e000a2432622431322478797a809bd28e0d01d804",
        "0956120a",
    ]
    static let frame = "010400000e0000000700000000000000c046ea6800000000efbeadde5a06c50d04541402c08bd38e0dc070bf7000"
    static let snapshot =
        "444c534d534e4150010000007000000063000000000000007856341200000000c046ea68000000000200000000000000010000000000000001000000000000000200000000000000020000000000000002000000000000001f0100000000000009010000000000001eb8e650bd1353e404224d186c401f0100000000000084ee000000f71937010c4d61696e204c696272617279021153696c656e74205374756479205a6f6e651047726f75701100f91503555443001b01054e69676874000d4575726f70652f4265726c696e01e003a80a22021455000e5400f42e052a03020853323032313030310d416c696365204a6f686e736f6e000a24326224313224616263809bd28e0d0e04541402c08bd38e0dc070bf700010050f00f100a038bf7082870e12060e0c0002e0c31200aa81ff4adfa8011b061010d800014000f20ba03800bf702407060c000e5365617420312069732066726565073f00f00480fcd38e0de0f8d28e0d08070804010178000a00000000e41ec1df"

    @Test func everyRecordKindEncodesToItsPinnedBytes() throws {
        let all = goldenRecords + laterGoldenRecords
        #expect(Set(all.map { RecordCodec.kind(of: $0) }) == Set(RecordCodec.Kind.allCases))
        #expect(all.count == Self.records.count + Self.laterRecords.count)
        for (record, pinned) in zip(all, Self.records + Self.laterRecords) {
            #expect(hex(RecordCodec.encode(record)) == pinned)
            #expect(try RecordCodec.decode(unhex(pinned)) == record)
        }
    }

    @Test func walFrameIsPinned() throws {
        let (bytes, crc) = WALFrame.encode(goldenRecords[4], lsn: 7, time: 1_760_184_000, previousChecksum: 0xDEAD_BEEF)
        #expect(hex(bytes) == Self.frame)
        guard case .frame(let f) = unhex(Self.frame).withUnsafeBytes({ WALFrame.parse($0, at: 0) }) else {
            Issue.record("pinned frame does not parse")
            return
        }
        #expect(f.lsn == 7 && f.previousChecksum == 0xDEAD_BEEF && f.checksum == crc && f.time == 1_760_184_000)
        #expect(try f.record() == goldenRecords[4])
    }

    @Test func snapshotIsPinned() throws {
        // A pinned file must keep decoding to the same state.
        let (header, records) = try SnapshotFile.decode(unhex(Self.snapshot))
        #expect(records == goldenRecords)
        #expect(header.coveredLSN == 99 && header.chainChecksum == 0x1234_5678 && header.createdAt == 1_760_184_000)
        #expect(header.counts.branches == 2 && header.counts.reservations == 2 && header.counts.notifications == 2)
        // And the encoder still writes the same header and content (the compressed body may differ
        // between liblz4 versions, so it is compared after decompression).
        let (fresh, freshHeader) = try SnapshotFile.encode(
            goldenRecords, coveredLSN: 99, chainChecksum: 0x1234_5678, createdAt: 1_760_184_000)
        #expect(Array(fresh[0..<96]) == Array(unhex(Self.snapshot)[0..<96]))
        #expect(freshHeader.contentSize == header.contentSize)
        #expect(try SnapshotFile.decode(fresh).records == goldenRecords)
    }

    @Test func crc32cKnownAnswer() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        // Continuing over pieces equals the checksum of the whole.
        let data = (0..<1_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(
            CRC32C.checksum(Array(data[300...]), continuing: CRC32C.checksum(Array(data[..<300])))
                == CRC32C.checksum(data))
    }
}

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
                    openingHours: Bool.random(using: &rng)
                        ? .alwaysOpen
                        : .daily(openMinute: open, closeMinute: Int.random(in: (open + 1)...1_440, using: &rng))))
        case 1:
            return .seatDefined(
                Seat(
                    id: Int32.random(in: .min ... .max, using: &rng), branch: text(&rng), area: text(&rng),
                    hasPower: .random(using: &rng), hasMonitor: .random(using: &rng),
                    inMaintenance: .random(using: &rng)))
        case 2:
            return .userCreated(
                User(
                    id: Int32.random(in: 1 ... .max, using: &rng), studentID: text(&rng), name: text(&rng),
                    role: .random(using: &rng) ? .admin : .student, passwordHash: text(&rng), createdAt: t))
        case 3, 4:
            let r = Reservation(
                id: Int64.random(in: 1 ... .max, using: &rng), seatID: Int32.random(in: .min ... .max, using: &rng),
                userID: Int32.random(in: .min ... .max, using: &rng),
                start: t, end: t + Int64.random(in: 0...Int64(UInt32.max), using: &rng),
                status: ReservationStatus.allCases.randomElement(using: &rng)!,
                createdAt: t + Int64(Int32.random(in: .min ... .max, using: &rng)),
                checkedInAt: Bool.random(using: &rng)
                    ? t + Int64(Int32.random(in: (.min + 1) ... .max, using: &rng)) : nil)
            return Bool.random(using: &rng) ? .reservationCreated(r) : .reservationChanged(r)
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
