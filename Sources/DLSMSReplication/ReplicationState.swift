import DLSMSApp
import DLSMSCore
import DLSMSStorage
import Foundation
import Synchronization

/// How a node takes part in a replicated cluster (`--replication`, see README "High availability").
public struct ReplicationConfiguration: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// One node, no replication (the default).
        case off
        /// Acknowledge after the local sync; standbys follow as fast as they can.
        case async
        /// Acknowledge once a standby has the write durable too (RPO 0).
        case sync
    }

    /// What a `sync` primary does with writes while no standby confirms them.
    public enum SyncFallback: String, Sendable, CaseIterable {
        /// Writes wait (new ones too) until a standby confirms them.
        case wait
        /// New writes are refused with 503 at once; a write already made waits at most
        /// ``syncTimeout`` and then gets 503 (its outcome unknown to the writer).
        case refuse
    }

    public var mode: Mode = .off
    /// This node's name in the cluster (default: its advertised address).
    public var nodeName: String?
    /// Where the other nodes and the proxy reach this node (default: the public URL).
    public var advertiseURL: String?
    /// Shared by every node: standbys present it to read the primary's log.
    public var secret: String?
    /// etcd's client URLs; none: static roles (`--primary`, `dlsms promote`).
    public var etcd: [String] = []
    public var etcdPrefix = "/dlsms"
    /// The leader key's lease (seconds).
    public var leaseSeconds = 3
    /// Static roles (no etcd): follow the primary at this URL; none: this node is the primary.
    public var primaryURL: String?
    public var syncTimeout: Duration = .seconds(2)
    public var syncFallback: SyncFallback = .wait
    /// `/healthz/standby` answers 200 while the standby is at most this far behind.
    public var maxLag: Duration = .seconds(2)
    /// Durable log kept in memory for standbys (older frames are read from the segments).
    public var feedBytes = 32 << 20

    public init() {}

    public var enabled: Bool { mode != .off }

    /// Settings that only make sense together.
    package func validate() throws(ConfigurationError) {
        if mode == .off {
            if !etcd.isEmpty || primaryURL != nil {
                throw ConfigurationError("--etcd and --primary need --replication async or sync")
            }
            return
        }
        guard secret != nil else {
            throw ConfigurationError(
                "--replication \(mode.rawValue) needs --replication-secret (DLSMS_REPLICATION_SECRET), the same on every node"
            )
        }
        if !etcd.isEmpty && primaryURL != nil {
            throw ConfigurationError("--primary is for clusters without etcd; with --etcd the primary is elected")
        }
    }
    public static let minimumSecretBytes = 16
}

