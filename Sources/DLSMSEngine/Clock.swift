import DLSMSCore
import Dispatch
import Foundation
import Synchronization

/// The engine's source of "now". Injected so that tests and the sweeper run without sleeping.
public protocol WallClock: Sendable {
    func now() -> Timestamp
    /// A monotonic count of nanoseconds, for rates finer than a second (the booking bound).
    func nanoseconds() -> Int64
}

/// Real time, whole seconds since the epoch.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Timestamp { Timestamp(Date().timeIntervalSince1970.rounded(.down)) }
    public func nanoseconds() -> Int64 { Int64(DispatchTime.now().uptimeNanoseconds) }
}

/// A clock that moves only when told to.
public final class ManualClock: WallClock {
    private let current: Mutex<Timestamp>

    public init(_ start: Timestamp) { current = Mutex(start) }

    public func now() -> Timestamp { current.withLock { $0 } }

    /// Whole seconds only: it moves when the test moves it.
    public func nanoseconds() -> Int64 { now() &* 1_000_000_000 }

    public func set(_ t: Timestamp) { current.withLock { $0 = t } }

    public func advance(by seconds: Int64) { current.withLock { $0 += seconds } }
}
