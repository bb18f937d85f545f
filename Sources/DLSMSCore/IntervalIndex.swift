/// The seat-holding reservations of one seat, sorted by start.
///
/// Entries never overlap (the index refuses an overlapping insert), so sorting by start also
/// sorts by end. That makes every question a binary search:
/// - overlap check and insert: O(log n) search (+ the array shift of an insert),
/// - "what is busy in `[a, b)`": O(log n + k),
/// - remove and shrink (early checkout): O(log n).
///
/// An entry is 16 bytes: the start, the length in seconds, and a 32-bit `handle` that the owner
/// uses to find the full reservation (the shard's slot number).
public struct IntervalIndex: Sendable {
    public struct Entry: Sendable, Hashable {
        public var start: Timestamp
        public var length: UInt32
        public var handle: UInt32

        @inlinable public var end: Timestamp { start + Timestamp(length) }

        @inlinable public init(start: Timestamp, end: Timestamp, handle: UInt32) {
            precondition(end > start && end - start <= Timestamp(UInt32.max), "interval must be non-empty and bounded")
            self.start = start
            self.length = UInt32(end - start)
            self.handle = handle
        }
    }

    @usableFromInline var entries: [Entry] = []

    public init() {}

    @inlinable public var count: Int { entries.count }
    @inlinable public var isEmpty: Bool { entries.isEmpty }
    @inlinable public var all: [Entry] { entries }

    /// The position of the first entry whose end lies after `t`.
    @inlinable func firstEnding(after t: Timestamp) -> Int {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low &+ high) >> 1
            if entries[mid].end > t { high = mid } else { low = mid &+ 1 }
        }
        return low
    }

    /// The position of the entry that starts exactly at `start`, if any.
    @inlinable func position(ofStart start: Timestamp) -> Int? {
        var low = 0
        var high = entries.count
        while low < high {
            let mid = (low &+ high) >> 1
            if entries[mid].start < start { low = mid &+ 1 } else { high = mid }
        }
        return low < entries.count && entries[low].start == start ? low : nil
    }

    /// The entry that overlaps `[start, end)` first, if any.
    @inlinable public func firstConflict(start: Timestamp, end: Timestamp) -> Entry? {
        let i = firstEnding(after: start)
        return i < entries.count && entries[i].start < end ? entries[i] : nil
    }

    @inlinable public func isFree(start: Timestamp, end: Timestamp) -> Bool {
        firstConflict(start: start, end: end) == nil
    }

    /// The entry covering instant `t`, if any.
    @inlinable public func entry(at t: Timestamp) -> Entry? {
        firstConflict(start: t, end: t + 1)
    }

    /// Where `[start, end)` would go, or `nil` if it overlaps an entry. Pair with
    /// ``insert(start:end:handle:at:)`` to check and insert with one search.
    @inlinable public func insertionPoint(start: Timestamp, end: Timestamp) -> Int? {
        let i = firstEnding(after: start)
        return i < entries.count && entries[i].start < end ? nil : i
    }

    /// Inserts at a position from ``insertionPoint(start:end:)`` (the index must not have changed since).
    @inlinable public mutating func insert(start: Timestamp, end: Timestamp, handle: UInt32, at i: Int) {
        precondition(
            i <= entries.count && (i == 0 || entries[i - 1].end <= start)
                && (i == entries.count || end <= entries[i].start))
        entries.insert(Entry(start: start, end: end, handle: handle), at: i)
    }

    /// Inserts `[start, end)` unless it overlaps an entry; returns whether it was inserted.
    @inlinable @discardableResult
    public mutating func insert(start: Timestamp, end: Timestamp, handle: UInt32) -> Bool {
        let i = firstEnding(after: start)
        if i < entries.count && entries[i].start < end { return false }
        entries.insert(Entry(start: start, end: end, handle: handle), at: i)
        return true
    }

    /// Removes the entry starting at `start`; returns it, or `nil` if there is none.
    @inlinable @discardableResult
    public mutating func remove(start: Timestamp) -> Entry? {
        guard let i = position(ofStart: start) else { return nil }
        return entries.remove(at: i)
    }

    /// Moves the end of the entry starting at `start` earlier (early checkout). An empty result is removed.
    @inlinable @discardableResult
    public mutating func shrink(start: Timestamp, newEnd: Timestamp) -> Bool {
        guard let i = position(ofStart: start), newEnd <= entries[i].end else { return false }
        if newEnd <= start {
            entries.remove(at: i)
        } else {
            entries[i].length = UInt32(newEnd - start)
        }
        return true
    }

    /// The entries that overlap `[start, end)`, in order. O(log n + k).
    @inlinable public func busy(start: Timestamp, end: Timestamp) -> ArraySlice<Entry> {
        var i = firstEnding(after: start)
        let first = i
        while i < entries.count && entries[i].start < end { i &+= 1 }
        return entries[first..<i]
    }

    /// The leading entries that start at or before `t` (the only candidates for no-show and
    /// completion sweeps, since entries are ordered by both start and end).
    @inlinable public func prefix(startingAtOrBefore t: Timestamp) -> ArraySlice<Entry> {
        var i = 0
        while i < entries.count && entries[i].start <= t { i &+= 1 }
        return entries[0..<i]
    }

    /// Reserve room for `n` more entries.
    public mutating func reserveCapacity(_ n: Int) { entries.reserveCapacity(entries.count + n) }

    /// Checks the invariant: sorted by start, no overlap, no empty interval.
    public func checkInvariants() -> Bool {
        for i in entries.indices {
            if entries[i].length == 0 { return false }
            if i > 0 && entries[i - 1].end > entries[i].start { return false }
        }
        return true
    }
}
