import DLSMSCore
import DLSMSEngine
import Synchronization

/// Attempts per key (a student id, a client address) in a fixed window, in a table of fixed
/// size.
///
/// An attempt is *reserved* before the work it guards (a bcrypt) starts, so concurrent attempts
/// count at once: with a limit of 5, at most 5 are ever evaluated in a window, however many
/// arrive together. A reservation whose work did not run is ``release(_:now:)``d; a success may
/// ``reset(_:)`` its key.
///
/// The table holds at most `capacity` keys. When it is full, keys whose window has passed go
/// first, then the oldest window: the memory is a fixed budget whatever the keys sent, and a key
/// can only be evicted by `capacity` newer keys, each of which costs its sender a guarded attempt.
public final class AttemptLimiter: Sendable {
    public let window: Int64
    public let capacity: Int

    private struct Entry {
        var count: Int
        var windowStart: Timestamp
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Keys in the order their windows started (some stale: their entry was reset or renewed).
        var order: [(key: String, windowStart: Timestamp)] = []
        var head = 0
    }

    private let state = Mutex(State())

    public init(window: Int64, capacity: Int) {
        precondition(window > 0 && capacity > 0)
        self.window = window
        self.capacity = capacity
    }

    /// Reserves one attempt under each `(key, limit)`, all or none. `nil` when reserved;
    /// otherwise the seconds until the first refusing key may try again.
    public func reserve(_ keys: [(key: String, limit: Int)], now: Timestamp) -> Int64? {
        state.withLock { s in
            for (key, limit) in keys {
                if let e = s.entries[key], now - e.windowStart < window, e.count >= limit {
                    return max(1, e.windowStart + window - now)
                }
            }
            for (key, _) in keys {
                if let e = s.entries[key], now - e.windowStart < window {
                    s.entries[key]!.count = e.count + 1
                } else {
                    Self.makeRoom(&s, now: now, window: window, capacity: capacity)
                    s.entries[key] = Entry(count: 1, windowStart: now)
                    s.order.append((key, now))
                }
            }
            return nil
        }
    }

    /// Gives back an attempt whose work did not run (the hash queue was full).
    public func release(_ key: String, now: Timestamp) {
        state.withLock { s in
            guard let e = s.entries[key], now - e.windowStart < window, e.count > 0 else { return }
            s.entries[key]!.count = e.count - 1
        }
    }

    /// Forgets a key (a successful login clears the student's failures).
    public func reset(_ key: String) { _ = state.withLock { $0.entries.removeValue(forKey: key) } }

    /// Attempts counted for `key` in its current window.
    public func count(_ key: String, now: Timestamp) -> Int {
        state.withLock { s in
            guard let e = s.entries[key], now - e.windowStart < window else { return 0 }
            return e.count
        }
    }

    /// Keys held now (for tests and metrics); never more than ``capacity``.
    public var size: Int { state.withLock { $0.entries.count } }

    private static func makeRoom(_ s: inout State, now: Timestamp, window: Int64, capacity: Int) {
        // Drop stale queue slots and expired windows from the front; then, if still full, the oldest.
        while s.head < s.order.count {
            let (key, start) = s.order[s.head]
            guard let e = s.entries[key], e.windowStart == start else {
                s.head += 1  // stale: reset or renewed since
                continue
            }
            if now - start >= window || s.entries.count >= capacity {
                s.entries[key] = nil
                s.head += 1
                continue
            }
            break
        }
        if s.head > 1_024 && s.head * 2 > s.order.count {
            s.order.removeFirst(s.head)
            s.head = 0
        }
    }
}
