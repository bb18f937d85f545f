/// The original DL-SMS data set (`shared/API.md`, "Seed data"), as plain values.
///
/// The original's `seed.sql` is not part of this repository, so the power and monitor flags follow
/// the layout described there: in the Silent Study Zone every seat has power and every third a
/// monitor; in the Group Study Zone the even seats have power; in the Science Library all seats have
/// power and seats 26–31 monitors; in the Engineering Library every seat has power and monitor but
/// the last three.
public enum SeedData {
    public static let password = "password123"

    public static let studentNames = [
        "Alice Johnson", "Bob Smith", "Charlie Brown", "Diana Prince", "Eve Davis",
        "Frank Miller", "Grace Lee", "Henry Taylor", "Ivy Chen", "Jack Wilson",
    ]

    public static func studentID(_ n: Int) -> String { "S20210" + (n < 10 ? "0" : "") + "\(n)" }

    public static let branches: [Branch] = [
        Branch(name: "Main Library", areas: ["Silent Study Zone", "Group Study Zone"]),
        Branch(name: "Science Library", areas: ["Science Reading Room"]),
        Branch(name: "Engineering Library", areas: ["Engineering Commons"]),
    ]

    public static let seats: [Seat] = (1...50).map { n -> Seat in
        let id = SeatID(n)
        switch n {
        case 1...15:
            return Seat(
                id: id, branch: "Main Library", area: "Silent Study Zone", hasPower: true, hasMonitor: n % 3 == 0)
        case 16...25:
            return Seat(
                id: id, branch: "Main Library", area: "Group Study Zone", hasPower: n % 2 == 0, hasMonitor: false)
        case 26...37:
            return Seat(
                id: id, branch: "Science Library", area: "Science Reading Room", hasPower: true, hasMonitor: n <= 31)
        default:
            return Seat(
                id: id, branch: "Engineering Library", area: "Engineering Commons", hasPower: true, hasMonitor: n <= 47)
        }
    }

    /// A sample reservation relative to the seed moment: user, seat, start and end offsets in seconds,
    /// and its status.
    public struct SampleReservation: Sendable, Hashable {
        public var userIndex: Int
        public var seatID: SeatID
        public var startOffset: Int64
        public var endOffset: Int64
        public var status: ReservationStatus
    }

    public static let reservations: [SampleReservation] = {
        let m = Seconds.minute
        let h = Seconds.hour
        return [
            .init(userIndex: 1, seatID: 1, startOffset: 1 * h, endOffset: 3 * h, status: .confirmed),
            .init(userIndex: 2, seatID: 2, startOffset: 2 * h, endOffset: 4 * h, status: .confirmed),
            .init(userIndex: 3, seatID: 15, startOffset: 30 * m, endOffset: 2 * h, status: .confirmed),
            .init(userIndex: 4, seatID: 26, startOffset: -10 * m, endOffset: 2 * h, status: .checkedIn),
            .init(userIndex: 5, seatID: 30, startOffset: 4 * h, endOffset: 6 * h, status: .confirmed),
            // Three past ones.
            .init(userIndex: 1, seatID: 5, startOffset: -26 * h, endOffset: -24 * h, status: .completed),
            .init(userIndex: 2, seatID: 20, startOffset: -50 * h, endOffset: -48 * h, status: .noShow),
            .init(userIndex: 3, seatID: 40, startOffset: -28 * h, endOffset: -27 * h, status: .cancelled),
        ]
    }()

    public struct SampleWait: Sendable, Hashable {
        public var userIndex: Int
        public var target: WaitTarget
        public var desiredOffset: Int64
    }

    public static let waitlist: [SampleWait] = [
        .init(userIndex: 6, target: .seat(1), desiredOffset: 3 * Seconds.hour),
        .init(userIndex: 7, target: .seat(2), desiredOffset: 4 * Seconds.hour),
        .init(userIndex: 8, target: .branch("Main Library"), desiredOffset: 2 * Seconds.hour),
    ]

    public static let adminStudentID = "admin"
}
