import DLSMSCore
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

/// The pieces of replication that need no processes: frame checks, the lease fence, the sync
/// standby's confirmations.
@Suite struct ReplicationUnitTests {
    static func record(_ i: Int) -> JournalRecord {
        .reservationCreated(
            Reservation(
                id: ReservationID(i), seatID: 1, userID: 1, start: 1_760_184_000 + Int64(i) * 3_600,
                end: 1_760_184_000 + Int64(i) * 3_600 + 900, createdAt: 1_760_184_000))
    }

    /// Frames `first…last`, chained from `previous`.
    static func frames(_ first: Int, _ last: Int, previous: UInt32) -> (bytes: [UInt8], last: UInt32) {
        var out: [UInt8] = []
        var chain = previous
        for i in first...last {
            chain = WALFrame.append(record(i), lsn: UInt64(i), time: 1, previousChecksum: chain, to: &out)
        }
        return (out, chain)
    }

    @Test func framesThatContinueTheLogAreAcceptedAndAnythingElseIsRefused() throws {
        let head = Self.frames(1, 10, previous: 0)
        let next = Self.frames(11, 20, previous: head.last)
        let ok = try VerifiedFrames(next.bytes, expectLSN: 11, previous: head.last)
        #expect(ok.records == (11...20).map(Self.record))
        #expect(ok.lastLSN == 20 && ok.lastChecksum == next.last && ok.ends.last == next.bytes.count)

        func refusal(_ bytes: [UInt8], expect: UInt64 = 11, previous: UInt32? = nil) -> String? {
            do {
                _ = try VerifiedFrames(bytes, expectLSN: expect, previous: previous ?? head.last)
                return nil
            } catch {
                return error.description
            }
        }
        // A gap: the standby expects LSN 11.
        #expect(refusal(Self.frames(12, 20, previous: head.last).bytes)?.contains("expected LSN 11") == true)
        // A history that is not the standby's: the chain breaks.
        #expect(refusal(next.bytes, previous: head.last &+ 1)?.contains("hash chain") == true)
        // Every single flipped byte is caught (CRC, header or chain).
        for offset in stride(from: 0, to: next.bytes.count, by: 7) {
            var damaged = next.bytes
            damaged[offset] ^= 0x20
            #expect(refusal(damaged) != nil, "a flipped byte at \(offset) was accepted")
        }
        // Cut short, or empty.
        #expect(refusal(Array(next.bytes.dropLast(3)))?.contains("cut short") == true)
        #expect(refusal([]) != nil)
    }

    @Test func theFenceHoldsUntilItsTimeWaitsWhileInDoubtAndRefusesOnceLost() async throws {
        let now = BootClock.now()
        let fence = LeaseFence(validUntil: now + 60, margin: 1)
        #expect(fence.holds)
        try await fence.check()

        // In doubt: the last renewal is too old. A check waits until a renewal arrives.
        let doubtful = LeaseFence(validUntil: now - 1, margin: 1)
        #expect(!doubtful.holds)
        let waiting = Task { try await doubtful.check() }
        doubtful.renewed(sentAt: BootClock.now(), ttl: 3_600)  // granted an hour from now, less the margin
        try await waiting.value
        #expect(doubtful.holds)

        // Lost: every check from now on, and one waiting, is refused.
        let lost = LeaseFence(validUntil: now - 1, margin: 1)
        let pending = Task { () -> EngineError? in
            do throws(EngineError) {
                try await lost.check()
                return nil
            } catch {
                return error
            }
        }
        lost.lose("the lease expired")
        let error = await pending.value
        guard case .notAcknowledged? = error else {
            Issue.record("a waiting check was not refused: \(String(describing: error))")
            return
        }
        lost.renewed(sentAt: BootClock.now(), ttl: 60)  // too late: a lost lease stays lost
        #expect(!lost.holds)
        await #expect(throws: EngineError.self) { try await lost.check() }
    }

