/// Seats next to each other: sets of seats of one area that lie close together on the map.
public enum SeatNeighbourhood {
    /// Up to `limit` sets of `count` seats from `seats`, each within one area: for every seat, it
    /// and its `count - 1` nearest neighbours in the area (by the map's x/y; seats without a
    /// position stand in a row by id). Sets are distinct and ordered by their spread (the
    /// largest distance between two of their seats), then by their lowest seat id.
    public static func groups(of seats: [Seat], count: Int, limit: Int) -> [[Seat]] {
        guard count >= 1, limit >= 1 else { return [] }
        var byArea: [String: [Seat]] = [:]
        for s in seats { byArea[s.area, default: []].append(s) }
        var found: [(spread: Int64, seats: [Seat])] = []
        var seen: Set<[SeatID]> = []
        for area in byArea.keys.sorted() {
            let members = byArea[area]!.sorted { $0.id < $1.id }
            guard members.count >= count else { continue }
            let points = members.enumerated().map { i, s in (Int64(s.x ?? Int32(clamping: i)), Int64(s.y ?? 0)) }
            for a in members.indices {
                let nearest = members.indices.sorted {
                    (distance(points[a], points[$0]), members[$0].id) < (
                        distance(points[a], points[$1]), members[$1].id
                    )
                }.prefix(count)
                let set = nearest.sorted { members[$0].id < members[$1].id }
                let ids = set.map { members[$0].id }
                guard seen.insert(ids).inserted else { continue }
                var spread: Int64 = 0
                for i in set { for j in set { spread = max(spread, distance(points[i], points[j])) } }
                found.append((spread, set.map { members[$0] }))
            }
        }
        found.sort { ($0.spread, $0.seats[0].id) < ($1.spread, $1.seats[0].id) }
        return found.prefix(limit).map(\.seats)
    }

    /// Squared distance (exact in integers; orders like the distance).
    static func distance(_ a: (Int64, Int64), _ b: (Int64, Int64)) -> Int64 {
        let dx = a.0 - b.0
        let dy = a.1 - b.1
        return dx * dx + dy * dy
    }
}
