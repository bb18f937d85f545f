/// What a client learnt about one request: the server acknowledged it (2xx), refused it with a
/// definite answer (4xx, or a connection that was never made), or the outcome is unknown (timeout,
/// reset, a 5xx or a response that could not be read): it may or may not have taken effect.
public enum Outcome: String, Sendable, Codable {
    case ok
    case failed
    case unknown
}

/// The identity of a booking as the client asked for it. Times are Unix seconds.
public struct BookingKey: Hashable, Sendable {
    public var userID: Int64
    public var seatID: Int64
    public var start: Int64
    public var end: Int64

    public init(userID: Int64, seatID: Int64, start: Int64, end: Int64) {
        self.userID = userID
        self.seatID = seatID
        self.start = start
        self.end = end
    }
}

/// One write of a load run, as the client saw it.
public enum Operation: Sendable, Equatable {
    /// `reservationID` is the id the server returned (only for `.ok`).
    case book(BookingKey, Outcome, reservationID: Int64?)
    case cancel(reservationID: Int64, Outcome)
    case checkIn(reservationID: Int64, Outcome)
    /// An extension of a reservation to `end`.
    case extend(reservationID: Int64, end: Int64, Outcome)
    /// A move of a reservation to `seatID`; `newID` the id of the new reservation (only for `.ok`).
    case move(reservationID: Int64, seatID: Int64, Outcome, newID: Int64?)
    /// Seats booked together; `ids` in the order of `keys` (only for `.ok`).
    case group([BookingKey], Outcome, ids: [Int64]?)
}

/// A reservation as the server reports it at the end of a run (admin `GET /reservations`).
public struct FinalReservation: Sendable, Equatable {
    public var id: Int64
    public var key: BookingKey
    public var status: String
    /// The reservation this one was moved from, and the group it was booked with.
    public var movedFrom: Int64?
    public var groupID: Int64?

    public init(id: Int64, key: BookingKey, status: String, movedFrom: Int64? = nil, groupID: Int64? = nil) {
        self.id = id
        self.key = key
        self.status = status
        self.movedFrom = movedFrom
        self.groupID = groupID
    }

    /// Statuses whose window the seat was (or is) held for; `COMPLETED` keeps the used window, and
    /// `HELD` is a seat held for a waitlist offer (nobody else may have that window).
    public var heldTheSeat: Bool {
        status == "CONFIRMED" || status == "CHECKED_IN" || status == "COMPLETED" || status == "HELD"
    }
}

/// The checker's result. `passed` is false when any invariant was violated.
public struct Verdict: Sendable, Codable, Equatable {
    public var reservationsRead = 0
    public var acknowledgedBookings = 0
    public var refusedBookings = 0
    public var unknownBookings = 0
    /// Unknown-outcome bookings that the final state shows took effect.
    public var unknownApplied = 0
    public var acknowledgedCancels = 0
    public var acknowledgedCheckIns = 0
    /// Acknowledged bookings missing from the final state (or changed: another seat, user or window).
    public var lost = 0
    /// Reservations of this run's students that no acknowledged or unknown booking accounts for.
    public var phantom = 0
    /// Pairs of seat-holding reservations of one seat whose windows overlap.
    public var overlaps = 0
    /// Reservations whose status contradicts an acknowledged cancel or check-in, or that changed
    /// state without any request that could have changed it.
    public var wrongState = 0
    /// Groups of which some but not all reservations exist, and moves that left both seats or
    /// neither.
    public var partial = 0
    public var acknowledgedGroups = 0
    public var acknowledgedMoves = 0
    public var acknowledgedExtensions = 0
    /// The first violations, described for a person.
    public var violations: [String] = []

    public var passed: Bool { lost == 0 && phantom == 0 && overlaps == 0 && wrongState == 0 && partial == 0 }

    public init() {}

    mutating func violation(_ text: String) {
        if violations.count < 20 { violations.append(text) }
    }
}

/// A Jepsen-style checker: given every write the clients made (with its outcome) and the final
/// state read back from the server, it verifies that
/// - no two seat-holding reservations of one seat overlap (whatever the outcomes were);
/// - every acknowledged booking exists as asked, unless its cancellation was acknowledged too
///   (then it is `CANCELLED`);
/// - no refused booking exists: reservations of the run's students must each be accounted for by
///   an acknowledged booking (by id) or by an unknown-outcome booking of the same key;
/// - acknowledged cancels are `CANCELLED`, acknowledged check-ins `CHECKED_IN` or `COMPLETED`, and
///   no reservation was cancelled or checked in without a request that could have done it.
public enum Checker {
    /// - Parameter students: the user ids of the run's students; final reservations of other users
    ///   count for overlaps only (they are not this run's to account for).
    public static func check(history: [Operation], final: [FinalReservation], students: Set<Int64>) -> Verdict {
        var verdict = Verdict()
        verdict.reservationsRead = final.count
        let requests = Requests(history, counting: &verdict)
        checkLost(requests, final: final, into: &verdict)
        checkPhantoms(requests, final: final, students: students, into: &verdict)
        checkStates(requests, final: final, students: students, into: &verdict)
        checkOverlaps(final, into: &verdict)
        checkWholeness(requests, final: final, into: &verdict)
        return verdict
    }

