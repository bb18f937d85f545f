import ArgumentParser
import DLSMSApp
import DLSMSCore
import DLSMSStorage
import Foundation

/// `dlsms snapshot synthesize`: a new data directory at consortium scale, written directly as one
/// snapshot and an archive file (no server, no API: 10,000,000 bookings through the API would take
/// hours). For the scale benchmark (`Benchmarks/scale.sh`); the state is one a server could have
/// made, and a server opens it as any other.
///
/// Branches `Branch 001`…, each with `areas` areas (`Area 01`…) of equal size; seats 1… in
/// branch, then area order; the admin (`admin`) and students `S0000001`… (one bcrypt hash shared
/// by all: hashing a million passwords would take longer than everything else). Each student's
/// reservations: one upcoming (confirmed, two days from now, one hour, no two on a seat at once),
/// one finished recently (completed, in memory as history), and the rest finished long ago
/// (completed, no-shows and cancellations, 100 days ago and older) in `archive.log`, as retention
/// would have moved them.
struct Synthesize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a new data directory at scale (benchmarks): branches, seats, students and reservations.")
    @Option(name: .customLong("data-dir"), help: "The new data directory (must not exist or be empty).")
    var dataDir: String
    @Option(help: "Branches.") var branches = 100
    @Option(help: "Areas per branch.") var areas = 10
    @Option(help: "Seats in all (spread evenly over the branches).") var seats = 100_000
    @Option(help: "Students.") var students = 1_000_000
    @Option(help: "Reservations in all (at least one per student; beyond two each, archived).")
    var reservations = 10_000_000
    @Option(name: .customLong("admin-password"), help: "The admin's password.") var adminPassword = "bench-admin"
    @Option(name: .customLong("student-password"), help: "Every student's password.")
    var studentPassword = "bench-password"

    func validate() throws {
        guard (1...10_000).contains(branches), (1...Branch.maxAreas).contains(areas) else {
            throw ValidationError("--branches 1…10000, --areas 1…\(Branch.maxAreas)")
        }
        guard seats >= branches * areas, seats <= 10_000_000 else {
            throw ValidationError("--seats: at least one per area, at most 10,000,000")
        }
        guard (1...50_000_000).contains(students) else { throw ValidationError("--students 1…50,000,000") }
        guard reservations >= students, reservations / students <= 100, reservations <= 1_000_000_000 else {
            throw ValidationError("--reservations: at least one and at most 100 per student, at most 1,000,000,000")
        }
        guard adminPassword.utf8.count >= 8, studentPassword.utf8.count >= 8 else {
            throw ValidationError("--admin-password and --student-password: at least 8 characters")
        }
        // Upcoming bookings: one per student, 12 an hour apart per seat and day, within 12 days.
        guard (students + seats - 1) / seats <= 144 else {
            throw ValidationError("--students: at most 144 per seat (their upcoming bookings must fit)")
        }
    }

    func run() async throws {
        let dir = DataDirectory(path: dataDir)
        if let names = try? dir.io.list(dataDir), !names.isEmpty { throw fail("\(dataDir) is not empty") }
        try dir.io.makeDirectory(dataDir)
        let lock = try lockDataDirectory(dataDir)
        defer { withExtendedLifetime(lock) {} }
        let clock = ContinuousClock()
        let began = clock.now
        guard let adminHash = Bcrypt.hash(adminPassword, cost: 4),
            let studentHash = Bcrypt.hash(studentPassword, cost: 4)
        else { throw fail("libcrypt refused to hash") }
        let now = Int64(Date().timeIntervalSince1970)
        let plan = Plan(
            branches: branches, areas: areas, seats: seats, students: students, reservations: reservations, now: now)

        // The archive first: ids 1… are the oldest reservations.
        var archived = 0
        var batch: [JournalRecord] = []
        batch.reserveCapacity(Plan.archiveBatch)
        for student in 0..<students {
            for k in 0..<plan.archivedCount(of: student) {
                batch.append(.reservationChanged(plan.archived(student: student, k: k, id: Int64(archived + 1))))
                archived += 1
                if batch.count == Plan.archiveBatch {
                    try ArchiveFile.append(batch, directory: dataDir, io: dir.io, time: now)
                    batch.removeAll(keepingCapacity: true)
                }
            }
        }
        try ArchiveFile.append(batch, directory: dataDir, io: dir.io, time: now)
        let archiveDone = clock.now

        let records = plan.liveRecords(
            firstID: Int64(archived + 1), adminHash: adminHash, studentHash: studentHash)
        let (bytes, header) = try SnapshotFile.encode(
            records, coveredLSN: 0, chainChecksum: 0, createdAt: now, sizeHint: 64 << 20)
        try dir.io.writeAtomically(dir.file(SnapshotFile.name(coveredLSN: 0)), bytes)
        let archiveBytes = (try? dir.io.fileSize(dir.file(ArchiveFile.name))) ?? 0
        print(
            """
            synthesized \(dataDir): \(branches) branches, \(seats) seats, \(students) students + admin, \
            \(reservations) reservations (\(header.counts.reservations) in the snapshot, \(archived) archived)
            snapshot \(bytes.count) bytes; archive.log \(archiveBytes) bytes; \
            archive \(archiveDone - began), snapshot \(clock.now - archiveDone)
            """)
    }
}

