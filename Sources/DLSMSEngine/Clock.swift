import DLSMSCore
import Foundation
import Synchronization

/// The engine's source of "now". Injected so that tests and the sweeper run without sleeping.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

/// Real time, whole seconds since the epoch.
public struct SystemClock: WallClock {
    public init() {}
    public func now() -> Timestamp { Timestamp(Date().timeIntervalSince1970.rounded(.down)) }
}

/// A clock that moves only when told to.
public final class ManualClock: WallClock {
    private let current: Mutex<Timestamp>

    public init(_ start: Timestamp) { current = Mutex(start) }

    public func now() -> Timestamp { current.withLock { $0 } }

    public func set(_ t: Timestamp) { current.withLock { $0 = t } }

    public func advance(by seconds: Int64) { current.withLock { $0 += seconds } }
}
