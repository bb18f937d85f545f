import AsyncAlgorithms
import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSGRPC
import DLSMSHTTP
import DLSMSReplication
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
package struct SweeperService: Service {
    package let service: LibraryService
    package let interval: Duration
    package let logger: Logger

    package func run() async throws {
        for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
            // Audit entries past their retention leave memory (on a standby too: nothing is written).
            service.engine.pruneAudit(now: service.engine.clock.now())
            // A standby's state changes only by its primary's log, sweeps and moves included.
            guard service.replication.acceptsWrites else { continue }
            let report = await service.engine.sweep(now: service.engine.clock.now())
            service.metrics.swept(report)
            let finished = await service.engine.finishPendingErasures()
            if finished > 0 { logger.info("finished interrupted erasures", metadata: ["accounts": "\(finished)"]) }
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
            do {
                let anonymised = try await service.durable.anonymiseExpired()
                if anonymised.memory + anonymised.archive > 0 {
                    logger.info(
                        "anonymised finished reservations",
                        metadata: ["in_memory": "\(anonymised.memory)", "in_archive": "\(anonymised.archive)"])
                }
            } catch {
                logger.error("anonymising old reservations failed", metadata: ["error": "\(error)"])
            }
        }
    }
}

/// A node of a replicated cluster: its lease, its standbys, or its primary (``HACoordinator``).
package struct ReplicationService: Service {
    package let coordinator: HACoordinator

    package func run() async throws {
        await cancelWhenGracefulShutdown { await coordinator.run() }
    }
}

/// Takes snapshots when due (by time or WAL growth), until shutdown.
package struct SnapshotService: Service {
    package let durable: DurableEngine
    package let logger: Logger

    package func run() async throws {
        for await _ in AsyncTimerSequence(interval: .seconds(1), clock: .continuous).cancelOnGracefulShutdown() {
            do {
                if let (r, compacted) = try await durable.snapshotOrCompactIfDue() {
                    logger.info(
                        compacted ? "data directory compacted (after an erasure or anonymisation)" : "snapshot written",
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
package struct PersistenceService: Service {
    package let durable: DurableEngine
    package let logger: Logger

    package func run() async throws {
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
package struct StreamCloserService: Service {
    package let hub: NotificationHub
    package let logger: Logger

    package func run() async throws {
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

package struct StorageWatchService: Service {
    package let durable: DurableEngine

    package func run() async throws {
        for await _ in AsyncTimerSequence(interval: .milliseconds(100), clock: .continuous).cancelOnGracefulShutdown() {
            if let detail = durable.wal.failureDetail ?? durable.engine.writeFailure.map({ "\($0)" }) {
                throw StorageFailure(
                    description: "storage failed: \(detail); exiting so that recovery rebuilds the state")
            }
        }
    }
}

package struct ResourceMonitorService: Service {
    package let resources: ResourceState
    package let connections: ConnectionCounter
    package let logger: Logger

    package func run() async throws {
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