/// What `synthesize` writes, computed from a student's number (nothing is held per student).
struct Plan {
    static let archiveBatch = 100_000

    var branches: Int
    var areas: Int
    var seats: Int
    var students: Int
    var reservations: Int
    var now: Int64

    var today: Int64 { now / 86_400 * 86_400 }

    func count(of student: Int) -> Int {
        reservations / students + (student < reservations % students ? 1 : 0)
    }

    func archivedCount(of student: Int) -> Int { max(0, count(of: student) - 2) }

    /// The seat of a student's upcoming and recent bookings, and which of its bookings it is.
    func seat(of student: Int) -> (SeatID, Int) { (SeatID(student % seats + 1), student / seats) }

    func branchName(_ b: Int) -> String { "Branch " + String(format: "%03d", b + 1) }
    func areaName(_ a: Int) -> String { "Area " + String(format: "%02d", a + 1) }

    /// Seat `id`'s branch and area (seats are spread evenly, in id order).
    func place(of id: SeatID) -> (branch: Int, area: Int) {
        let i = Int(id) - 1
        let branch = i * branches / seats
        let first = (branch * seats + branches - 1) / branches
        let inBranch = ((branch + 1) * seats + branches - 1) / branches - first
        return (branch, (i - first) * areas / inBranch)
    }

    func archived(student: Int, k: Int, id: ReservationID) -> Reservation {
        let (seat, j) = seat(of: student)
        // Days 100, 130, 160, … ago, an hour per student sharing the seat, from 08:00.
        let start = today - Int64(100 + 30 * k) * 86_400 + Int64(8 + j % 12) * 3_600 - Int64(j / 12) * 86_400
        let status: ReservationStatus = [.completed, .completed, .noShow, .cancelled][k % 4]
        return Reservation(
            id: id, seatID: seat, userID: UserID(student + 2), start: start, end: start + 3_600, status: status,
            createdAt: start - 86_400, checkedInAt: status == .completed ? start + 300 : nil)
    }

    /// The snapshot's records: branches, seats, users, the reservations in memory, the id floor.
    func liveRecords(firstID: ReservationID, adminHash: String, studentHash: String) -> some Sequence<JournalRecord> {
        let areaNames = (0..<areas).map(areaName)
        let branchRecords = (0..<branches).lazy.map { b in
            JournalRecord.branchDefined(Branch(name: branchName(b), areas: areaNames))
        }
        let seatRecords = (1...seats).lazy.map { i -> JournalRecord in
            let id = SeatID(i)
            let (b, a) = place(of: id)
            return .seatDefined(
                Seat(
                    id: id, branch: branchName(b), area: areaNames[a], hasPower: i % 2 == 0, hasMonitor: i % 5 == 0,
                    label: "S-\(i)"))
        }
        let admin = JournalRecord.userCreated(
            User(
                id: 1, studentID: "admin", name: "Administrator", role: .admin, passwordHash: adminHash, createdAt: now)
        )
        let studentRecords = (0..<students).lazy.map { s in
            JournalRecord.userCreated(
                User(
                    id: UserID(s + 2), studentID: "S" + String(format: "%07d", s + 1), name: "Student \(s + 1)",
                    role: .student, passwordHash: studentHash, createdAt: now - 400 * 86_400))
        }
        let liveRecords = (0..<students).lazy.flatMap { s -> [JournalRecord] in
            let (seat, j) = seat(of: s)
            let base = firstID + Int64(2 * s)
            let upcomingStart = today + Int64(2 + j / 12) * 86_400 + Int64(8 + j % 12) * 3_600
            var out: [JournalRecord] = [
                .reservationCreated(
                    Reservation(
                        id: base, seatID: seat, userID: UserID(s + 2), start: upcomingStart, end: upcomingStart + 3_600,
                        createdAt: now - 3_600))
            ]
            if count(of: s) >= 2 {
                let recentStart = today - Int64(1 + j) * 86_400 + Int64(10) * 3_600
                out.append(
                    .reservationCreated(
                        Reservation(
                            id: base + 1, seatID: seat, userID: UserID(s + 2), start: recentStart,
                            end: recentStart + 3_600, status: .completed, createdAt: recentStart - 86_400,
                            checkedInAt: recentStart + 300)))
            }
            return out
        }
        let floor = JournalRecord.idFloor(
            IDFloor(reservation: firstID + Int64(2 * students), waitlistEntry: 1, notification: 1))
        return [
            AnySequence(branchRecords), AnySequence(seatRecords), AnySequence([admin]),
            AnySequence(studentRecords), AnySequence(liveRecords), AnySequence([floor]),
        ]
        .joined()
    }
}