/// Seconds on `CLOCK_BOOTTIME`: it never jumps with the wall clock and goes on counting while the
/// process is stopped (SIGSTOP) or the machine suspended, so a lease checked against it cannot
/// look younger than it is.
package enum BootClock {
    package static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_BOOTTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// This node's place in the cluster, for routes, middleware and health checks.
public final class ReplicationState: ReplicationStatus {
    public typealias Role = ReplicationRole

    package struct State {
        var role: Role
        var primaryURL: String?
        var epoch: UInt64 = 0
        /// Standby: the last LSN both applied and durable here, the primary's durable LSN as last
        /// announced, and when this standby last had everything announced.
        var appliedLSN: UInt64 = 0
        var primaryLSN: UInt64 = 0
        var caughtUpAt = BootClock.now()
        var connected = false
    }

    package let configuration: ReplicationConfiguration
    private let state: Mutex<State>
    /// Set on a primary of a cluster with leases: whether it may acknowledge now.
    package let fence = Mutex<LeaseFence?>(nil)
    /// Set on a primary: the standbys and their confirmations.
    package let standbys = StandbyTracker()

    package init(configuration: ReplicationConfiguration, role: Role) {
        self.configuration = configuration
        state = Mutex(State(role: role))
    }

    public var role: Role { state.withLock { $0.role } }
    public var primaryURL: String? { state.withLock { $0.primaryURL } }
    public var epoch: UInt64 { state.withLock { $0.epoch } }

    package func update(_ body: (inout State) -> Void) { state.withLock { body(&$0) } }

    public var refusesNewWrites: Bool {
        role == .primary && configuration.mode == .sync && configuration.syncFallback == .refuse
            && standbys.designated == nil
    }

    /// The role as this node tells others: a primary whose lease no longer holds is `deposed`
    /// (it acknowledges nothing and exits once it notices), not `primary`.
    public var reportedRole: Role {
        let role = self.role
        return role == .primary && !acceptsWrites ? .deposed : role
    }

    /// Whether this node takes writes: the single node, or a primary whose lease holds.
    public var acceptsWrites: Bool {
        switch role {
        case .single: return true
        case .primary: return fence.withLock { $0 }?.holds ?? true
        case .standby, .deposed: return false
        }
    }

    /// A standby's lag: records behind the primary's last announcement, and seconds since it last
    /// had everything announced (grows while the primary is silent or unreachable).
    public var lag: (records: UInt64, seconds: Double) {
        state.withLock { s in
            let behind = s.primaryLSN > s.appliedLSN ? s.primaryLSN - s.appliedLSN : 0
            return (behind, behind == 0 && s.connected ? 0 : max(0, BootClock.now() - s.caughtUpAt))
        }
    }
}

/// A time on the boot clock, shared between tasks.
package final class BootStamp: Sendable {
    private let value = Mutex(BootClock.now())
    package func touch() { value.withLock { $0 = BootClock.now() } }
    package var age: Double { BootClock.now() - value.withLock { $0 } }
}

/// A primary's lease as far as it can know it: valid until the last renewal's send time plus the
/// TTL, less a safety margin against clock drift. Acknowledgements wait while it is not known to
/// hold, and are refused for good once it is lost.
package final class LeaseFence: Sendable {
    private struct State {
        var validUntil: Double
        var lost: String?
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let state: Mutex<State>
    package let margin: Double

    package init(validUntil: Double, margin: Double) {
        state = Mutex(State(validUntil: validUntil))
        self.margin = margin
    }

    package var holds: Bool { state.withLock { $0.lost == nil && BootClock.now() < $0.validUntil } }

    /// A renewal sent at `sentAt` (boot clock) was granted `ttl` seconds.
    package func renewed(sentAt: Double, ttl: Double) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            guard s.lost == nil else { return [] }
            s.validUntil = max(s.validUntil, sentAt + ttl - margin)
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    package func lose(_ reason: String) {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { s in
            if s.lost == nil { s.lost = reason }
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    /// Returns while the lease holds; waits for a renewal while it is in doubt; throws once lost.
    package func check() async throws(EngineError) {
        while true {
            let verdict: Bool? = state.withLock { s in
                if s.lost != nil { return false }
                return BootClock.now() < s.validUntil ? true : nil
            }
            switch verdict {
            case true?: return
            case false?: throw .notAcknowledged("this node is no longer the primary; the write's outcome is unknown")
            case nil:
                await withCheckedContinuation { c in
                    let now: Bool = state.withLock { s in
                        if s.lost != nil || BootClock.now() < s.validUntil { return true }
                        s.waiters.append(c)
                        return false
                    }
                    if now { c.resume() }
                }
            }
        }
    }
}

/// A primary's standbys: each one's confirmed (durable) LSN, which one counts for `sync`
/// acknowledgements, and the writes waiting for it.
package final class StandbyTracker: Sendable {
    /// One run of a standby: its name and the random id of its run (a restart, or a second
    /// process started under the same name by mistake, is another run, known apart).
    package struct Run: Hashable, Sendable {
        var name: String
        var instance: String
    }
    package struct Standby: Sendable {
        /// Where the standby can be reached (its advertised URL).
        var url: String
        var durableLSN: UInt64 = 0
        var streams = 0
    }
    private struct Waiter {
        var lsn: UInt64
        var since: Double
        var continuation: CheckedContinuation<EngineError?, Never>
    }
    private struct State {
        var standbys: [Run: Standby] = [:]
        /// The standby whose confirmations acknowledge writes (`sync`); in etcd mode it is named in
        /// etcd before its confirmations count.
        var designated: Run?
        var confirmedLSN: UInt64 = 0
        var waiters: [Waiter] = []
        var closed: String?
    }
    private let state = Mutex(State())

    package var snapshot: (standbys: [Run: Standby], designated: Run?) {
        state.withLock { ($0.standbys, $0.designated) }
    }
    package var designated: Run? { state.withLock { $0.designated } }

    /// A stream to a run of `node` opened; whether another run already streams under that name.
    @discardableResult
    package func connected(_ node: String, instance: String, url: String = "") -> Bool {
        state.withLock { s in
            let run = Run(name: node, instance: instance)
            s.standbys[run, default: Standby(url: url)].streams += 1
            return s.standbys.keys.contains { $0.name == node && $0.instance != instance }
        }
    }

    /// A stream to a run ended: if it was the designated standby, nobody confirms until another is.
    package func disconnected(_ node: String, instance: String) {
        state.withLock { s in
            let run = Run(name: node, instance: instance)
            s.standbys[run]?.streams -= 1
            if s.standbys[run]?.streams ?? 0 <= 0 {
                s.standbys[run] = nil
                if s.designated == run { s.designated = nil }
            }
        }
    }

    /// A run of `node` has everything up to `lsn` durable. Only a run that streams counts.
    package func confirmed(_ node: String, instance: String, lsn: UInt64) {
        let ready: [Waiter] = state.withLock { s in
            let run = Run(name: node, instance: instance)
            guard var standby = s.standbys[run] else { return [] }
            standby.durableLSN = max(standby.durableLSN, lsn)
            s.standbys[run] = standby
            guard s.designated == run else { return [] }
            s.confirmedLSN = max(s.confirmedLSN, lsn)
            return release(&s)
        }
        for w in ready { w.continuation.resume(returning: nil) }
    }

    /// `run` now counts (it has been named where a new leader will look, if anywhere).
    package func designate(_ run: Run) {
        let ready: [Waiter] = state.withLock { s in
            guard let standby = s.standbys[run], standby.durableLSN >= s.confirmedLSN else { return [] }
            s.designated = run
            s.confirmedLSN = standby.durableLSN
            return release(&s)
        }
        for w in ready { w.continuation.resume(returning: nil) }
    }

    private func release(_ s: inout State) -> [Waiter] {
        var ready: [Waiter] = []
        let confirmed = s.confirmedLSN
        s.waiters.removeAll { w in
            if w.lsn <= confirmed {
                ready.append(w)
                return true
            }
            return false
        }
        return ready
    }

    /// The standby to designate next (the most advanced one), once it has everything that may
    /// have been acknowledged: what earlier sync standbys confirmed, and the floor.
    package func candidate() -> Run? {
        state.withLock { s in
            let needed = s.confirmedLSN
            return s.standbys.filter { $0.value.durableLSN >= needed }.max {
                $0.value.durableLSN < $1.value.durableLSN
            }?
            .key
        }
    }

    /// Everything up to `lsn` may have been acknowledged before (by this node in an earlier epoch,
    /// or by the primary it took over from): a sync standby must have it before it counts.
    package func raiseFloor(to lsn: UInt64) { state.withLock { $0.confirmedLSN = max($0.confirmedLSN, lsn) } }

    /// Waits until the designated standby has confirmed `lsn`.
    package func wait(for lsn: UInt64) async throws(EngineError) {
        let error: EngineError? = await withCheckedContinuation { c in
            let now: EngineError?? = state.withLock { s in
                if let closed = s.closed { return .some(.notAcknowledged(closed)) }
                if s.designated != nil && s.confirmedLSN >= lsn { return .some(nil) }
                s.waiters.append(Waiter(lsn: lsn, since: BootClock.now(), continuation: c))
                return nil
            }
            if let now { c.resume(returning: now) }
        }
        if let error { throw error }
    }

    /// Refuses the writes that have waited longer than `timeout` seconds (fallback `refuse`).
    package func expire(olderThan timeout: Double) {
        let now = BootClock.now()
        let expired: [Waiter] = state.withLock { s in
            var out: [Waiter] = []
            s.waiters.removeAll { w in
                if now - w.since >= timeout {
                    out.append(w)
                    return true
                }
                return false
            }
            return out
        }
        for w in expired {
            w.continuation.resume(
                returning: .notAcknowledged(
                    "no standby confirmed the write in time; it is durable on the primary, but its outcome is unknown"))
        }
    }

    /// Refuses every waiting and later write with `reason` (deposed).
    package func close(_ reason: String) {
        let all: [Waiter] = state.withLock { s in
            s.closed = reason
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in all { w.continuation.resume(returning: .notAcknowledged(reason)) }
    }

    package var waiting: Int { state.withLock { $0.waiters.count } }
}

/// What a primary's acknowledgement waits for: a standby's confirmation (`sync`), the local
/// sync, then the lease (with etcd), checked last, right before the answer. The standby's
/// confirmation comes first because it nearly always arrives last (the standby syncs the frames
/// after it receives them): one suspension per write instead of two.
package struct PrimaryGate: AcknowledgementGate {
    package let replication: ReplicationState
    package let wal: WriteAheadLog
    package let sync: Bool

    package func acknowledge(_ lsn: UInt64) async throws(EngineError) {
        if sync { try await replication.standbys.wait(for: lsn) }
        try await wal.waitLocallyDurable(lsn)
        if let fence = replication.fence.withLock({ $0 }) { try await fence.check() }
    }
}
