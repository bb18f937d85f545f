import DLSMSCore
import Testing

/// The obvious model: a list of intervals, searched linearly.
private struct NaiveIndex {
    var items: [(start: Int64, end: Int64, handle: UInt32)] = []

    func conflicts(_ s: Int64, _ e: Int64) -> Bool { items.contains { $0.start < e && s < $0.end } }

    mutating func insert(_ s: Int64, _ e: Int64, _ h: UInt32) -> Bool {
        if conflicts(s, e) { return false }
        items.append((s, e, h))
        return true
    }

    mutating func remove(start: Int64) -> Bool {
        guard let i = items.firstIndex(where: { $0.start == start }) else { return false }
        items.remove(at: i)
        return true
    }

    mutating func shrink(start: Int64, newEnd: Int64) -> Bool {
        guard let i = items.firstIndex(where: { $0.start == start }), newEnd <= items[i].end else { return false }
        if newEnd <= start { items.remove(at: i) } else { items[i].end = newEnd }
        return true
    }

    func busy(_ s: Int64, _ e: Int64) -> [Int64] { items.filter { $0.start < e && s < $0.end }.map(\.start).sorted() }
    func at(_ t: Int64) -> UInt32? { items.first { $0.start <= t && t < $0.end }?.handle }
}

@Suite struct IntervalIndexTests {
    @Test func halfOpenIntervalsTouchWithoutConflict() {
        var index = IntervalIndex()
        do {
            let ok = index.insert(start: 100, end: 200, handle: 1)
            #expect(ok)
        }
        do {
            let ok = index.insert(start: 200, end: 300, handle: 2)
            #expect(ok)
        }
        do {
            let ok = index.insert(start: 0, end: 100, handle: 3)
            #expect(ok)
        }
        do {
            let ok = index.insert(start: 199, end: 201, handle: 4)
            #expect(!ok)
        }
        do {
            let ok = index.insert(start: 50, end: 350, handle: 5)
            #expect(!ok)
        }
        #expect(index.all.map(\.handle) == [3, 1, 2])
        #expect(index.entry(at: 200)?.handle == 2)
        #expect(index.entry(at: 300) == nil)
    }

    @Test func busyWindowAndShrink() {
        var index = IntervalIndex()
        for i in 0..<10 { index.insert(start: Int64(i) * 100, end: Int64(i) * 100 + 50, handle: UInt32(i)) }
        #expect(index.busy(start: 120, end: 330).map(\.handle) == [1, 2, 3])
        #expect(index.busy(start: 150, end: 330).map(\.handle) == [2, 3])
        #expect(index.busy(start: 149, end: 150).map(\.handle) == [1])
        #expect(index.busy(start: 150, end: 200).isEmpty)
        do {
            let ok = index.shrink(start: 300, newEnd: 310)
            #expect(ok)
        }
        #expect(index.isFree(start: 310, end: 400))
        let grew = index.shrink(start: 300, newEnd: 320)
        #expect(!grew)  // shrinking never grows
        let removed = index.remove(start: 500)
        let again = index.remove(start: 500)
        #expect(removed?.handle == 5)
        #expect(again == nil)
        #expect(index.checkInvariants())
    }

    /// Thousands of random operation sequences; the index must answer exactly as the naive model.
    @Test func agreesWithNaiveModel() {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("IntervalIndexTests.agreesWithNaiveModel seed: \(seed)")
        var rng = SplitMix64(seed: seed)
        for sequence in 0..<2_000 {
            var index = IntervalIndex()
            var model = NaiveIndex()
            let span = Int64.random(in: 50...2_000, using: &rng)
            for step in 0..<Int.random(in: 1...80, using: &rng) {
                let a = Int64.random(in: 0..<span, using: &rng)
                let b = a + Int64.random(in: 1...max(1, span / 4), using: &rng)
                let context = "seed \(seed) sequence \(sequence) step \(step)"
                switch Int.random(in: 0..<10, using: &rng) {
                case 0..<4:
                    let h = UInt32(step)
                    let got = index.insert(start: a, end: b, handle: h)
                    let want = model.insert(a, b, h)
                    #expect(got == want, "\(context)")
                case 4:
                    let start = model.items.randomElement(using: &rng)?.start ?? a
                    let got = index.remove(start: start) != nil
                    let want = model.remove(start: start)
                    #expect(got == want, "\(context)")
                case 5:
                    let start = model.items.randomElement(using: &rng)?.start ?? a
                    let newEnd = start + Int64.random(in: -5...60, using: &rng)
                    let got = index.shrink(start: start, newEnd: newEnd)
                    let want = model.shrink(start: start, newEnd: newEnd)
                    #expect(got == want, "\(context)")
                case 6, 7:
                    #expect(index.isFree(start: a, end: b) == !model.conflicts(a, b), "\(context)")
                    #expect(index.busy(start: a, end: b).map(\.start) == model.busy(a, b), "\(context)")
                default:
                    #expect(index.entry(at: a)?.handle == model.at(a), "\(context)")
                }
            }
            #expect(index.checkInvariants(), "seed \(seed) sequence \(sequence)")
            #expect(index.all.map(\.start) == model.items.map(\.start).sorted(), "seed \(seed) sequence \(sequence)")
        }
    }

    @Test func entryIsSixteenBytes() {
        #expect(MemoryLayout<IntervalIndex.Entry>.stride == 16)
        // 56 bytes of fields and one reference to the extras (nil for most reservations).
        #expect(MemoryLayout<Reservation>.stride == 64)
    }
}
