import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Testing

@testable import DLSMSApp

@Suite struct SeatFragmentsTests {
    func plain(_ v: SeatView) -> [UInt8] {
        var w = JSONWriter()
        w.object { Render.seatFields(v, &$0) }
        return w.bytes
    }

    func cached(_ v: SeatView, _ fragments: SeatFragments) -> [UInt8] {
        var w = JSONWriter()
        Render.seat(v, fragments([v])[0], &w)
        return w.bytes
    }

    /// Random seats (escapes, empty and absent fields, maintenance) in random states: the cached
    /// rendering is byte for byte the plain one, and an edited seat is rendered again, not served
    /// from the cache.
    @Test func aCachedSeatIsRenderedAsThePlainOneAndFollowsEdits() {
        let seed = testSeed("SeatFragmentsTests")
        var rng = SplitMix64(seed: seed)
        let texts = ["", "A-12", "quote \" back \\ nl \n tab \t", "é 😀 </script>", "\u{01}"]
        let fragments = SeatFragments()
        for _ in 0..<2_000 {
            var seat = Seat(
                id: SeatID.random(in: 1...40, using: &rng), branch: texts.randomElement(using: &rng)!,
                area: texts.randomElement(using: &rng)!, hasPower: Bool.random(using: &rng),
                hasMonitor: Bool.random(using: &rng))
            seat.label = texts.randomElement(using: &rng)!
            seat.notes = texts.randomElement(using: &rng)!
            seat.accessible = Bool.random(using: &rng)
            seat.inMaintenance = Bool.random(using: &rng)
            seat.x = Bool.random(using: &rng) ? Int32.random(in: -3...300, using: &rng) : nil
            seat.y = Bool.random(using: &rng) ? Int32.random(in: -3...300, using: &rng) : nil
            let view = SeatView(
                seat: seat, occupiedNow: Bool.random(using: &rng), isAvailable: Bool.random(using: &rng))
            #expect(cached(view, fragments) == plain(view), "seed \(seed)")
        }
        // Several seats in one call, in their order.
        let views = (1...3).map {
            SeatView(
                seat: Seat(id: $0, branch: "B", area: "A", hasPower: true, hasMonitor: false), occupiedNow: false,
                isAvailable: true)
        }
        #expect(fragments(views).map(\.seat.id) == [1, 2, 3])
    }
}
