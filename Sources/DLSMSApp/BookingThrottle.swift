import DLSMSCore
import Synchronization

/// Booking attempts per student: a token bucket of `burst` tokens refilled at `rate` per second.
/// An attempt takes a token; without one it is refused with the seconds until the next token.
/// Keyed by the student, not the connection or address: more connections give no more attempts.
///
/// The table is bounded: a bucket that has refilled to full is the same as none and goes first;
/// if every bucket of a stripe is live, the one idle longest goes (a student it belonged to gets
/// a full bucket back, never fewer tokens than a newcomer).
public final class BookingThrottle: Sendable {
    public let rate: Double
    public let burst: Double
    /// Nanoseconds of a monotonic clock (injected by tests).
    private let clock: @Sendable () -> Int64
    private let stripes: [Stripe]
    private let perStripe: Int

    struct Bucket {
        var tokens: Double
        var at: Int64
    }

    final class Stripe: Sendable {
        let table = Mutex<[UserID: Bucket]>([:])
    }

    /// `rate` 0: no bound. `clock`: monotonic nanoseconds (``WallClock/nanoseconds()``).
    public init(rate: Double, burst: Int, capacity: Int = 200_000, clock: @escaping @Sendable () -> Int64) {
        precondition(rate >= 0 && burst >= 1 && capacity >= 16)
        self.rate = rate
        self.burst = Double(burst)
        self.clock = clock
        stripes = (0..<16).map { _ in Stripe() }
        perStripe = capacity / 16
    }

    /// Takes one attempt of `user`: nil when allowed, else the whole seconds (≥ 1) to wait.
    public func attempt(_ user: UserID) -> Int64? {
        guard rate > 0 else { return nil }
        let now = clock()
        return stripes[Int(UInt32(bitPattern: user) & 15)].table.withLock { table in
            var bucket = table[user] ?? Bucket(tokens: burst, at: now)
            bucket.tokens = min(burst, bucket.tokens + Double(max(0, now - bucket.at)) / 1e9 * rate)
            bucket.at = now
            if bucket.tokens >= 1 {
                bucket.tokens -= 1
                if table[user] == nil && table.count >= perStripe { makeRoom(&table, now: now) }
                table[user] = bucket
                return nil
            }
            table[user] = bucket
            let wait = (1 - bucket.tokens) / rate
            return max(1, Int64(wait.rounded(.up)))
        }
    }

    /// Buckets held now (for tests and metrics).
    public var count: Int { stripes.reduce(0) { $0 + $1.table.withLock { $0.count } } }

    private func makeRoom(_ table: inout [UserID: Bucket], now: Int64) {
        let rate = self.rate
        let burst = self.burst
        table = table.filter { _, b in b.tokens + Double(max(0, now - b.at)) / 1e9 * rate < burst }
        if table.count >= perStripe, let idle = table.min(by: { $0.value.at < $1.value.at })?.key {
            table[idle] = nil
        }
    }
}
