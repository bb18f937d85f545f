import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

/// The real thing: `dlsms stress` writes with `--fsync always` and is killed with SIGKILL at random
/// moments (after a random number of acknowledgements), 20 times over the same data directory.
/// Afterwards every acknowledged booking and cancel must be there, and nothing that was never
/// attempted or was refused.
@Suite(.serialized) struct CrashTests {
    struct Attempt {
        var user: UserID
        var seat: SeatID
        var start: Timestamp
        var end: Timestamp
    }

    final class Transcript: @unchecked Sendable {
        var attempts: [String: Attempt] = [:]
        var acknowledged: [String: ReservationID] = [:]
        var refused: Set<String> = []
        var cancelAttempts: [String: ReservationID] = [:]
        var cancelled: Set<ReservationID> = []

        func read(_ line: Substring, cycle: Int) {
            let f = line.split(separator: " ")
            guard f.count >= 2 else { return }
            let tag = "\(cycle)/\(f[1])"
            switch f[0] {
            case "try" where f.count == 6:
                attempts[tag] = Attempt(
                    user: UserID(f[2])!, seat: SeatID(f[3])!, start: Timestamp(f[4])!, end: Timestamp(f[5])!)
            case "ok" where f.count == 3: acknowledged[tag] = ReservationID(f[2])!
            case "no": refused.insert(tag)
            case "cancel" where f.count == 3: cancelAttempts[tag] = ReservationID(f[2])!
            case "cancelled": if let id = cancelAttempts[tag] { cancelled.insert(id) }
            default: break
            }
        }
    }

    /// Runs `dlsms stress` until it has acknowledged `acks` bookings, then kills it with SIGKILL.
    /// A watchdog kills it after two minutes whatever happens (the expectations then fail).
    static func runAndKill(dir: String, seed: UInt64, acks: Int, cycle: Int, into transcript: Transcript) async throws
        -> Int
    {
        let child = try ChildProcess(
            try dlsmsExecutable(),
            [
                "stress", "--data-dir", dir, "--fsync", "always", "--writers", "16", "--duration", "120", "--seed",
                "\(seed)",
            ])
        let watchdog = Task {
            try await Task.sleep(for: .seconds(120))
            child.signal(SIGKILL)
        }
        defer { watchdog.cancel() }
        var seen = 0
        var killed = false
        for await line in child.lines {
            transcript.read(Substring(line), cycle: cycle)
            if line.hasPrefix("ok ") { seen += 1 }
            if !killed && seen >= acks {
                child.signal(SIGKILL)
                killed = true
            }
        }
        await child.waitForExit(timeout: 30)
        #expect(killed, "cycle \(cycle): only \(seen) acknowledgements before the writer stopped")
        #expect(child.process.terminationReason == .uncaughtSignal, "cycle \(cycle): the writer was not killed")
        return seen
    }

    @Test func killDashNineNeverLosesAnAcknowledgedWrite() async throws {
        let seed = testSeed("CrashTests")
        var rng = SplitMix64(seed: seed)
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let transcript = Transcript()
        var total = 0
        for cycle in 0..<20 {
            total += try await Self.runAndKill(
                dir: dir, seed: rng.next(), acks: Int.random(in: 20...1_500, using: &rng), cycle: cycle,
                into: transcript)
        }
        #expect(total > 1_000)
        // Recover the directory as the server would.
        let state = try DataDirectory(path: dir).recover(repairTornTail: false)
        let engine = SeatEngine(configuration: .init(shardCount: 2))
        await engine.apply(batch: state.snapshotRecords)
        await engine.apply(batch: state.records.lazy.map(\.record))
        #expect(await engine.checkInvariants())
        let stored = Dictionary(
            uniqueKeysWithValues: await engine.allReservations(limit: .max).items.map { ($0.id, $0) })
        var lost = 0
        for (tag, id) in transcript.acknowledged {
            let a = transcript.attempts[tag]!
            guard let r = stored[id], r.userID == a.user, r.seatID == a.seat, r.start == a.start, r.end == a.end else {
                lost += 1
                continue
            }
            if transcript.cancelled.contains(id) {
                #expect(r.status == .cancelled, "acknowledged cancel of \(id) lost")
            }
        }
        #expect(lost == 0, "\(lost) acknowledged bookings lost (seed \(seed))")
        // Every stored reservation was attempted, and not only by refused attempts.
        let attemptsByTuple = Dictionary(grouping: transcript.attempts) {
            "\($0.value.user) \($0.value.seat) \($0.value.start) \($0.value.end)"
        }
        var phantoms = 0
        for r in stored.values {
            let tags = attemptsByTuple["\(r.userID) \(r.seatID) \(r.start) \(r.end)"]?.map(\.key) ?? []
            if tags.isEmpty || tags.allSatisfy({ transcript.refused.contains($0) }) { phantoms += 1 }
        }
        #expect(phantoms == 0, "\(phantoms) stored reservations were never attempted or were refused (seed \(seed))")
        print(
            "CrashTests: 20 kill -9 cycles, \(transcript.acknowledged.count) acknowledged bookings, \(transcript.cancelled.count) acknowledged cancels, \(stored.count) stored: lost 0, phantom 0"
        )
    }
}
