import DLSMSCore
import DLSMSEngine
import Synchronization

/// The members of each seat's JSON that change only when the seat itself does (all but its
/// `status` and `is_available`), rendered once per version of the seat: a search answers with
/// up to hundreds of seats, and rendering them was a fifth of its CPU. An entry is used only
/// while the seat is equal to the one it was rendered from, so an edited seat is rendered again;
/// there is one entry per seat id, so the cache is bounded by the catalog.
package final class SeatFragments: Sendable {
    /// A class: copying a struct holding the seat retained each of its strings, which cost as
    /// much as the rendering it saved.
    package final class Entry: Sendable {
        let seat: Seat
        /// `{` and the members before the state, up to the opening quote of `status`'s value.
        let opening: [UInt8]
        /// From the comma after `is_available`'s value to the closing brace.
        let closing: [UInt8]

        init(_ seat: Seat) {
            self.seat = seat
            var head = JSONWriter()
            Render.seatHead(seat, &head)
            var tail = JSONWriter()
            Render.seatTail(seat, &tail)
            opening = [UInt8(ascii: "{")] + head.bytes + Array(#","status":""#.utf8)
            closing = [UInt8(ascii: ",")] + tail.bytes + [UInt8(ascii: "}")]
        }
    }

    private let entries = Mutex<[SeatID: Entry]>([:])

    package init() {}

    /// About the size of a search answer made of `parts`, to reserve it at once.
    package static func answerSize(_ parts: [Entry]) -> Int {
        parts.reduce(64) { $0 + $1.opening.count + $1.closing.count + 40 }
    }

    /// How many of `parts`, from the first, fit in an answer of `budget` bytes (at least one).
    package static func fitting(_ parts: [Entry], budget: Int) -> Int {
        var size = 128
        for (i, p) in parts.enumerated() {
            size += p.opening.count + p.closing.count + 40
            if size > budget { return max(1, i) }
        }
        return parts.count
    }

    /// The entries of `views`' seats, in order (one lock for the lot).
    package func callAsFunction(_ views: [SeatView]) -> [Entry] {
        entries.withLock { cache in
            views.map { v in
                if let e = cache[v.seat.id], e.seat == v.seat { return e }
                let e = Entry(v.seat)
                cache[v.seat.id] = e
                return e
            }
        }
    }
}
