import DLSMSCore
import Foundation

/// Utilisation over time, per branch, area and time bucket (an hour or a day of the branch's local
/// time), from the reservations in memory (the archive holds those older than the retention).
public struct UtilisationQuery: Sendable, Hashable {
    public enum Granularity: String, Sendable, Hashable { case hour, day }
    /// The longest range a report covers.
    public static let maxRange: Timestamp = 366 * 86_400

    public var branch: String?
    public var from: Timestamp
    public var to: Timestamp
    public var granularity: Granularity

    public init(branch: String?, from: Timestamp, to: Timestamp, granularity: Granularity) {
        self.branch = branch
        self.from = from
        self.to = to
        self.granularity = granularity
    }
}

/// The figures of one bucket of one area.
public struct UtilisationFigures: Sendable, Hashable {
    /// Seat time held by reservations (confirmed, checked in, completed, no-show), in seconds.
    public var bookedSeconds: Int64 = 0
    /// Seat time checked in (from the check-in, or the start if later, to the end or now), in seconds.
    public var occupiedSeconds: Int64 = 0
    /// No-shows and cancellations, counted in the bucket of the reservation's start.
    public var noShows = 0
    public var cancellations = 0

    public init() {}

    var isEmpty: Bool { bookedSeconds == 0 && occupiedSeconds == 0 && noShows == 0 && cancellations == 0 }

    mutating func add(_ o: UtilisationFigures) {
        bookedSeconds += o.bookedSeconds
        occupiedSeconds += o.occupiedSeconds
        noShows += o.noShows
        cancellations += o.cancellations
    }
}

public struct UtilisationRow: Sendable, Hashable {
    public var branch: String
    public var area: String
    /// The bucket's first instant (local midnight or the local hour's start).
    public var bucketStart: Timestamp
    public var figures: UtilisationFigures
}

/// Booked seat time by local weekday (0 = Monday) and hour, over the report's range: the
/// busiest hours.
public struct HeatmapCell: Sendable, Hashable {
    public var branch: String
    public var weekday: Int
    public var hour: Int
    public var bookedSeconds: Int64
}

public struct UtilisationReport: Sendable {
    public var query: UtilisationQuery
    /// Rows with any activity, by branch (in the catalog's order), area, then bucket.
    public var rows: [UtilisationRow]
    /// Cells with booked time, by branch, weekday, hour.
    public var heatmap: [HeatmapCell]
}

/// The local hours of a branch's time zone over a range: their starts, and for each its local
/// day (index of the day's first hour) and weekday and hour of day.
struct HourGrid: Sendable {
    var starts: [Timestamp] = []
    var dayStart: [Int] = []
    /// The local midnight of each hour's day (a day bucket's start, even before the range).
    var midnight: [Timestamp] = []
    var weekday: [UInt8] = []
    var hourOfDay: [UInt8] = []
    let end: Timestamp

    init(from: Timestamp, to: Timestamp, calendar: Calendar) {
        end = to
        var t =
            calendar.dateInterval(of: .hour, for: Date(timeIntervalSince1970: Double(from)))?.start
            ?? Date(timeIntervalSince1970: Double(from))
        var currentDay: Date?
        while Timestamp(t.timeIntervalSince1970) < to {
            let day = calendar.startOfDay(for: t)
            if day != currentDay {
                currentDay = day
                dayStart.append(starts.count)
            } else {
                dayStart.append(dayStart.last ?? 0)
            }
            midnight.append(Timestamp(day.timeIntervalSince1970))
            starts.append(Timestamp(t.timeIntervalSince1970))
            let c = calendar.dateComponents([.weekday, .hour], from: t)
            weekday.append(UInt8(((c.weekday ?? 2) + 5) % 7))
            hourOfDay.append(UInt8(c.hour ?? 0))
            // The next local hour: the start of the one an hour on falls in, so that the grid
            // keeps to local hours across changes of 30 minutes too (Lord Howe Island).
            let later = t.addingTimeInterval(3_600)
            var next = calendar.dateInterval(of: .hour, for: later)?.start ?? later
            if next <= t { next = later }
            t = next
        }
    }

    /// The hour containing `t` (the first when `t` lies before the grid).
    func index(of t: Timestamp) -> Int {
        var lo = 0
        var hi = starts.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if starts[mid] <= t { lo = mid + 1 } else { hi = mid }
        }
        return max(0, lo - 1)
    }

    func hourEnd(_ i: Int) -> Timestamp { i + 1 < starts.count ? starts[i + 1] : end }

    /// Adds the part of `[a, b)` inside the grid to `into`, hour by hour (clipped to the range).
    func spread(_ a: Timestamp, _ b: Timestamp, lower: Timestamp, into add: (Int, Int64) -> Void) {
        let a = max(a, lower)
        let b = min(b, end)
        guard a < b, !starts.isEmpty else { return }
        var i = index(of: a)
        while i < starts.count && starts[i] < b {
            let s = max(a, starts[i])
            let e = min(b, hourEnd(i))
            if e > s { add(i, e - s) }
            i += 1
        }
    }
}

