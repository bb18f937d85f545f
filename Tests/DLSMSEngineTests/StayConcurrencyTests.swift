import DLSMSCore
import DLSMSEngine
import Foundation
import Testing

/// Groups, moves and single bookings at once over 200 seats in 8 shards: never part of a group,
/// never a seat held twice, never a move that left both seats or neither.
@Suite struct StayConcurrencyTests {
    enum Outcome: Sendable {
        case group([Reservation])
        case moved(from: ReservationID, to: Reservation)
        case moveRefused(ReservationID)
        case other
    }

    @Test func groupsMovesAndBookingsAtOnce() async throws {
        let seed =
            ProcessInfo.processInfo.environment["DLSMS_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...1_000_000)
        print("StayConcurrencyTests seed \(seed) (DLSMS_SEED=\(seed) replays it)")
        var rules = BookingRules.default
        rules.maxUpcomingPerUser = 1_000
        let (engine, _) = try await makeBareEngine(seats: 200, users: 300, shards: 8, rules: rules)
        var rng = SplitMix64(seed: seed)
        func slot(_ k: UInt64) -> Timestamp { testNow + hour * Timestamp(1 + k % 4) }
        // Reservations to move: one per student where the seat is free.
        var originals: [Reservation] = []
        for u in 1...300 {
            let k = rng.next()
            if let r = try? await engine.book(
                user: UserID(u), seat: SeatID(1 + rng.next() % 200), start: slot(k), end: slot(k) + hour)
            {
                originals.append(r)
            }
        }
        var ops: [(kind: UInt64, a: UInt64, b: UInt64, c: UInt64)] = []
        for _ in 0..<1_000 { ops.append((rng.next() % 10, rng.next(), rng.next(), rng.next())) }
        let moves = originals
        let outcomes = await withTaskGroup(of: Outcome.self) { group in
            for op in ops {
                group.addTask {
                    switch op.kind {
                    case 0..<4:
                        _ = try? await engine.book(
                            user: UserID(1 + op.a % 300), seat: SeatID(1 + op.b % 200), start: slot(op.c),
                            end: slot(op.c) + hour)
                        return .other
                    case 4..<7:
                        let size = Int(2 + op.a % 3)
                        var g = SplitMix64(seed: op.b)
                        var seats: [SeatID] = []
                        var users: [UserID] = []
                        while seats.count < size {
                            let s = SeatID(1 + g.next() % 200)
                            let u = UserID(1 + g.next() % 300)
                            if !seats.contains(s) && !users.contains(u) {
                                seats.append(s)
                                users.append(u)
                            }
                        }
                        let items = zip(seats, users).map {
                            TogetherItem(seatID: $0, userID: $1, start: slot(op.c), end: slot(op.c) + hour)
                        }
                        guard
                            let made = try? await engine.bookTogether(items, extras: { ReservationExtras(groupID: $0) })
                        else { return .other }
                        return .group(made)
                    default:
                        let r = moves[Int(op.a % UInt64(moves.count))]
                        do {
                            let m = try await engine.move(
                                id: r.id, to: SeatID(1 + op.b % 200), requester: Requester(userID: r.userID))
                            return .moved(from: r.id, to: m.new)
                        } catch {
                            return .moveRefused(r.id)
                        }
                    }
                }
            }
            return await group.reduce(into: [Outcome]()) { $0.append($1) }
        }
        #expect(await engine.checkInvariants())
        let all = await engine.allReservations(limit: 1_000_000).items
        let byID = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
        // No seat held twice.
        for (_, held) in Dictionary(grouping: all.filter(\.status.holdsSeat), by: \.seatID) {
            let sorted = held.sorted { $0.start < $1.start }
            for (a, b) in zip(sorted, sorted.dropFirst()) {
                #expect(a.end <= b.start, "seat \(a.seatID): \(a.id) and \(b.id)")
            }
        }
        // Every group whole; no reservation of a group that was refused.
        var groups = 0
        var grouped: [ReservationID: Int] = [:]
        for case .group(let made) in outcomes {
            groups += 1
            let g = made.map(\.id).min()!
            grouped[g] = made.count
            for r in made { #expect(byID[r.id]?.extras.groupID == g) }
        }
        let recorded = Dictionary(grouping: all.filter { $0.extras.groupID != nil }, by: { $0.extras.groupID! })
        #expect(recorded.count == groups)
        for (g, members) in recorded { #expect(grouped[g] == members.count, "group \(g)") }
        // Every original either still holds its seat or was moved exactly once: never both, never neither.
        var movedCount = 0
        for r in originals {
            let successors = all.filter { $0.extras.movedFrom == r.id }
            let stillHolds = byID[r.id]?.status == .confirmed
            #expect(stillHolds != (successors.count == 1) && successors.count <= 1, "reservation \(r.id)")
            if let s = successors.first { #expect(s.status == .confirmed && s.start == r.start && s.end == r.end) }
            movedCount += successors.count
        }
        let movesMade = outcomes.filter { if case .moved = $0 { return true } else { return false } }.count
        #expect(movedCount == movesMade)
        print("StayConcurrencyTests: \(groups) groups booked, \(movesMade) moves made, \(all.count) reservations")
        #expect(groups > 0 && movesMade > 0)
    }
}
