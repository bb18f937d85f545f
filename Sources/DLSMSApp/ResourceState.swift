import DLSMSCore
import DLSMSEngine
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// File descriptors in use against the process's limit, every few seconds: near the limit,
/// `/healthz` answers 503 and an `error` line is logged (NIO backs off `accept` meanwhile).
public final class ResourceState: Sendable {
    public struct Figures: Sendable {
        public var openDescriptors = 0
        public var descriptorLimit = 0
        /// Within ``ResourceState/headroom`` of the limit.
        public var descriptorsExhausted = false
    }

    /// Descriptors kept free: below this many left, the process counts as exhausted.
    public static let headroom = 32
    private let state = Mutex(Figures())

    public init() {}

    public var figures: Figures { state.withLock { $0 } }

    /// Connections to accept at most under a descriptor limit, keeping the rest (at least half,
    /// at most 256) for files, the WAL, snapshots and health checks.
    public static func connectionBudget(descriptorLimit: UInt64) -> Int {
        let limit = Int(clamping: descriptorLimit)
        return max(1, limit - min(limit / 2, 256))
    }

    /// Reads the figures; returns `true` when exhaustion starts or ends (to log it once). At the
    /// connection cap counts as exhaustion too: new connections are being turned away.
    package func refresh(connections: ConnectionCounter? = nil) -> Bool {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let max = Int(clamping: limit.rlim_cur)
        // Not even the directory of descriptors can be opened: that is exhaustion too.
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? max
        let atCap = connections.map { $0.count >= $0.limit } ?? false
        return state.withLock { f in
            let exhausted = (max > 0 && open >= max - Self.headroom) || atCap
            defer { f = Figures(openDescriptors: open, descriptorLimit: max, descriptorsExhausted: exhausted) }
            return exhausted != f.descriptorsExhausted
        }
    }

    /// Raises the soft limit on open files to the hard limit; returns both, before and after.
    public static func raiseDescriptorLimit() -> (before: UInt64, after: UInt64) {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        let before = UInt64(limit.rlim_cur)
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        }
        return (before, UInt64(limit.rlim_cur))
    }
}
