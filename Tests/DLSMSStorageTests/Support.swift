import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Synchronization
import Testing

func testSeed(_ name: String) -> UInt64 {
    let seed =
        ProcessInfo.processInfo.environment["DLSMS_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
    print("\(name) seed: \(seed) (replay with DLSMS_TEST_SEED=\(seed))")
    return seed
}

let t0: Timestamp = 1_760_184_000

/// Real POSIX storage whose syncs (and writes) start failing when told to: the fault model of a
/// dying disk, without one.
final class FaultyIO: StorageIO {
    let real = PosixIO()
    private let failing = Mutex(false)

    func failFromNowOn() { failing.withLock { $0 = true } }
    var isFailing: Bool { failing.withLock { $0 } }

    final class Handle: AppendHandle {
        let inner: any AppendHandle
        let io: FaultyIO
        init(inner: any AppendHandle, io: FaultyIO) {
            self.inner = inner
            self.io = io
        }
        var path: String { inner.path }
        func write(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
            try inner.write(bytes)  // the bytes may reach the file; only the sync says they are durable
        }
        func sync() throws(StorageError) {
            if io.isFailing { throw StorageError("fdatasync", path, errno: EIO) }
            try inner.sync()
        }
        func truncate(to size: Int) throws(StorageError) { try inner.truncate(to: size) }
        func close() { inner.close() }
    }

    func openForAppend(_ path: String) throws(StorageError) -> any AppendHandle {
        Handle(inner: try real.openForAppend(path), io: self)
    }
    func read(_ path: String) throws(StorageError) -> [UInt8] { try real.read(path) }
    func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(StorageError) {
        if isFailing { throw StorageError("fsync", path, errno: EIO) }
        try real.writeAtomically(path, bytes)
    }
    func list(_ directory: String) throws(StorageError) -> [String] { try real.list(directory) }
    func remove(_ path: String) throws(StorageError) { try real.remove(path) }
    func truncate(_ path: String, to size: Int) throws(StorageError) { try real.truncate(path, to: size) }
    func syncDirectory(_ directory: String) throws(StorageError) { try real.syncDirectory(directory) }
    func makeDirectory(_ path: String) throws(StorageError) { try real.makeDirectory(path) }
    func fileSize(_ path: String) throws(StorageError) -> Int { try real.fileSize(path) }
}

/// A small catalog: one branch, `seats` seats, `users` students.
@Sendable func seedSmall(_ engine: SeatEngine, seats: Int = 20, users: Int = 10) async throws {
    try await engine.define(branch: Branch(name: "B", areas: ["A"]))
    for s in 1...seats {
        try await engine.define(
            seat: Seat(id: SeatID(s), branch: "B", area: "A", hasPower: s % 2 == 0, hasMonitor: false))
    }
    for u in 1...users { _ = try await engine.register(studentID: "U\(u)", name: "User \(u)", passwordHash: "h\(u)") }
}

/// Everything observable of an engine's state, for equality checks.
struct Observed: Equatable {
    var reservations: [Reservation]
    var waitlist: [WaitlistEntry]
    var users: [User]
    var notifications: [[UserNotification]]
    var branches: [Branch]
    var seats: [SeatView]

    init(_ engine: SeatEngine) async {
        reservations = await engine.allReservations(limit: .max).items
        waitlist = engine.allWaitlistEntries
        users = engine.allUsers
        notifications = engine.allUsers.map { engine.notifications.list(user: $0.id) }
        branches = engine.branchList
        seats = await engine.searchSeats(SeatFilter(), start: t0, end: t0 + 1)
    }
}

/// Runs `dlsms` to completion (killed after `timeout` seconds); returns exit status and output.
/// Output goes through files, so a chatty child can never block on a full pipe.
@discardableResult
func runDLSMS(_ arguments: [String], timeout: Double = 120) throws -> (status: Int32, out: String, err: String) {
    let dir = temporaryDirectory("run")
    defer { cleanup(dir) }
    _ = FileManager.default.createFile(atPath: dir + "/out", contents: nil)
    _ = FileManager.default.createFile(atPath: dir + "/err", contents: nil)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: try dlsmsExecutable())
    p.arguments = arguments
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/out"))
    p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/err"))
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    if p.isRunning {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        Issue.record("dlsms \(arguments.joined(separator: " ")) did not finish within \(timeout) s")
    }
    let out = (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? ""
    return (p.terminationStatus, out, err)
}