extension SeatShard {
    /// This shard's figures per `(area key, hour index)`; area key is "branch\u{0}area".
    func utilisation(grids: [String: HourGrid], from: Timestamp, now: Timestamp) -> [String: [Int: UtilisationFigures]]
    {
        var out: [String: [Int: UtilisationFigures]] = [:]
        var seatKey: [SeatID: (String, HourGrid)] = [:]
        for s in seats {
            guard let grid = grids[s.seat.branch] else { continue }
            seatKey[s.seat.id] = (s.seat.branch + "\u{0}" + s.seat.area, grid)
        }
        for slot in slots.indices where slots.id(at: slot) != 0 {
            let r = slots[slot]
            guard let (key, grid) = seatKey[r.seatID], r.end > from, r.start < grid.end else { continue }
            // Taken out while it changes: a copy left in `out` would make every change copy the
            // whole area's hours (copy on write), once per reservation.
            var figures = out.removeValue(forKey: key) ?? [:]
            switch r.status {
            case .cancelled, .noShow:
                if r.start >= from && r.start < grid.end {
                    let i = grid.index(of: r.start)
                    if r.status == .cancelled {
                        figures[i, default: .init()].cancellations += 1
                    } else {
                        figures[i, default: .init()].noShows += 1
                    }
                }
            default: break
            }
            if r.status == .confirmed || r.status == .checkedIn || r.status == .completed || r.status == .noShow {
                grid.spread(r.start, r.end, lower: from) { figures[$0, default: .init()].bookedSeconds += $1 }
            }
            if let inAt = r.checkedInAt, r.status == .checkedIn || r.status == .completed {
                let end = r.status == .checkedIn ? min(r.end, now) : r.end
                grid.spread(max(inAt, r.start), end, lower: from) {
                    figures[$0, default: .init()].occupiedSeconds += $1
                }
            }
            out[key] = figures
        }
        return out
    }
}

extension SeatEngine {
    /// Utilisation per branch, area and bucket over `[from, to)`, with the busiest-hours heatmap.
    public func utilisation(_ q: UtilisationQuery) async throws(EngineError) -> UtilisationReport {
        guard q.to > q.from else { throw .invalidTimeRange }
        guard q.to - q.from <= UtilisationQuery.maxRange else {
            throw .badRequest("a report covers at most \(UtilisationQuery.maxRange / 86_400) days")
        }
        let branches = branchList.filter { q.branch == nil || $0.name == q.branch }
        if let name = q.branch, branches.isEmpty { throw .branchNotFound(name) }
        var grids: [String: HourGrid] = [:]
        var zones: [String: HourGrid] = [:]  // one grid per time zone
        for b in branches {
            let grid = zones[b.timeZone] ?? HourGrid(from: q.from, to: q.to, calendar: OpeningHours.calendar(b.zone))
            zones[b.timeZone] = grid
            grids[b.name] = grid
        }
        let now = clock.now()
        let sendable = grids
        let parts = await fanOut(shards.map { _ in q.from }) { shard, from in
            [await shard.utilisation(grids: sendable, from: from, now: now)]
        }
        var merged: [String: [Int: UtilisationFigures]] = [:]
        for part in parts {
            for (key, hours) in part {
                for (i, f) in hours { merged[key, default: [:]][i, default: .init()].add(f) }
            }
        }
        var rows: [UtilisationRow] = []
        var heatmap: [HeatmapCell] = []
        for b in branches {
            guard let grid = grids[b.name] else { continue }
            var cells: [Int: Int64] = [:]  // weekday * 24 + hour
            let areas = merged.keys.filter { $0.hasPrefix(b.name + "\u{0}") }.sorted()
            for key in areas {
                let area = String(key.dropFirst(b.name.utf8.count + 1))
                var buckets: [Int: UtilisationFigures] = [:]
                for (i, f) in merged[key] ?? [:] {
                    cells[Int(grid.weekday[i]) * 24 + Int(grid.hourOfDay[i]), default: 0] += f.bookedSeconds
                    buckets[q.granularity == .day ? grid.dayStart[i] : i, default: .init()].add(f)
                }
                for (i, f) in buckets.sorted(by: { $0.key < $1.key }) where !f.isEmpty {
                    let start = q.granularity == .day ? grid.midnight[i] : grid.starts[i]
                    rows.append(UtilisationRow(branch: b.name, area: area, bucketStart: start, figures: f))
                }
            }
            for (cell, seconds) in cells.sorted(by: { $0.key < $1.key }) where seconds > 0 {
                heatmap.append(
                    HeatmapCell(branch: b.name, weekday: cell / 24, hour: cell % 24, bookedSeconds: seconds))
            }
        }
        return UtilisationReport(query: q, rows: rows, heatmap: heatmap)
    }
}

extension SeatShard {
    /// Up to `limit` reservations matching `filter` from slot `from` on, and the slot to go on
    /// from (`nil`: done).
    func reservations(matching filter: ReservationFilter, fromSlot from: Int, limit: Int) -> (
        [Reservation], next: Int?
    ) {
        var out: [Reservation] = []
        var slot = from
        // A turn scans a bounded number of slots, so that bookings on this shard wait little.
        let stop = min(slots.count, from + 16 * limit)
        while slot < stop && out.count < limit {
            if slots.id(at: slot) != 0 {
                let r = slots[slot]
                if filter.matches(r) { out.append(r) }
            }
            slot += 1
        }
        return (out, slot < slots.count ? slot : nil)
    }
}

extension SeatEngine {
    /// Every reservation in memory matching `filter`, handed to `body` in chunks of at most
    /// `chunk` (shard by shard, each in slot order), so that a large export is never held whole.
    /// Each chunk is read in one turn of its shard; bookings made meanwhile may or may not appear.
    public func forEachReservation(
        matching filter: ReservationFilter, chunk: Int = 4_096, _ body: ([Reservation]) async throws -> Void
    ) async rethrows {
        for shard in shards {
            var next: Int? = 0
            while let from = next {
                let (part, after) = await shard.reservations(matching: filter, fromSlot: from, limit: chunk)
                if !part.isEmpty { try await body(part) }
                next = after
            }
        }
    }
}
