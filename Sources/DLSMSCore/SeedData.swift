/// The original DL-SMS data set, as plain values: the rows of the original's `db/seed.sql` (the
/// Python DL-SMS this project rebuilds), in their order of insertion, so that seat ids, areas and
/// features are the original's. Times of its sample reservations are relative to the seeding
/// moment, as the original's `NOW() + INTERVAL …` are.
public enum SeedData {
    public static let password = "password123"

    public static let studentNames = [
        "Alice Johnson", "Bob Smith", "Charlie Brown", "Diana Prince", "Eve Adams",
        "Frank Miller", "Grace Hopper", "Henry Ford", "Ivy Chen", "Jack Wilson",
    ]

    public static func studentID(_ n: Int) -> String { "S20210" + (n < 10 ? "0" : "") + "\(n)" }

    public static let branches: [Branch] = [
        Branch(name: "Main Library", areas: ["Silent Study Zone", "Group Study Zone"]),
        Branch(name: "Science Library", areas: ["Research Zone", "Reading Room", "Quiet Zone"]),
        Branch(name: "Engineering Library", areas: ["Computer Lab", "Study Desks", "Collaborative Space"]),
    ]

    /// `seed.sql`'s seat rows: branch, area, power outlet, monitor. Seat `n` is row `n`.
    public static let seatRows: [(branch: String, area: String, hasPower: Bool, hasMonitor: Bool)] = [
        ("Main Library", "Silent Study Zone", true, false),
        ("Main Library", "Silent Study Zone", true, false),
        ("Main Library", "Silent Study Zone", true, false),
        ("Main Library", "Silent Study Zone", true, true),
        ("Main Library", "Silent Study Zone", true, true),
        ("Main Library", "Silent Study Zone", false, false),
        ("Main Library", "Silent Study Zone", false, false),
        ("Main Library", "Silent Study Zone", false, false),
        ("Main Library", "Silent Study Zone", true, false),
        ("Main Library", "Silent Study Zone", true, false),
        ("Main Library", "Silent Study Zone", true, true),
        ("Main Library", "Silent Study Zone", false, false),
        ("Main Library", "Silent Study Zone", true, false),
        ("Main Library", "Silent Study Zone", true, false),
        ("Main Library", "Silent Study Zone", true, true),
        ("Main Library", "Group Study Zone", true, true),
        ("Main Library", "Group Study Zone", true, true),
        ("Main Library", "Group Study Zone", true, true),
        ("Main Library", "Group Study Zone", true, false),
        ("Main Library", "Group Study Zone", true, false),
        ("Main Library", "Group Study Zone", true, true),
        ("Main Library", "Group Study Zone", false, false),
        ("Main Library", "Group Study Zone", false, false),
        ("Main Library", "Group Study Zone", true, false),
        ("Main Library", "Group Study Zone", true, false),
        ("Science Library", "Research Zone", true, true),
        ("Science Library", "Research Zone", true, true),
        ("Science Library", "Research Zone", true, true),
        ("Science Library", "Research Zone", true, true),
        ("Science Library", "Research Zone", true, false),
        ("Science Library", "Reading Room", true, false),
        ("Science Library", "Reading Room", true, false),
        ("Science Library", "Reading Room", false, false),
        ("Science Library", "Reading Room", false, false),
        ("Science Library", "Reading Room", true, true),
        ("Science Library", "Quiet Zone", true, false),
        ("Science Library", "Quiet Zone", true, false),
        ("Engineering Library", "Computer Lab", true, true),
        ("Engineering Library", "Computer Lab", true, true),
        ("Engineering Library", "Computer Lab", true, true),
        ("Engineering Library", "Computer Lab", true, true),
        ("Engineering Library", "Computer Lab", true, true),
        ("Engineering Library", "Computer Lab", true, true),
        ("Engineering Library", "Study Desks", true, false),
        ("Engineering Library", "Study Desks", true, false),
        ("Engineering Library", "Study Desks", true, false),
        ("Engineering Library", "Study Desks", false, false),
        ("Engineering Library", "Collaborative Space", true, true),
        ("Engineering Library", "Collaborative Space", true, true),
        ("Engineering Library", "Collaborative Space", true, false),
    ]

    public static let seats: [Seat] = seatRows.enumerated().map { i, row in
        Seat(id: SeatID(i + 1), branch: row.branch, area: row.area, hasPower: row.hasPower, hasMonitor: row.hasMonitor)
    }

    /// A sample reservation relative to the seed moment: user, seat, start and end offsets in seconds,
    /// and its status.
    public struct SampleReservation: Sendable, Hashable {
        public var userIndex: Int
        public var seatID: SeatID
        public var startOffset: Int64
        public var endOffset: Int64
        public var status: ReservationStatus
        /// When the student checked in, relative to the seed moment.
        public var checkedInOffset: Int64? = nil
    }

    public static let reservations: [SampleReservation] = {
        let m = Seconds.minute
        let h = Seconds.hour
        let d = Seconds.day
        return [
            .init(userIndex: 1, seatID: 1, startOffset: 1 * h, endOffset: 3 * h, status: .confirmed),
            .init(userIndex: 2, seatID: 2, startOffset: 2 * h, endOffset: 4 * h, status: .confirmed),
            .init(userIndex: 3, seatID: 15, startOffset: 30 * m, endOffset: 2 * h, status: .confirmed),
            .init(userIndex: 4, seatID: 26, startOffset: -10 * m, endOffset: 2 * h, status: .confirmed),
            .init(userIndex: 5, seatID: 30, startOffset: 4 * h, endOffset: 6 * h, status: .confirmed),
            // The history.
            .init(
                userIndex: 1, seatID: 5, startOffset: -2 * d, endOffset: -2 * d + 2 * h, status: .completed,
                checkedInOffset: -2 * d + 5 * m),
            .init(
                userIndex: 2, seatID: 10, startOffset: -1 * d, endOffset: -1 * d + 3 * h, status: .completed,
                checkedInOffset: -1 * d + 10 * m),
            .init(userIndex: 3, seatID: 20, startOffset: -1 * d, endOffset: -1 * d + 1 * h, status: .noShow),
        ]
    }()

    public struct SampleWait: Sendable, Hashable {
        public var userIndex: Int
        public var target: WaitTarget
        public var desiredOffset: Int64
    }

    /// The third entry waits for any seat in `seed.sql` (no seat, no branch); here an entry names
    /// a seat or a branch, so it waits for the Main Library.
    public static let waitlist: [SampleWait] = [
        .init(userIndex: 6, target: .seat(1), desiredOffset: 3 * Seconds.hour),
        .init(userIndex: 7, target: .seat(2), desiredOffset: 4 * Seconds.hour),
        .init(userIndex: 8, target: .branch("Main Library"), desiredOffset: 2 * Seconds.hour),
    ]

    public static let adminStudentID = "admin"
}
