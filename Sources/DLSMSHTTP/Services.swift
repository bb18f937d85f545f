import AsyncAlgorithms
import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

// The long-running pieces of `dlsms serve`, each a swift-service-lifecycle `Service` in one
// `ServiceGroup`. The group shuts them down in the reverse of their order in ``DLSMSServer/run``:
// event streams end first, then the HTTP server drains, then the timers stop, and last the
// persistence service writes the final snapshot and flushes the WAL.

/// Calls the engine's sweep on a timer: no-shows, completions, waitlist expiry, the move of old
/// finished reservations to the archive; with a log line of what it did.
struct SweeperService: Service {
    let service: DLSMSService
    let interval: Duration
    let logger: Logger

    func run() async throws {
        for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
            // A standby's state changes only by its primary's log, sweeps and moves included.
            guard service.replication.acceptsWrites else { continue }
            let report = await service.engine.sweep(now: service.engine.clock.now())
            service.metrics.swept(report)
            if !report.isEmpty {
                logger.info(
                    "sweep",
                    metadata: [
                        "no_shows": "\(report.noShows.count)", "completed": "\(report.completed.count)",
                        "notified": "\(report.notified.count)", "expired": "\(report.expired.count)",
                    ])
            }
            do {
                let archived = try await service.durable.archiveFinished()
                if archived > 0 { logger.info("archived finished reservations", metadata: ["count": "\(archived)"]) }
            } catch {
                logger.error("moving finished reservations to the archive failed", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// A node of a replicated cluster: its lease, its standbys, or its primary (``HACoordinator``).
struct ReplicationService: Service {
    let coordinator: HACoordinator

    func run() async throws {
        await cancelWhenGracefulShutdown { await coordinator.run() }
    }
}

/// Takes snapshots when due (by time or WAL growth), until shutdown.
struct SnapshotService: Service {
    let durable: DurableEngine
    let logger: Logger

    func run() async throws {
        for await _ in AsyncTimerSequence(interval: .seconds(1), clock: .continuous).cancelOnGracefulShutdown() {
            do {
                if let r = try await durable.snapshotIfDue() {
                    logger.info(
                        "snapshot written",
                        metadata: [
                            "file": "\(r.name)", "reservations": "\(r.reservations)", "bytes": "\(r.bytes)",
                            "seconds": "\(r.totalSeconds)",
                        ])
                }
            } catch {
                logger.error("snapshot failed", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// Last to stop: once everything in front of it has drained, writes the final snapshot and
/// flushes and closes the WAL, even if the drain was cut short by the shutdown timeout.
struct PersistenceService: Service {
    let durable: DurableEngine
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()  // returns on shutdown, or throws on cancellation: close either way
        let durable = self.durable
        let problem = await Task { await durable.close() }.value  // not cancelled with this task
        if let problem {
            logger.error(
                "shut down without a final snapshot; the next start replays the WAL up to the last acknowledged write",
                metadata: ["problem": "\(problem)"])
        } else {
            logger.info("shut down: final snapshot written, WAL flushed")
        }
    }
}

/// First to stop: ends every live event stream with a comment that tells the client to
/// reconnect, so that the HTTP server's drain is not held by streams that never end.
struct StreamCloserService: Service {
    let hub: NotificationHub
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        let open = hub.streamCount
        hub.finishAll()
        logger.info("event streams ended for shutdown", metadata: ["streams": "\(open)"])
    }
}

/// The WAL failed: the process stops (fail-stop). The group then shuts down gracefully and
/// `dlsms serve` exits non-zero, so a supervisor restarts it and recovery rebuilds the state.
public struct StorageFailure: Error, CustomStringConvertible {
    public var description: String
}

struct StorageWatchService: Service {
    let durable: DurableEngine

    func run() async throws {
        for await _ in AsyncTimerSequence(interval: .milliseconds(100), clock: .continuous).cancelOnGracefulShutdown() {
            if let detail = durable.wal.failureDetail ?? durable.engine.writeFailure.map({ "\($0)" }) {
                throw StorageFailure(
                    description: "storage failed: \(detail); exiting so that recovery rebuilds the state")
            }
        }
    }
}

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
    func refresh(connections: ConnectionCounter? = nil) -> Bool {
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

struct ResourceMonitorService: Service {
    let resources: ResourceState
    let connections: ConnectionCounter
    let logger: Logger

    func run() async throws {
        _ = resources.refresh(connections: connections)
        for await _ in AsyncTimerSequence(interval: .seconds(2), clock: .continuous).cancelOnGracefulShutdown() {
            guard resources.refresh(connections: connections) else { continue }
            let f = resources.figures
            let metadata: Logger.Metadata = [
                "open_files": "\(f.openDescriptors)", "limit": "\(f.descriptorLimit)",
                "connections": "\(connections.count)", "connections_cap": "\(connections.limit)",
            ]
            if f.descriptorsExhausted {
                logger.error(
                    "file descriptors nearly exhausted or connections at the cap: new connections get 503 and /healthz answers 503",
                    metadata: metadata)
            } else {
                logger.notice("file descriptors available again", metadata: metadata)
            }
        }
    }
}
