/// Seats next to each other: sets of seats of one area that lie close together on the map.
public enum SeatNeighbourhood {
    /// Up to `limit` sets of `count` seats from `seats`, each within one area: for every seat, it
    /// and its `count - 1` nearest neighbours in the area (by the map's x/y; seats without a
    /// position stand in a row by id). Sets are distinct and ordered by their spread (the
    /// largest distance between two of their seats), then by their lowest seat id.
    ///
    /// Bounded work: the seats of an area are put in reading order (row, then column); every
    /// (count / 4)th of them is an anchor, whose neighbours are looked for among the
    /// `2 × count + 2` seats on either side of it in that order. An area of n seats costs
    /// O(n · log count), not O(n² log n).
    public static func groups(of seats: [Seat], count: Int, limit: Int) -> [[Seat]] {
        guard count >= 1, limit >= 1 else { return [] }
        var byArea: [String: [Seat]] = [:]
        for s in seats { byArea[s.area, default: []].append(s) }
        var found: [(spread: Int64, seats: [Seat])] = []
        var seen: Set<[SeatID]> = []
        let reach = 2 * count + 2
        let step = max(1, count / 4)
        for area in byArea.keys.sorted() {
            let byID = byArea[area]!.sorted { $0.id < $1.id }
            guard byID.count >= count else { continue }
            let placed = byID.enumerated().map { i, s in
                (seat: s, point: (Int64(s.x ?? Int32(clamping: i)), Int64(s.y ?? 0)))
            }.sorted { ($0.point.1, $0.point.0, $0.seat.id) < ($1.point.1, $1.point.0, $1.seat.id) }
            for a in stride(from: 0, to: placed.count, by: step) {
                let window = max(0, a - reach)..<min(placed.count, a + reach + 1)
                let nearest = window.sorted {
                    (distance(placed[a].point, placed[$0].point), placed[$0].seat.id)
                        < (distance(placed[a].point, placed[$1].point), placed[$1].seat.id)
                }.prefix(count)
                let set = nearest.sorted { placed[$0].seat.id < placed[$1].seat.id }
                guard set.count == count, seen.insert(set.map { placed[$0].seat.id }).inserted else { continue }
                var spread: Int64 = 0
                for i in set { for j in set { spread = max(spread, distance(placed[i].point, placed[j].point)) } }
                found.append((spread, set.map { placed[$0].seat }))
            }
        }
        found.sort { ($0.spread, $0.seats[0].id) < ($1.spread, $1.seats[0].id) }
        return found.prefix(limit).map(\.seats)
    }

    /// Squared distance (exact in integers; orders like the distance). Saturating: map
    /// coordinates are any 32-bit values.
    static func distance(_ a: (Int64, Int64), _ b: (Int64, Int64)) -> Int64 {
        let dx = a.0 - b.0
        let dy = a.1 - b.1
        let (xx, o1) = dx.multipliedReportingOverflow(by: dx)
        let (yy, o2) = dy.multipliedReportingOverflow(by: dy)
        let (sum, o3) = xx.addingReportingOverflow(yy)
        return o1 || o2 || o3 ? .max : sum
    }
}