    func run(_ name: String, _ n: Int = 1) -> StandbyTracker.Run { .init(name: name, instance: "\(name)\(n)") }

    @Test func onlyTheDesignatedStandbysConfirmationsAcknowledge() async throws {
        let tracker = StandbyTracker()
        tracker.connected("a", instance: "a1")
        tracker.connected("b", instance: "b1")
        let write = Task { () -> EngineError? in
            do throws(EngineError) {
                try await tracker.wait(for: 5)
                return nil
            } catch {
                return error
            }
        }
        while tracker.waiting == 0 { await Task.yield() }
        tracker.confirmed("b", instance: "b1", lsn: 9)  // b is not designated: it does not count
        #expect(tracker.waiting == 1)
        tracker.designate(run("a"))
        #expect(tracker.waiting == 1)  // a has confirmed nothing yet
        tracker.confirmed("a", instance: "a1", lsn: 4)
        #expect(tracker.waiting == 1)
        tracker.confirmed("a", instance: "a1", lsn: 5)
        #expect(await write.value == nil)
        // The next sync standby must hold everything confirmed so far: a lagging one is not named.
        tracker.connected("c", instance: "c1")
        tracker.confirmed("c", instance: "c1", lsn: 4)
        #expect(tracker.candidate() == run("b"))
        tracker.disconnected("b", instance: "b1")
        #expect(tracker.candidate() == run("a"))  // c, at 4, is behind what a confirmed
        tracker.designate(run("c"))
        #expect(tracker.designated == run("a"))
        tracker.confirmed("c", instance: "c1", lsn: 5)
        tracker.connected("b", instance: "b1")
        tracker.confirmed("b", instance: "b1", lsn: 9)

        // The designated standby goes away: writes wait, and `refuse` ends the wait.
        tracker.disconnected("a", instance: "a1")
        #expect(tracker.designated == nil)
        #expect(tracker.candidate() == run("b"))  // the most advanced of b (9) and c (5)
        let orphan = Task { () -> EngineError? in
            do throws(EngineError) {
                try await tracker.wait(for: 6)
                return nil
            } catch {
                return error
            }
        }
        while tracker.waiting == 0 { await Task.yield() }
        tracker.expire(olderThan: 0)
        guard case .notAcknowledged? = await orphan.value else {
            Issue.record("a write without a standby was not refused")
            return
        }
        // A second run under "b" (a restart, or a second process given its name by mistake): the
        // runs are told apart. The second neither takes the first's place nor, when its stream
        // ends, takes the first's designation with it.
        tracker.designate(run("b"))
        #expect(tracker.designated == run("b"))
        #expect(tracker.connected("b", instance: "b2"))  // reported: another run streams under "b"
        #expect(tracker.designated == run("b"))
        tracker.disconnected("b", instance: "b2")
        #expect(tracker.designated == run("b"))
        // The first run goes: the second is the next candidate once it has caught up.
        tracker.connected("b", instance: "b2")
        tracker.disconnected("b", instance: "b1")
        #expect(tracker.designated == nil)
        #expect(tracker.candidate() == nil)  // b2 has confirmed nothing yet; c is behind what b1 confirmed
        tracker.confirmed("b", instance: "b2", lsn: 9)
        #expect(tracker.candidate() == run("b", 2))
        // A new primary's floor: what its log held when it took over.
        tracker.raiseFloor(to: 20)
        #expect(tracker.candidate() == nil)
        tracker.confirmed("b", instance: "b2", lsn: 20)
        #expect(tracker.candidate() == run("b", 2))
        tracker.close("deposed")
        await #expect(throws: EngineError.self) { try await tracker.wait(for: 1) }
    }
}

