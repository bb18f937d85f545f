import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

/// `dlsms snapshot …` on a real data directory.
@Suite(.serialized) struct SnapshotToolTests {
    @Test func listInspectVerifyExportRestoreCompact() async throws {
        let dir = temporaryDirectory()
        let restored = temporaryDirectory() + "/restored"
        defer {
            cleanup(dir)
            cleanup(restored)
        }
        // Two runs that end normally: the seed's snapshot and two final ones, WAL kept next to them.
        #expect(
            try await runDLSMS(["stress", "--data-dir", dir, "--duration", "1", "--writers", "4", "--seed", "1"]).status
                == 0)
        #expect(
            try await runDLSMS(["stress", "--data-dir", dir, "--duration", "1", "--writers", "4", "--seed", "2"]).status
                == 0)
        let snapshots = try DataDirectory(path: dir).snapshots()
        #expect(snapshots.count == 3 && snapshots.last?.coveredLSN == 0)

        let list = try await runDLSMS(["snapshot", "list", "--data-dir", dir])
        #expect(list.status == 0 && list.output.contains(snapshots[0].name) && list.output.contains("wal-"))

        let inspect = try await runDLSMS(["snapshot", "inspect", dir + "/" + snapshots[0].name])
        #expect(
            inspect.status == 0 && inspect.output.contains("covers:        LSN ≤ \(snapshots[0].coveredLSN)")
                && inspect.output.contains("Stress: 50 seats"))

        let verify = try await runDLSMS(["snapshot", "verify", "--data-dir", dir])
        #expect(verify.status == 0 && verify.output.contains("verified"))

        let export = try await runDLSMS(["snapshot", "export", "--data-dir", dir])
        let json = try JSONSerialization.jsonObject(with: Data(export.output.utf8)) as? [String: Any]
        let state = try DataDirectory(path: dir).recover(repairTornTail: false)
        #expect(
            (json?["reservations"] as? [Any])?.count
                == (try SnapshotFile.decode(PosixIO().read(dir + "/" + snapshots[0].name))).header.counts.reservations)
        #expect((json?["last_lsn"] as? Int) == Int(state.lastLSN))

        // Point-in-time restore to a sequence number between the two snapshots.
        let target = snapshots[1].coveredLSN + (snapshots[0].coveredLSN - snapshots[1].coveredLSN) / 2
        let restore = try await runDLSMS([
            "snapshot", "restore", "--data-dir", dir, "--to", restored, "--until-seq", "\(target)",
        ])
        #expect(restore.status == 0, "\(restore.error)")
        let expected = try DataDirectory(path: dir).recover(until: .lsn(target), repairTornTail: false)
        let model = SeatEngine(configuration: .init(shardCount: 1))
        await model.apply(batch: expected.snapshotRecords)
        await model.apply(batch: expected.records.lazy.map(\.record))
        let (reopened, _) = try await DurableEngine.open(PersistenceConfiguration(directory: restored))
        #expect(await reopened.engine.allReservations(limit: .max).items == model.allReservations(limit: .max).items)
        #expect(reopened.wal.head.lsn == target)
        await reopened.close(finalSnapshot: false)
        #expect(try await runDLSMS(["snapshot", "verify", "--data-dir", restored]).status == 0)

        // By time: everything appended at or before the time of record `target`.
        let time = expected.records.last!.time
        let byTime = temporaryDirectory() + "/by-time"
        defer { cleanup(byTime) }
        #expect(
            try await runDLSMS(["snapshot", "restore", "--data-dir", dir, "--to", byTime, "--until", "\(time)"]).status
                == 0)
        let timeState = try DataDirectory(path: byTime).recover()
        let frames = try DataDirectory(path: dir).segments().flatMap {
            SegmentScan.scan(try PosixIO().read(dir + "/" + $0.name)).frames
        }
        let lastAtTime = frames.filter { $0.time <= time }.map(\.lsn).max()
        #expect(timeState.lastLSN == lastAtTime)
        // The target is not empty now: refused.
        #expect(
            try await runDLSMS(["snapshot", "restore", "--data-dir", dir, "--to", byTime, "--until-seq", "1"]).status
                != 0)

        let compact = try await runDLSMS(["snapshot", "compact", "--data-dir", dir])
        #expect(compact.status == 0, "\(compact.error)")
        #expect(try DataDirectory(path: dir).snapshots().count == 1)
    }

    @Test func verifyAndRepairACorruptLog() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let written = try await WALTests.writeLog(dir, 40)
        let name = segmentName(firstLSN: 1)
        var bytes = try PosixIO().read(dir + "/" + name)
        let offset = written[..<25].reduce(0) { $0 + WALFrame.headerSize + RecordCodec.encode($1).count }
        bytes[offset + 35] ^= 0x10
        try PosixIO().writeAtomically(dir + "/" + name, bytes)

        let verify = try await runDLSMS(["snapshot", "verify", "--data-dir", dir])
        #expect(
            verify.status != 0 && verify.output.contains("CORRUPT")
                && verify.output.contains("\(name) at offset \(offset)"))
        let dry = try await runDLSMS(["snapshot", "repair", "--data-dir", dir])
        #expect(
            dry.status != 0 && dry.output.contains("cut \(name) at offset \(offset)") && dry.error.contains("--yes"))
        #expect(try PosixIO().read(dir + "/" + name) == bytes)  // a dry run changes nothing
        #expect(try await runDLSMS(["snapshot", "repair", "--data-dir", dir, "--yes"]).status == 0)
        #expect(try await runDLSMS(["snapshot", "verify", "--data-dir", dir]).status == 0)
        #expect(try DataDirectory(path: dir).recover().records.map(\.record) == Array(written[..<25]))
    }
}
