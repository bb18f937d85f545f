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
        "0a120c010c4d61696e204c696272617279e0c3d38e0da03804dfa80118589f38cf41",
        "0b01541402",
        "01065765656b6c79010141104175737472616c69612f5379646e65790202e003d0058c06a80a02e003d0058c06a80a02e003d0058c06a80a02e003d0058c06a80a02e003d0058c06a80a01d804c00700",
        "070c0e0514536561742032206672656573206174206e6f6f6e070480fcd38e0da0b4d48e0de0f8d28e0d",
        "026604436974790551756965740905512d3030310677696e646f7701010600",
        "01044578616d010448616c6c035554438004020200c08bd38e0da038056472696c6c040448616c6ce0c3d38e0dc070046578616d",
        "080408533230323130303203426f62000a24326224313224646566809bd28e0d0202000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        "010551756965740003555443400103",
        "0c021b687474703a2f2f3132372e302e302e313a393039392f686f6f6b73147333637265742d7333637265742d73336372657402137265736572766174696f6e2e637265617465640f636c6f737572652e63726561746564010e809bd28e0d",
        "0d10137265736572766174696f6e2e63726561746564809bd28e0d087b226964223a387d",
        // kind 14 (epoch), epoch 4 (zigzag 8), node "n2", time 1_760_184_000
        "0e08026e32809bd28e0d",
        // kind 15 (a signed-out token): user 2, 16 digest bytes, expiry
        "0f04000102030405060708090a0b0c0d0e0f809bd28e0d",
        // an account of a campus identity: flags bit 2, then source (oidc), email, 2 groups
        "0806046477686f0a446f63746f722057686f010080e0bb8e0d040001106477686f40626164776f6c662e6f7267040d6c6962726172792d73746166660873747564656e7473",
        // kind 16: group "pg", flags 0, rules present (bits 0, 1, 10: upcoming 5, hours a day 6,
        // late cancel 0), one place, one feature
        "100270670083080a0c00011a4d61696e204c6962726172792f5265736561726368204172656101076d6f6e69746f72",
        // a removed policy (flags: exempt, removed), nothing else
        "1005737461666603000000",
        // kind 17: user 2's staff-given groups, sorted
        "110402056e69676874027067",
        // kind 18: strike 1 of user 2, a no-show of reservation 43 on seat 12; strike 2, a late
        // cancel (bit 7: removed, then when, by whom, why)
        "120204015618809bd28e0d88a9d28e0d",
        "120404825818809bd28e0db08bd28e0de0f8d28e0d0203696c6c",
        // kind 19: a suspension lifted
        "1304e0f8d28e0d020573706f6b65",
        // a branch with a release rule: hours byte bit 6, flags bit 1, days before 1, minute 420
        "01034c6177000d4575726f70652f4265726c696e40020001a403",
        // a reservation with extras: status byte c1 (checked in, bit 7 check-in time, bit 6 extras),
        // fields 1f, away +1800 s, twice, series 40, group 41, moved from 39
        "05541402a0d3d28e0dc0709f38c1af091f901c0250524e",
        // kind 20 (together): 2 parts, each length-prefixed: reservation 43 cancelled, 44 created
        // (status 40: confirmed with extras, fields 10: moved from 43)
        "14020e05561402a0d3d28e0da0389f38031004581602a0d3d28e0da038cf28401056",
        // kind 21: seq 1, time, actor 1, "admin", "127.0.0.1", "account.disabled", "user:2", "",
        // before, after, 32 zero bytes, 32 × ab
        "1501e0f8d28e0d020561646d696e093132372e302e302e31106163636f756e742e64697361626c656406757365723a3200127b2264697361626c6564223a66616c73657d117b2264697361626c6564223a747275657d0000000000000000000000000000000000000000000000000000000000000000abababababababababababababababababababababababababababababababab",
        // kind 22: one reservation, id 7, seat 3, user 0
        "16010e0600",
        // kind 23: user 2, time, done
        "1704e0f8d28e0d01",
        // an account's language and email preferences: flags bit 8, then "de", "a@b.de", kinds off
        // 2 (the reminder), reminder 15 minutes, confirmation serial 3
        "08040253310141000080e0bb8e0d0800026465066140622e6465041e06",
        // kind 24: mail 5 for user 2, kind 0 (confirmed), time, to, language, reservation 43,
        // seat 10, start, length 3600, no text; kind 25: mail 5 delivered (0), time
        "180a0400809bd28e0d066140622e64650264655614a0d3d28e0da03800",
        "190a00f89bd28e0d",
    ]
    static let spoolFrame =
        "01800000130000000100000000000000c046ea6800000000000000003c0819a908000000000000000300000000000000010203"
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

    /// Fields added for the outbox on disk (issue 28) follow the old bytes only when set: a record
    /// without them keeps the bytes of the first format version (the vectors above).
    @Test func theOutboxFieldsArePinned() throws {
        let floor = JournalRecord.idFloor(
            IDFloor(reservation: 43, waitlistEntry: 9, notification: 5, webhookEvent: 100))
        #expect(hex(RecordCodec.encode(floor)) == "0956120ac801")
        #expect(try RecordCodec.decode(unhex("0956120ac801")) == floor)
        #expect(
            try RecordCodec.decode(unhex("0956120a"))
                == .idFloor(IDFloor(reservation: 43, waitlistEntry: 9, notification: 5, webhookEvent: 0)))
        let endpoint = JournalRecord.webhookEndpoint(
            WebhookEndpoint(
                id: 1, url: "http://127.0.0.1:9099/hooks", secret: "s3cret-s3cret-s3cret",
                events: ["reservation.created", "closure.created"], deliveredThrough: 7, createdAt: 1_760_184_000,
                delivered: 5, givenUp: 2))
        let pinned = String(Self.laterRecords[10].dropLast(14)) + "030e809bd28e0d0a04"
        #expect(hex(RecordCodec.encode(endpoint)) == pinned)
        #expect(try RecordCodec.decode(unhex(pinned)) == endpoint)
        #expect(try RecordCodec.decode(unhex("0956120a8001")) != floor)  // a floor of 64, not 100
    }

    /// A spool record is a WAL frame of kind 0x80: the sequence number in the LSN field, then the
    /// key, the count dropped before it and the caller's bytes.
    @Test func spoolFrameIsPinned() throws {
        var bytes: [UInt8] = []
        var payload = ByteWriter()
        payload.u64(8)
        payload.u64(3)
        payload.bytes([1, 2, 3])
        let crc = WALFrame.append(
            kind: Spool.frameKind, payload: payload.bytes, lsn: 1, time: 1_760_184_000, previousChecksum: 0,
            to: &bytes)
        #expect(hex(bytes) == Self.spoolFrame)
        guard case .frame(let f) = bytes.withUnsafeBytes({ WALFrame.parse($0, at: 0) }) else {
            Issue.record("the spool frame does not parse")
            return
        }
        #expect(f.kind == 0x80 && f.lsn == 1 && f.checksum == crc && f.payload == payload.bytes)
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