/// Clusters without etcd (static roles) run as processes: a standby's copy, its reads and
/// refusals, restart and resume, a diverged log, `sync` acknowledgements and `dlsms promote`.
/// (With etcd, failover under load is `Tests/ha/failover.py`, run by CI.)
@Suite(.serialized) struct ReplicationEndToEndTests {
    static let secret = "replication-test-secret-0123"

    final class Node: Sendable {
        let server: ServerProcess
        let log: String
        init(_ server: ServerProcess, log: String) {
            self.server = server
            self.log = log
        }
        var logText: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }
    }

    func node(_ dir: String, primary: String? = nil, mode: String = "async", extra: [String] = []) async throws -> Node
    {
        let log = dir + ".log"
        if !FileManager.default.fileExists(atPath: log) {
            _ = FileManager.default.createFile(atPath: log, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        try handle.seekToEnd()
        let server = try ServerProcess(
            dataDirectory: dir,
            extra: [
                "--grpc", "false", "--replication", mode, "--replication-secret", Self.secret, "--load-test-seats",
                "50",
                "--log-level", "info", "--sync-timeout-ms", "500", "--max-upcoming", "1000",
            ] + (primary.map { ["--primary", $0] } ?? []) + extra, standardError: handle)
        try await server.waitUntilListening()
        return Node(server, log: log)
    }

    /// A request with its headers.
    func call(_ base: String, _ method: String, _ path: String, token: String? = nil, json: String? = nil)
        async throws -> (status: Int, headers: [String: String], body: [String: Any])
    {
        var fields: [String: String] = [:]
        if let token { fields["Authorization"] = "Bearer \(token)" }
        if json != nil { fields["Content-Type"] = "application/json" }
        let answer = try await fetch(base + path, method: method, headers: fields, body: json.map { Data($0.utf8) })
        return (answer.status, answer.headers, answer.json)
    }

    /// Asks until `condition` holds, for at most `seconds` (replication is asynchronous).
    func eventually(_ seconds: Double = 30, _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    var tomorrow: Timestamp { (Int64(Date().timeIntervalSince1970) / 3_600 + 24) * 3_600 }

    func book(_ base: String, token: String, seat: Int, hour: Int64 = 0) async throws -> (Int, Int64?) {
        let start = tomorrow + hour * 3_600
        let r = try await call(base, "POST", "/reservations", token: token, json: booking(seat, start, start + 3_600))
        return (r.status, r.body["id"] as? Int64 ?? (r.body["id"] as? Int).map(Int64.init))
    }

    func present(_ base: String, _ id: Int64, token: String) async throws -> Bool {
        try await call(base, "GET", "/reservations/\(id)", token: token).status == 200
    }

    @Test func aStandbyCopiesTheSnapshotFollowsServesReadsAndRefusesWrites() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let primary = try await node(dir + "/p")
        let p = primary.server.base
        let token = try await primary.server.login("S2021001")
        let (status, first) = try await book(p, token: token, seat: 1_001)
        #expect(status == 201)

        let standby = try await node(dir + "/s", primary: p)
        let s = standby.server.base
        #expect(standby.logText.contains("copied the primary's snapshot"))
        // Signing in works on a standby (it stores nothing).
        _ = try await standby.server.login("S2021002")
        // The primary's token works on the standby (it copied the token secret too).
        #expect(try await eventually { try await present(s, first!, token: token) })
        let read = try await call(s, "GET", "/reservations/\(first!)", token: token)
        #expect(read.headers["x-dlsms-replication-lag"] != nil)
        #expect(read.headers["x-dlsms-replication-lag-records"] != nil)
        #expect(read.headers["x-dlsms-primary"] == p)
        let write = try await call(
            s, "POST", "/reservations", token: token, json: booking(1_002, tomorrow, tomorrow + 3_600))
        #expect(write.status == 503 && write.body["code"] as? String == "not_primary")
        #expect(write.headers["x-dlsms-primary"] == p)
        #expect(try await call(s, "GET", "/healthz/primary").status == 503)
        #expect(try await eventually { try await call(s, "GET", "/healthz/standby").status == 200 })
        #expect(try await call(p, "GET", "/healthz/primary").status == 200)
        #expect(try await call(p, "GET", "/healthz/standby").status == 503)
        // The replication routes need the secret.
        #expect(try await call(p, "GET", "/replication/snapshot").status == 401)
        #expect(try await call(p, "GET", "/replication/wal?after=0&checksum=0&node=x").status == 401)
        // A confirmation beyond what the primary wrote is refused: believed, it would release
        // writes no standby holds, and the largest LSNs would crash the status page.
        let bogus = try await call(
            p, "POST", "/replication/ack", token: Self.secret,
            json: #"{"node":"x","instance":"y","lsn":18446744073709551615}"#)
        #expect(bogus.status == 400)
        let replicationStatus = try await call(p, "GET", "/replication/status", token: Self.secret)
        #expect(
            replicationStatus.status == 200 && (replicationStatus.body["standbys"] as? [Any])?.count == 1,
            "\(replicationStatus.body)")

        // kill -9 the standby; the primary goes on; the standby resumes from its own log.
        standby.server.child.signal(SIGKILL)
        _ = await standby.server.child.waitForExit(timeout: 10)
        let (_, second) = try await book(p, token: token, seat: 1_003)
        let again = try await node(dir + "/s", primary: p)
        #expect(try await eventually { try await present(again.server.base, second!, token: token) })
        #expect(try await present(again.server.base, first!, token: token))
        let lines = again.logText.split(separator: "\n")
        #expect(lines.filter { $0.contains("copied the primary's snapshot") }.count == 1, "copied a second time")
        let resumed = lines.last { $0.contains("following the primary") } ?? ""
        #expect(!resumed.contains("from_lsn=1 "), "\(resumed)")

        // A clean stop writes the standby's final snapshot (covering what it applied); it starts
        // again from it and follows on, with nothing set aside.
        #expect(await again.server.stopped() == 0)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/s")
        #expect(names.filter { $0.hasPrefix("snapshot-") }.count >= 2, "\(names)")
        let (_, third) = try await book(p, token: token, seat: 1_004)
        let thirdStart = try await node(dir + "/s", primary: p)
        #expect(try await eventually { try await present(thirdStart.server.base, third!, token: token) })
        #expect(try await present(thirdStart.server.base, second!, token: token))
        #expect(!thirdStart.logText.contains("cannot continue"), "\(thirdStart.logText)")
        _ = await thirdStart.server.stopped()
        _ = await primary.server.stopped()
    }

    /// The entrance display only reads: a standby serves the page and the primary's counts (a
    /// booking made on the primary shows), and a display turned off on the primary is off there too.
    @Test func theEntranceDisplayLoadsOnAStandbyWithThePrimarysCounts() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let primary = try await node(dir + "/p")
        let p = primary.server.base
        let standby = try await node(dir + "/s", primary: p)
        let s = standby.server.base
        let branch = "/public/display/Main%20Library"
        func freeNow(_ base: String) async throws -> Int? {
            try await call(base, "GET", branch).body["free_next_hour"] as? Int
        }
        func seatFive(_ base: String) async throws -> Bool? {
            let seats = try await call(base, "GET", branch).body["seats"] as? [[String: Any]]
            return seats?.first { $0["id"] as? Int == 5 }?["free_next_hour"] as? Bool
        }
        // The counts follow the clock (the seeded bookings come into the next hour), on both
        // alike: the standby's are asked until they are the primary's.
        func sameCounts() async throws -> Bool {
            let (a, b) = (try await freeNow(p), try await freeNow(s))
            return a != nil && a == b
        }
        #expect(try await eventually { try await sameCounts() })
        let page = try await call(s, "GET", "/display/Main%20Library")
        #expect(page.status == 200)
        // A booking within the hour on the primary: that seat is no longer free for the next hour,
        // on both.
        #expect(try await seatFive(p) == true)
        let token = try await primary.server.login("S2021001")
        let now = Int64(Date().timeIntervalSince1970)
        let booked = try await call(
            p, "POST", "/reservations", token: token, json: booking(5, now + 60, now + 3_600))
        #expect(booked.status == 201, "\(booked.body)")
        #expect(try await eventually { try await seatFive(p) == false })
        #expect(try await eventually { try await seatFive(s) == false })
        #expect(try await eventually { try await sameCounts() })
        // Off on the primary, off on the standby.
        let admin = try await primary.server.login("admin", "admin-password")
        let off = try await call(
            p, "PUT", "/admin/branches/Main%20Library/display", token: admin, json: #"{"enabled": false}"#)
        #expect(off.status == 200)
        #expect(try await eventually { try await call(s, "GET", branch).status == 404 })
        _ = await standby.server.stopped()
        _ = await primary.server.stopped()
    }

    /// Sign-out is a replicated record: a token signed out on the primary, before or after the
    /// standby copied the snapshot, is refused on the standby; another token of the account is not.
    @Test func aTokenSignedOutOnThePrimaryIsRefusedOnTheStandby() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let primary = try await node(dir + "/p")
        let p = primary.server.base
        let early = try await primary.server.login("S2021001")
        let late = try await primary.server.login("S2021001")
        let kept = try await primary.server.login("S2021001")
        #expect(try await call(p, "POST", "/auth/logout", token: early).status == 200)
        #expect(try await call(p, "GET", "/auth/me", token: early).status == 401)
        let standby = try await node(dir + "/s", primary: p)
        let s = standby.server.base
        #expect(try await eventually { try await call(s, "GET", "/auth/me", token: kept).status == 200 })
        #expect(try await call(s, "GET", "/auth/me", token: early).status == 401)
        #expect(try await call(s, "GET", "/auth/me", token: late).status == 200)
        #expect(try await call(p, "POST", "/auth/logout", token: late).status == 200)
        #expect(try await eventually { try await call(s, "GET", "/auth/me", token: late).status == 401 })
        #expect(try await call(s, "GET", "/auth/me", token: kept).status == 200)
        // A standby does not sign out (a write): it says where the primary is.
        let refused = try await call(s, "POST", "/auth/logout", token: kept)
        #expect(refused.status == 503 && refused.body["code"] as? String == "not_primary")
        _ = await standby.server.stopped()
        _ = await primary.server.stopped()
    }

    /// Rules per group reach a standby as records: a group's policy, a student's staff-given
    /// groups, a late cancel's strike and the suspension it causes, and the suspension's lift.
    @Test func policiesStrikesAndSuspensionsReachAStandby() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let primary = try await node(dir + "/p")
        let p = primary.server.base
        let standby = try await node(dir + "/s", primary: p)
        let s = standby.server.base
        let admin = try await primary.server.login("admin", "admin-password")
        let student = try await primary.server.login("S2021003")
        // A cancel less than a day before the start is a strike, and one strike suspends.
        let policy = try await call(
            p, "PUT", "/admin/groups/default/policy", token: admin,
            json: #"{"late_cancel_minutes": 1440, "strike_threshold": 1, "suspension_days": 2}"#)
        #expect(policy.status == 200, "\(policy.body)")
        let (status, id) = try await book(p, token: student, seat: 1_010)
        #expect(status == 201)
        #expect(try await call(p, "DELETE", "/reservations/\(id!)", token: student).status == 200)
        let strikes = try await call(p, "GET", "/me/strikes", token: student).body
        let strike = try #require((strikes["strikes"] as? [[String: Any]])?.first, "\(strikes)")
        let user = try #require(strike["user_id"] as? Int)
        #expect(strike["reason"] as? String == "late_cancel" && strikes["suspension"] is [String: Any], "\(strikes)")
        let groups = try await call(
            p, "PUT", "/admin/users/\(user)/groups", token: admin, json: #"{"groups": ["night-owls"]}"#)
        #expect(groups.status == 200, "\(groups.body)")

        // On the standby: the strike, the suspension, the group and the policy's rule.
        #expect(
            try await eventually {
                let mine = try await call(s, "GET", "/me/strikes", token: student).body
                return (mine["strikes"] as? [Any])?.count == 1 && mine["suspension"] is [String: Any]
            })
        #expect(
            try await eventually {
                let g = try await call(s, "GET", "/admin/users/\(user)/groups", token: admin).body
                return (g["assigned"] as? [String]) == ["night-owls"]
            })
        let rules = try await call(s, "GET", "/rules", token: student).body
        #expect(rules["late_cancel_minutes"] as? Int == 1440 && rules["strike_threshold"] as? Int == 1, "\(rules)")
        #expect((rules["groups"] as? [String])?.contains("night-owls") == true, "\(rules)")
        // A suspended student's booking is refused by the primary; the standby sends writes there.
        let refused = try await book(p, token: student, seat: 1_011, hour: 2)
        #expect(refused.0 == 409)
        let lift = try await call(
            p, "POST", "/admin/users/\(user)/suspension/lift", token: admin, json: #"{"reason": "a mistake"}"#)
        #expect(lift.status == 200, "\(lift.body)")
        #expect(
            try await eventually {
                try await call(s, "GET", "/me/strikes", token: student).body["suspension"] is NSNull
            })
        // The audit trail of those staff actions reaches the standby, entry for entry.
        func trail(_ base: String) async throws -> [[String: Any]] {
            try await call(base, "GET", "/admin/audit?limit=200", token: admin).body["entries"] as? [[String: Any]]
                ?? []
        }
        let kinds = try await trail(p).compactMap { $0["kind"] as? String }
        #expect(kinds.starts(with: ["suspension.lifted", "group.members_set", "group.policy_set"]), "\(kinds)")
        #expect(
            try await eventually {
                try await trail(s).compactMap { $0["hash"] as? String } == trail(p).compactMap { $0["hash"] as? String }
            })
        // An erasure on the primary is effective on the standby at once: the account names no one.
        let leaving = try await primary.server.login("S2021004")
        #expect(try await call(p, "DELETE", "/me", token: leaving, json: #"{"confirm": true}"#).status == 200)
        #expect(
            try await eventually {
                let u = try await call(s, "GET", "/admin/users?student_id=S2021004", token: admin).body
                return (u["users"] as? [Any])?.isEmpty == true
            })
        #expect(try await call(s, "GET", "/auth/me", token: leaving).status == 401)
        _ = await standby.server.stopped()
        _ = await primary.server.stopped()
    }

    @Test func aStandbyWhoseLogDivergedSetsItAsideAndStartsAgainFromThePrimary() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let primary = try await node(dir + "/p")
        let token = try await primary.server.login("S2021001")
        let (_, id) = try await book(primary.server.base, token: token, seat: 1_001)
        // Another primary with a history of its own.
        let other = try await node(dir + "/o")
        let otherToken = try await other.server.login("S2021002")
        #expect(try await book(other.server.base, token: otherToken, seat: 1_010).0 == 201)
        #expect(await other.server.stopped() == 0)

        // Started as the first one's standby, it sets its log aside and exits for a restart.
        let log = dir + "/o-as-standby.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let diverged = try ServerProcess(
            dataDirectory: dir + "/o",
            extra: [
                "--grpc", "false", "--replication", "async", "--replication-secret", Self.secret, "--primary",
                primary.server.base,
            ], standardError: try FileHandle(forWritingTo: URL(fileURLWithPath: log)))
        #expect(await diverged.child.waitForExit(timeout: 60) == rejoinExitStatus)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/o")
        #expect(Set(names).isSubset(of: ["LOCK", "jwt-secret", "diverged"]), "\(names)")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: dir + "/o/diverged").contains { $0.hasPrefix("wal-") })

        // Started again, it copies the primary's snapshot and follows.
        let rejoined = try await node(dir + "/o", primary: primary.server.base)
        #expect(try await eventually { try await present(rejoined.server.base, id!, token: token) })
        _ = await rejoined.server.stopped()
        _ = await primary.server.stopped()
    }

    @Test func syncAcknowledgesOnlyWhatAStandbyHasAndRefusesWithoutOne() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let primary = try await node(dir + "/p", mode: "sync", extra: ["--sync-fallback", "refuse"])
        let p = primary.server.base
        let token = try await primary.server.login("S2021001")
        // No standby: refused at once, with the contract's 503.
        let refused = try await call(
            p, "POST", "/reservations", token: token, json: booking(1_001, tomorrow, tomorrow + 3_600))
        #expect(refused.status == 503 && refused.body["code"] as? String == "unavailable")

        let standby = try await node(dir + "/s", primary: p, mode: "sync")
        let s = standby.server.base
        var id: Int64?
        #expect(
            try await eventually {
                let (status, booked) = try await book(p, token: token, seat: 1_002)
                id = booked
                return status == 201
            })
        // Acknowledged means the standby has it already: no waiting.
        #expect(try await present(s, id!, token: token))
        for hour in 1...5 {
            let (status, next) = try await book(p, token: token, seat: 1_003, hour: Int64(hour))
            #expect(status == 201)
            #expect(try await present(s, try #require(next), token: token))
        }

        // The standby dies: new writes are refused again (never silently acknowledged alone).
        standby.server.child.signal(SIGKILL)
        _ = await standby.server.child.waitForExit(timeout: 10)
        #expect(try await eventually { try await book(p, token: token, seat: 1_004).0 == 503 })
        _ = await primary.server.stopped()
    }

    /// The webhook backlog lives in spools, not in snapshots: a new standby copies them with the
    /// snapshot, follows the primary's events and drops (the same ones), and once promoted sends
    /// exactly what the primary had not delivered.
    @Test func aNewStandbyCopiesTheWebhookBacklogAndSendsItOncePromoted() async throws {
        let receiver = WebhookReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        // 13 bookings by one student in a second or two: no per-student bound on attempts here.
        let hooks = [
            "--webhook-hosts", "127.0.0.1", "--webhook-backoff-ms", "20", "--webhook-queue-events", "6",
            "--booking-attempts-per-second", "0",
        ]
        let primary = try await node(dir + "/p", extra: hooks)
        let p = primary.server.base
        let admin = try await primary.server.login("admin", "admin-password")
        let registered = try await call(
            p, "POST", "/admin/webhooks", token: admin,
            json: #"{"url": "\#(receiver.url)", "events": ["reservation.created"]}"#)
        #expect(registered.status == 201)
        let token = try await primary.server.login("S2021001")
        for seat in 1_001...1_002 { #expect(try await book(p, token: token, seat: seat).0 == 201) }
        #expect(try await receiver.wait { $0.count == 2 })
        receiver.down.withLock { $0 = true }
        for seat in 1_003...1_012 { #expect(try await book(p, token: token, seat: seat).0 == 201) }
        func queue(_ base: String) async throws -> [String: Any] {
            let body = try await call(base, "GET", "/admin/webhooks", token: admin).body
            return (body["webhooks"] as? [[String: Any]])?.first ?? [:]
        }
        #expect(try await eventually { try await queue(p)["delivered"] as? Int == 2 })
        var q = try await queue(p)
        #expect(q["pending"] as? Int == 6 && q["dropped"] as? Int == 4, "\(q)")

        // A new standby: the snapshot and the spools, then the log.
        let standby = try await node(dir + "/s", primary: p, extra: hooks)
        let s = standby.server.base
        #expect(standby.logText.contains("copied the primary's webhook spools"))
        #expect(try await book(p, token: token, seat: 1_013).0 == 201)
        #expect(
            try await eventually {
                let q = try await queue(s)
                return q["pending"] as? Int == 6 && q["dropped"] as? Int == 5 && q["delivered"] as? Int == 2
            })
        q = try await queue(p)
        #expect(q["pending"] as? Int == 6 && q["dropped"] as? Int == 5, "\(q)")

        // The primary goes; the promoted standby sends events 3…8, once each, and nothing else.
        primary.server.child.signal(SIGKILL)
        _ = await primary.server.child.waitForExit(timeout: 10)
        receiver.down.withLock { $0 = false }
        var promoted = false
        for _ in 0..<100 where !promoted {
            promoted = try await runDLSMS(["promote", s, "--secret", Self.secret, "--force"]).status == 0
            if !promoted { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(promoted)
        // At least once: an event whose delivery record had not reached the standby may come
        // again; every event comes, in order, each counted once.
        func distinct(_ ds: [WebhookReceiver.Delivery]) -> [Int] {
            var seen: [Int] = []
            for d in ds where !seen.contains(d.id) { seen.append(d.id) }
            return seen
        }
        #expect(try await receiver.wait { distinct($0).count >= 8 })
        #expect(distinct(receiver.accepted) == [1, 2, 3, 4, 5, 6, 7, 8])
        _ = await standby.server.stopped()
    }

    @Test func promoteIsRefusedWhileThePrimaryIsHeardAndTakesOverAfter() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let primary = try await node(dir + "/p")
        let token = try await primary.server.login("S2021001")
        let (_, id) = try await book(primary.server.base, token: token, seat: 1_001)
        let standby = try await node(dir + "/s", primary: primary.server.base)
        let s = standby.server.base
        #expect(try await eventually { try await present(s, id!, token: token) })
        let epoch = try await call(s, "GET", "/healthz/standby").body["epoch"] as? Int

        let early = try await runDLSMS(["promote", s, "--secret", Self.secret])
        #expect(early.status != 0 && early.error.contains("primary_alive"), "\(early)")
        let wrong = try await runDLSMS(["promote", s, "--secret", "not-the-secret-at-all"])
        #expect(wrong.status != 0 && wrong.error.contains("401"), "\(wrong)")

        primary.server.child.signal(SIGKILL)
        _ = await primary.server.child.waitForExit(timeout: 10)
        var promoted = false
        for _ in 0..<100 where !promoted {
            promoted =
                try await runDLSMS(["promote", s], environment: ["DLSMS_REPLICATION_SECRET": Self.secret]).status == 0
            if !promoted { try await Task.sleep(for: .milliseconds(200)) }
        }
        #expect(promoted)
        let status = try await call(s, "GET", "/healthz/primary")
        #expect(status.status == 200)
        #expect((status.body["epoch"] as? Int ?? 0) == (epoch ?? -1) + 1, "\(status.body)")
        #expect(try await present(s, id!, token: token))
        #expect(try await book(s, token: token, seat: 1_005).0 == 201)
        let twice = try await runDLSMS(["promote", s, "--secret", Self.secret])
        #expect(twice.status != 0 && twice.error.contains("not a standby"), "\(twice)")
        // The promotion is in the new primary's audit trail.
        let admin = try await standby.server.login("admin", "admin-password")
        let promotions = try await call(s, "GET", "/admin/audit?kind=standby.promoted", token: admin).body
        let entry = try #require((promotions["entries"] as? [[String: Any]])?.first, "\(promotions)")
        #expect((entry["after"] as? [String: Any])?["how"] as? String == "manual", "\(entry)")
        #expect((entry["after"] as? [String: Any])?["epoch"] as? Int == (epoch ?? -1) + 1, "\(entry)")
        _ = await standby.server.stopped()
    }
}
