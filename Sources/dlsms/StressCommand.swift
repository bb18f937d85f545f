import ArgumentParser
import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation

extension FsyncPolicy: ExpressibleByArgument {
    public init?(argument: String) { self.init(text: argument) }
}

/// Writes one line to standard output with a single `write`, so a `kill -9` never leaves half of
/// an acknowledgement behind in a buffer.
func emit(_ line: String) {
    var bytes = Array((line + "\n").utf8)
    bytes.withUnsafeMutableBytes { raw in
        var done = 0
        while done < raw.count {
            let n = write(1, raw.baseAddress! + done, raw.count - done)
            if n <= 0 { return }
            done += n
        }
    }
}

/// Books and cancels at random, durably, and reports every attempt and acknowledgement. Used by
/// the crash test (`kill -9` at random moments, then recovery must hold every acknowledgement).
struct Stress: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Book and cancel at random against a data directory, printing every acknowledgement (crash tests).",
        discussion: """
            Lines on standard output: `try TAG USER SEAT START END` before a booking, `ok TAG ID` when it is \
            acknowledged, `no TAG CODE` when refused; `cancel TAG ID` before a cancel, `cancelled TAG` / `no TAG CODE` after.
            """)

    @OptionGroup var options: DataDirOption
    @Option(help: "always | interval[:MS] | none") var fsync: FsyncPolicy = .always
    @Option(help: "Concurrent writers.") var writers = 16
    @Option(help: "Seats of the stress branch (created in an empty data directory).") var seats = 50
    @Option(help: "Stop after this many seconds.") var duration = 30.0
    @Option(help: "Seed of the random choices.") var seed: UInt64 = 1
    @Option(help: "Take a snapshot every this many seconds while writing.") var snapshotEvery = 60

    func run() async throws {
        var rules = BookingRules.default
        rules.maxUpcomingPerUser = .max
        let seatCount = seats
        let lock = try lockDataDirectory(options.dataDir)
        defer { withExtendedLifetime(lock) {} }
        let (durable, report) = try await DurableEngine.open(
            PersistenceConfiguration(
                directory: options.dataDir, fsync: fsync, snapshotInterval: .seconds(snapshotEvery)),
            engine: EngineConfiguration(rules: rules, webhookPayload: Render.webhookPayload),
            log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) },
            seed: { engine in
                try await engine.define(branch: Branch(name: "Stress", areas: ["A"]))
                for s in 1...seatCount {
                    try await engine.define(
                        seat: Seat(id: SeatID(s), branch: "Stress", area: "A", hasPower: true, hasMonitor: false))
                }
                for u in 1...100 {
                    _ = try await engine.register(studentID: "T\(u)", name: "Tester \(u)", passwordHash: "")
                }
            })
        let engine = durable.engine
        emit("ready replayed=\(report.replayedRecords) reservations=\(report.reservations)")
        let deadline = Date().addingTimeInterval(duration)
        let seed = self.seed
        let snapshots = Task { await durable.runPeriodicSnapshots() }
        defer { snapshots.cancel() }
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<writers {
                group.addTask {
                    var rng = SplitMix64(seed: seed &* 1_000_003 &+ UInt64(w))
                    var mine: [ReservationID] = []
                    var n = 0
                    while Date() < deadline {
                        n += 1
                        let tag = "\(w).\(n)"
                        if !mine.isEmpty && Int.random(in: 0..<10, using: &rng) == 0 {
                            let id = mine.remove(at: Int.random(in: 0..<mine.count, using: &rng))
                            emit("cancel \(tag) \(id)")
                            do throws(EngineError) {
                                _ = try await engine.cancel(id: id, requester: Requester(userID: 1, isAdmin: true))
                                emit("cancelled \(tag)")
                            } catch {
                                emit("no \(tag) \(error.code)")
                            }
                            continue
                        }
                        let user = UserID.random(in: 1...100, using: &rng)
                        let seat = SeatID.random(in: 1...Int32(seatCount), using: &rng)
                        let start = engine.clock.now() + 3_600 + Int64.random(in: 0..<(12 * 96), using: &rng) * 900
                        let end = start + Int64.random(in: 1...4, using: &rng) * 900
                        emit("try \(tag) \(user) \(seat) \(start) \(end)")
                        do throws(EngineError) {
                            let r = try await engine.book(user: user, seat: seat, start: start, end: end)
                            mine.append(r.id)
                            emit("ok \(tag) \(r.id)")
                        } catch {
                            emit("no \(tag) \(error.code)")
                        }
                    }
                }
            }
        }
        await durable.close()
        emit("done")
    }
}