    /// Groups whole or absent; every move left exactly one of its two seats held.
    private static func checkWholeness(_ requests: Requests, final: [FinalReservation], into verdict: inout Verdict) {
        let byID = Dictionary(final.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let successors = Dictionary(grouping: final.filter { $0.movedFrom != nil }, by: { $0.movedFrom! })
        for (old, outcome) in requests.moves.sorted(by: { $0.key < $1.key }) {
            guard let r = byID[old] else { continue }
            let next = successors[old] ?? []
            let stayed = r.status == "CONFIRMED" || r.status == "CHECKED_IN"
            if next.count > 1 || stayed == !next.isEmpty || (outcome == .ok && next.isEmpty) {
                verdict.partial += 1
                verdict.violation(
                    "move: reservation \(old) is \(r.status) with \(next.count) reservation(s) moved from it (\(outcome))"
                )
            }
        }
        for keys in requests.unknownGroups {
            let present = keys.filter { key in final.contains { $0.key == key && $0.groupID != nil } }.count
            if present != 0 && present != keys.count {
                verdict.partial += 1
                verdict.violation("group: \(present) of \(keys.count) seats booked (\(keys.map(describe)))")
            }
        }
        for (group, members) in Dictionary(grouping: final.filter { $0.groupID != nil }, by: { $0.groupID! })
        where requests.groupSizes[group].map({ $0 != members.count }) ?? false {
            verdict.partial += 1
            verdict.violation("group \(group): \(members.count) of \(requests.groupSizes[group]!) reservations")
        }
    }

    /// What the clients asked for, by outcome.
    private struct Requests {
        var acknowledged: [Int64: BookingKey] = [:]
        var unknownByKey: [BookingKey: Int] = [:]
        var cancels: [Int64: Outcome] = [:]
        var checkIns: [Int64: Outcome] = [:]
        /// The end each reservation was extended to (acknowledged), and ends it may have (unknown).
        var extendedTo: [Int64: Int64] = [:]
        var mayEnd: [Int64: Set<Int64>] = [:]
        /// Moves by the reservation moved, with the strongest outcome; new reservations they made.
        var moves: [Int64: Outcome] = [:]
        var movedTo: [Int64: Int64] = [:]
        /// Unknown moves' targets, by the reservation moved.
        var unknownMoveTargets: [Int64: Set<Int64>] = [:]
        var unknownGroups: [[BookingKey]] = []
        /// Acknowledged groups' sizes, by group id (their lowest reservation id).
        var groupSizes: [Int64: Int] = [:]

        /// Sorts the history, and counts its requests into `verdict`.
        init(_ history: [Operation], counting verdict: inout Verdict) {
            for operation in history {
                switch operation {
                case .book(let key, .ok, let id?):
                    verdict.acknowledgedBookings += 1
                    acknowledged[id] = key
                case .book(let key, .ok, nil), .book(let key, .unknown, _):
                    // An acknowledgement without a readable id is as good as unknown.
                    verdict.unknownBookings += 1
                    unknownByKey[key, default: 0] += 1
                case .book(_, .failed, _):
                    verdict.refusedBookings += 1
                case .cancel(let id, let outcome):
                    if outcome == .ok { verdict.acknowledgedCancels += 1 }
                    cancels[id] = Checker.strongest(cancels[id], outcome)
                case .checkIn(let id, let outcome):
                    if outcome == .ok { verdict.acknowledgedCheckIns += 1 }
                    checkIns[id] = Checker.strongest(checkIns[id], outcome)
                case .extend(let id, let end, let outcome):
                    if outcome == .ok {
                        verdict.acknowledgedExtensions += 1
                        extendedTo[id] = max(extendedTo[id] ?? end, end)
                    }
                    if outcome != .failed { mayEnd[id, default: []].insert(end) }
                case .move(let id, let seat, let outcome, let newID):
                    moves[id] = Checker.strongest(moves[id], outcome)
                    if outcome == .ok, let newID {
                        verdict.acknowledgedMoves += 1
                        movedTo[id] = newID
                    } else if outcome != .failed {
                        unknownMoveTargets[id, default: []].insert(seat)
                    }
                case .group(let keys, .ok, let ids?) where ids.count == keys.count:
                    verdict.acknowledgedGroups += 1
                    for (key, id) in zip(keys, ids) { acknowledged[id] = key }
                    if let first = ids.min() { groupSizes[first] = ids.count }
                case .group(let keys, .failed, _):
                    verdict.refusedBookings += keys.count
                case .group(let keys, _, _):
                    verdict.unknownBookings += keys.count
                    unknownGroups.append(keys)
                }
            }
        }
    }

    /// Lost and changed acknowledged bookings.
    private static func checkLost(_ requests: Requests, final: [FinalReservation], into verdict: inout Verdict) {
        let byID = Dictionary(final.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for (id, key) in requests.acknowledged.sorted(by: { $0.key < $1.key }) {
            guard let found = byID[id] else {
                verdict.lost += 1
                verdict.violation("lost: acknowledged reservation \(id) (\(describe(key))) is missing")
                continue
            }
            var expected = key
            if let end = requests.extendedTo[id] { expected.end = end }
            let ends = requests.mayEnd[id] ?? []
            let movedAway = requests.moves[id].map { $0 != .failed } ?? false
            let sameButEnd =
                found.key.userID == key.userID && found.key.seatID == key.seatID && found.key.start == key.start
            let explained =
                found.key == expected || (sameButEnd && (ends.contains(found.key.end) || found.key.end == key.end))
                || (sameButEnd && movedAway && found.status != "CONFIRMED")
            if !explained {
                verdict.lost += 1
                verdict.violation("lost: reservation \(id) was booked as \(describe(key)), now \(describe(found.key))")
            }
        }
    }

    /// Phantoms: this run's reservations that no acknowledged or unknown booking accounts for.
    private static func checkPhantoms(
        _ requests: Requests, final: [FinalReservation], students: Set<Int64>, into verdict: inout Verdict
    ) {
        var unclaimed = requests.unknownByKey
        for g in requests.unknownGroups { for key in g { unclaimed[key, default: 0] += 1 } }
        let movedIDs = Set(requests.movedTo.values)
        for r in final.sorted(by: { $0.id < $1.id })
        where students.contains(r.key.userID) && requests.acknowledged[r.id] == nil {
            if movedIDs.contains(r.id) { continue }
            if let from = r.movedFrom, requests.unknownMoveTargets[from]?.contains(r.key.seatID) == true {
                verdict.unknownApplied += 1
                continue
            }
            if let n = unclaimed[r.key], n > 0 {
                unclaimed[r.key] = n - 1
                verdict.unknownApplied += 1
            } else {
                verdict.phantom += 1
                verdict.violation("phantom: reservation \(r.id) (\(describe(r.key))) was never acknowledged")
            }
        }
    }

    /// States: acknowledged transitions are reflected; no transition happened without a request.
    private static func checkStates(
        _ requests: Requests, final: [FinalReservation], students: Set<Int64>, into verdict: inout Verdict
    ) {
        for r in final.sorted(by: { $0.id < $1.id }) where students.contains(r.key.userID) {
            let cancel = requests.cancels[r.id]
            let checkIn = requests.checkIns[r.id]
            var problem: String?
            switch r.status {
            case "CANCELLED":
                let moved = requests.moves[r.id].map { $0 != .failed } ?? false
                if (cancel == nil || cancel == .failed) && !moved {
                    problem = "is CANCELLED but no cancel or move could have done it"
                }
            case "CHECKED_IN", "COMPLETED":
                if cancel == .ok { problem = "is \(r.status) after an acknowledged cancel" }
                if checkIn == nil || checkIn == .failed {
                    problem = "is \(r.status) but no check-in could have done it"
                }
            default:
                if cancel == .ok { problem = "is \(r.status) after an acknowledged cancel" }
                if checkIn == .ok { problem = "is \(r.status) after an acknowledged check-in" }
            }
            if let problem {
                verdict.wrongState += 1
                verdict.violation("state: reservation \(r.id) \(problem)")
            }
        }
    }

    /// Overlaps among every seat-holding reservation, whoever made it.
    private static func checkOverlaps(_ final: [FinalReservation], into verdict: inout Verdict) {
        var bySeat: [Int64: [FinalReservation]] = [:]
        for r in final where r.heldTheSeat { bySeat[r.key.seatID, default: []].append(r) }
        for (seat, held) in bySeat.sorted(by: { $0.key < $1.key }) {
            let sorted = held.sorted { ($0.key.start, $0.id) < ($1.key.start, $1.id) }
            var latest = sorted[0]
            for r in sorted.dropFirst() {
                if r.key.start < latest.key.end {
                    verdict.overlaps += 1
                    verdict.violation(
                        "overlap: seat \(seat) reservations \(latest.id) and \(r.id) (\(describe(latest.key)) and \(describe(r.key)))"
                    )
                }
                if r.key.end > latest.key.end { latest = r }
            }
        }
    }

    /// The most informative of two outcomes of the same request on one reservation: an
    /// acknowledgement beats an unknown outcome, which beats a refusal.
    static func strongest(_ a: Outcome?, _ b: Outcome) -> Outcome {
        switch (a, b) {
        case (.ok, _), (_, .ok): return .ok
        case (.unknown, _), (_, .unknown): return .unknown
        default: return .failed
        }
    }

    static func describe(_ key: BookingKey) -> String {
        "user \(key.userID), seat \(key.seatID), \(key.start)..<\(key.end)"
    }
}
