import AsyncHTTPClient
import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation
import Logging
import NIOCore
import Synchronization

/// The exit status of a node that must start again to rejoin the cluster as a standby: it lost
/// its lease as primary, or its log has a tail (or an age) the primary cannot continue. Its
/// supervisor (systemd `Restart=always`, the failover test's) starts it again.
public let rejoinExitStatus: Int32 = 75

/// One node of a replicated cluster: chooses its role at start (etcd's leader key, or the static
/// `--primary`), keeps the lease as primary, follows the primary's log as a standby, and takes
/// over when the lease lapses. See docs/high-availability.md for the failure model.
public final class HACoordinator: Sendable {
    package let configuration: ReplicationConfiguration
    package let state: ReplicationState
    package let node: String
    package let advertiseURL: String
    /// This run of the node: a standby's confirmations count only from the run that streams.
    package let instance = UUID().uuidString
    package let dataDirectory: String
    package let logger: Logger
    package let etcd: EtcdClient?
    package let client: HTTPClient
    private let durableBox = Mutex<DurableEngine?>(nil)
    /// The lease this node holds as primary (etcd), and its leader key's value.
    private let lease = Mutex<(id: Int64, value: [UInt8])?>(nil)
    private let followerTask = Mutex<Task<Void, Never>?>(nil)
    /// A standby's last applied record (LSN and checksum): what its snapshots cover.
    package let applied = Mutex<(lsn: UInt64, checksum: UInt32)>((0, 0))

    package var durable: DurableEngine { durableBox.withLock { $0 }! }
    /// Called once a standby has become primary (its epoch, how — `manual` or `election` — and this
    /// node's name): the
    /// server's audit entry.
    private let promotedHook = Mutex<(@Sendable (UInt64, String, String) async -> Void)?>(nil)

    package func onPromotion(_ hook: @escaping @Sendable (UInt64, String, String) async -> Void) {
        promotedHook.withLock { $0 = hook }
    }
    package var leaderKey: String { configuration.etcdPrefix + "/leader" }
    package var stateKey: String { configuration.etcdPrefix + "/state" }

    /// `publicBase`: this node's own address, advertised when `--advertise-url` is not set.
    public init(_ c: ReplicationConfiguration, publicBase: String, dataDirectory: String, logger: Logger)
        throws(ConfigurationError)
    {
        guard (c.secret?.utf8.count ?? 0) >= ReplicationConfiguration.minimumSecretBytes else {
            throw ConfigurationError(
                "--replication \(c.mode.rawValue) needs --replication-secret (REPLICATION_SECRET) of at least \(ReplicationConfiguration.minimumSecretBytes) bytes, the same on every node"
            )
        }
        configuration = c
        advertiseURL = c.advertiseURL ?? publicBase
        node = c.nodeName ?? advertiseURL
        self.dataDirectory = dataDirectory
        self.logger = logger
        etcd = c.etcd.isEmpty ? nil : EtcdClient(endpoints: c.etcd)
        state = ReplicationState(configuration: c, role: .standby)
        // The process-wide client (never shut down, so no path can leave one running); every
        // request has its own deadline.
        client = HTTPClient.shared
    }

    package var authorization: String { "Bearer " + (configuration.secret ?? "") }

    /// Whether `header` carries the replication secret (compared in constant time).
    package func authorized(_ header: String?) -> Bool {
        guard let header else { return false }
        return Bcrypt.constantTimeEquals(Array(header.utf8), Array(authorization.utf8))
    }

    // MARK: - Start

    /// What the start decided.
    package enum Start {
        case primary(epoch: UInt64)
        /// `nil`: no primary now; the node joins the election as a running standby does.
        case standby(primaryURL: String?)
    }

    /// Decides this node's role before its data directory is opened; a standby with an empty data
    /// directory first copies the primary's newest snapshot (and token secret) into it.
    package func prepare() async throws -> Start {
        let start: Start
        if let etcd {
            start = try await electAtStart(etcd)
        } else if let url = configuration.primaryURL {
            start = .standby(primaryURL: url)
        } else {
            start = .primary(epoch: 0)
        }
        // A primary's role is set once its epoch record is written (`attach`).
        if case .standby(let url) = start {
            state.update {
                $0.role = .standby
                $0.primaryURL = url
            }
            if let url, DataDirectory(path: dataDirectory).isEmpty { try await copySnapshot(from: url) }
        }
        return start
    }

    package struct LeaderRecord: Codable {
        var node: String
        var url: String
        var epoch: UInt64
    }
    package struct ClusterRecord: Codable {
        var epoch: UInt64
        var primary: String
        var sync: String?
        /// Where they are: a node is eligible under its name only at its own address (two
        /// nodes started under one name by mistake are not taken for each other).
        var primaryURL: String?
        var syncURL: String?
    }

    /// Another node holds the leader key under this node's name: a configuration error, which a
    /// restart does not mend (not exit 75).
    package func refuseDuplicateName(_ record: LeaderRecord) {
        guard record.node == node, record.url != advertiseURL else { return }
        logger.critical(
            "another node, at \(record.url), leads under this node's name '\(node)': give each node its own --node-name"
        )
        exit(78)
    }

    private func electAtStart(_ etcd: EtcdClient) async throws -> Start {
        var waited = false
        while true {
            do {
                if let leader = try await etcd.get(leaderKey),
                    let record = try? JSONDecoder().decode(LeaderRecord.self, from: Data(leader.value))
                {
                    refuseDuplicateName(record)
                    if record.node != node { return .standby(primaryURL: record.url) }
                    // This node's previous run still holds the key: wait for its lease to lapse.
                    if !waited { logger.info("waiting for this node's previous lease to lapse") }
                    waited = true
                } else if try await etcd.get(stateKey) != nil {
                    // A cluster with a history and no leader: this node's log may be behind
                    // another's. It opens its data as a standby and defers to the most advanced
                    // candidate exactly as a running standby does (`mayCampaign`).
                    logger.notice("no primary: joining the election as a standby")
                    return .standby(primaryURL: nil)
                } else if let epoch = try await campaign(etcd, asStandby: false) {
                    return .primary(epoch: epoch)  // a new cluster: no node has a log yet
                }
            } catch {
                logger.warning("etcd unreachable at start; retrying", metadata: ["error": "\(error)"])
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Tries to take the leader key (when this node may): the new epoch if it did.
    private func campaign(_ etcd: EtcdClient, asStandby: Bool) async throws -> UInt64? {
        let current = try await etcd.get(stateKey)
        let cluster = current.flatMap { try? JSONDecoder().decode(ClusterRecord.self, from: Data($0.value)) }
        if configuration.mode == .sync, let cluster {
            // Only the last primary and its sync standby hold every acknowledged write.
            let primary = cluster.primary == node && (cluster.primaryURL ?? advertiseURL) == advertiseURL
            let sync = cluster.sync == node && (cluster.syncURL ?? advertiseURL) == advertiseURL
            if !primary && !sync { return nil }
        }
        // A cluster record this node cannot read: a standby leaves it to a node that can.
        if cluster == nil, asStandby, current != nil { return nil }
        let epoch = (cluster?.epoch ?? 0) + 1
        let leaseID = try await etcd.grant(ttl: configuration.leaseSeconds)
        let sentAt = BootClock.now()
        let leader = Array(try JSONEncoder().encode(LeaderRecord(node: node, url: advertiseURL, epoch: epoch)))
        let next = Array(
            try JSONEncoder().encode(ClusterRecord(epoch: epoch, primary: node, sync: nil, primaryURL: advertiseURL)))
        let won = try await etcd.transaction(
            if: [.absent(leaderKey), .modRevision(stateKey, current?.modRevision ?? 0)],
            put: [(leaderKey, leader, leaseID), (stateKey, next, nil)])
        guard won else {
            try? await etcd.revoke(leaseID)
            return nil
        }
        lease.withLock { $0 = (leaseID, leader) }
        let margin = max(0.5, Double(configuration.leaseSeconds) / 4)
        let fence = LeaseFence(validUntil: sentAt + Double(configuration.leaseSeconds) - margin, margin: margin)
        state.fence.withLock { $0 = fence }
        logger.notice("took the leader key", metadata: ["epoch": "\(epoch)", "node": "\(node)"])
        return epoch
    }

    // MARK: - Becoming primary or standby

    /// Connects the opened engine: a primary writes its epoch record and gates acknowledgements;
    /// a standby refuses writes.
    package func attach(_ durable: DurableEngine, start: Start) async throws {
        durableBox.withLock { $0 = durable }
        durable.wal.enableFeed(keepBytes: configuration.feedBytes)
        switch start {
        case .primary(let epoch): try await becomePrimary(epoch: epoch)
        case .standby(let url):
            durable.engine.refuseWrites(notPrimaryError(url))
            applied.withLock { $0 = durable.wal.head }
            durable.setSnapshotCoverage { [self] in applied.withLock { $0 } }
            state.update { s in
                s.appliedLSN = durable.wal.head.lsn
                s.epoch = durable.engine.epoch?.epoch ?? 0
            }
        }
    }

    package func notPrimaryError(_ url: String?) -> EngineError {
        .unavailable(ReplicationRole.standbyMessage(primary: url))
    }

    /// Writes the epoch record (static mode: one past the newest in the log), then takes writes.
    private func becomePrimary(epoch given: UInt64) async throws {
        let engine = durable.engine
        let epoch = given > 0 ? given : (engine.epoch?.epoch ?? 0) + 1
        try engine.begin(epoch: EpochChange(epoch: epoch, node: node, at: engine.clock.now()))
        try await durable.wal.waitLocallyDurable(durable.wal.head.lsn)
        durable.setSnapshotCoverage(nil)  // every record is applied now; from here on, before it is appended
        // Whatever this log holds may have been acknowledged: a sync standby must have all of it.
        state.standbys.raiseFloor(to: durable.wal.head.lsn)
        durable.wal.setGate(PrimaryGate(replication: state, wal: durable.wal, sync: configuration.mode == .sync))
        state.update {
            $0.role = .primary
            $0.epoch = epoch
            $0.primaryURL = advertiseURL
        }
        engine.refuseWrites(nil)
        logger.notice(
            "primary", metadata: ["epoch": "\(epoch)", "node": "\(node)", "mode": "\(configuration.mode.rawValue)"])
    }

    /// Leaves the cluster's writes for good: refuses every waiting and later acknowledgement and
    /// exits, for the supervisor to start this node again as a standby.
    package func depose(_ reason: String) -> Never {
        state.update { $0.role = .deposed }
        state.fence.withLock { $0 }?.lose(reason)
        state.standbys.close("this node is no longer the primary (\(reason)); the write's outcome is unknown")
        durableBox.withLock { $0 }?.engine.refuseWrites(.unavailable("this node is no longer the primary"))
        logger.critical("deposed: \(reason); exiting to rejoin as a standby")
        exit(rejoinExitStatus)
    }

    // MARK: - Running

    /// The node's loop until shutdown: the primary keeps its lease and names its sync standby;
    /// a standby follows the primary and, with etcd, takes over when the lease lapses.
    package func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.maintenance() }
            if let etcd {
                group.addTask { await self.watchLeadership(etcd) }
            }
            if state.role == .standby { startFollowing() }
            await group.next()
            group.cancelAll()
        }
        followerTask.withLock { $0 }?.cancel()
        if state.role == .primary {
            // A clean stop hands over at once instead of after the lease; nothing is acknowledged
            // from here on, since a new primary may start as soon as the lease is gone (and a
            // `sync` write waiting for a standby must not hold the shutdown up).
            let reason = "this node is stopping; the write's outcome is unknown"
            state.update { $0.role = .deposed }
            state.fence.withLock { $0 }?.lose(reason)
            state.standbys.close(reason)
            if let (id, _) = lease.withLock({ $0 }), let etcd { try? await etcd.revoke(id) }
        }
    }

    private func startFollowing() {
        followerTask.withLock { $0 = Task { await self.follow() } }
    }

    /// Every 100 ms: names a sync standby when none is (sync), refuses writes that waited too long
    /// (`refuse`).
    private func maintenance() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(100))
            guard state.role == .primary else { continue }
            if configuration.mode == .sync {
                if configuration.syncFallback == .refuse {
                    state.standbys.expire(olderThan: configuration.syncTimeout / .seconds(1))
                }
                if state.standbys.designated == nil, let candidate = state.standbys.candidate() {
                    await designate(candidate)
                }
            }
        }
    }

    /// Names `standby` as the one whose confirmations acknowledge writes: in etcd first (so that
    /// only a node with every acknowledged write can be elected), then here.
    private func designate(_ standby: StandbyTracker.Run) async {
        if let etcd, let (_, leaderValue) = lease.withLock({ $0 }) {
            let url = state.standbys.snapshot.standbys[standby]?.url
            let record = ClusterRecord(
                epoch: state.epoch, primary: node, sync: standby.name, primaryURL: advertiseURL, syncURL: url)
            guard let bytes = try? JSONEncoder().encode(record),
                (try? await etcd.transaction(if: [.value(leaderKey, leaderValue)], put: [(stateKey, Array(bytes), nil)]))
                    == true
            else { return }
        }
        state.standbys.designate(standby)
        logger.info("sync standby", metadata: ["node": "\(standby.name)", "instance": "\(standby.instance)"])
    }

    /// With etcd: the primary renews its lease (and checks the key is still its own); a standby
    /// watches the key, follows a new primary, and campaigns when the key is gone.
    private func watchLeadership(_ etcd: EtcdClient) async {
        var lastRenewal = BootClock.now()
        var election: Election?
        while !Task.isCancelled {
            // A primary renews every sixth of its lease; a standby looks for a missing leader
            // at least every 200 ms (how soon a failover starts after the lease lapses).
            let interval = Double(configuration.leaseSeconds) / 6
            try? await Task.sleep(
                for: .milliseconds(Int((state.role == .primary ? interval : min(interval, 0.2)) * 1000)))
            switch state.role {
            case .primary:
                guard let (id, value) = lease.withLock({ $0 }) else { continue }
                let sent = BootClock.now()
                do {
                    let ttl = try await etcd.keepAlive(id)
                    if ttl <= 0 { depose("the lease expired") }
                    let leader = try await etcd.get(leaderKey)
                    if leader?.value != value { depose("the leader key is no longer this node's") }
                    state.fence.withLock { $0 }?.renewed(sentAt: sent, ttl: Double(ttl))
                    lastRenewal = sent
                } catch is CancellationError {
                    return  // stopping
                } catch {
                    if Task.isCancelled { return }
                    logger.warning("lease renewal failed", metadata: ["error": "\(error)"])
                    if BootClock.now() > lastRenewal + Double(configuration.leaseSeconds) {
                        depose("etcd unreachable for longer than the lease")
                    }
                }
            case .standby:
                do {
                    if let leader = try await etcd.get(leaderKey),
                        let record = try? JSONDecoder().decode(LeaderRecord.self, from: Data(leader.value))
                    {
                        election = nil
                        refuseDuplicateName(record)
                        if record.node != node && state.primaryURL != record.url {
                            logger.notice("following a new primary", metadata: ["url": "\(record.url)"])
                            state.update { $0.primaryURL = record.url }
                            followerTask.withLock { $0 }?.cancel()
                            startFollowing()
                        }
                    } else {
                        if election == nil { election = Election(started: BootClock.now()) }
                        guard try await mayCampaign(etcd, election: &election!) else { continue }
                        if let epoch = try await campaign(etcd, asStandby: true) {
                            if let lease = election?.lease { try? await etcd.revoke(lease) }
                            election = nil
                            lastRenewal = BootClock.now()
                            await promote(epoch: epoch)
                        }
                    }
                } catch {
                    logger.debug("etcd", metadata: ["error": "\(error)"])
                }
            case .single, .deposed: return
            }
        }
    }

    /// One election as a standby sees it: since when the leader key is missing, and the lease of
    /// this node's candidacy (`async`).
    package struct Election {
        var started: Double
        var lease: Int64?
    }

    /// In `async` mode every standby may be elected, but the one with the most of the log should
    /// be (what the others lack is lost): each publishes its last LSN under `<prefix>/candidates/`
    /// and defers, for at most one second, to a candidate that has more (or as much and a smaller
    /// name). In `sync` mode the eligible nodes hold every acknowledged write: no need to wait.
    private func mayCampaign(_ etcd: EtcdClient, election: inout Election) async throws -> Bool {
        guard configuration.mode == .async else { return true }
        let mine = durable.wal.head.lsn
        if election.lease == nil { election.lease = try await etcd.grant(ttl: configuration.leaseSeconds) }
        let key = configuration.etcdPrefix + "/candidates/"
        do {
            try await etcd.put(key + node, Array(String(mine).utf8), lease: election.lease)
        } catch {
            election.lease = nil  // expired in a long election: the next round takes a new one
            throw error
        }
        // The others need a round to publish theirs.
        guard BootClock.now() - election.started >= 0.15 else { return false }
        if BootClock.now() - election.started >= 1 { return true }
        for (name, value) in try await etcd.list(prefix: key) {
            let other = String(name.dropFirst(key.count))
            guard other != node, let lsn = UInt64(String(decoding: value, as: UTF8.self)) else { continue }
            if lsn > mine || (lsn == mine && other < node) { return false }
        }
        return true
    }

    /// A standby takes over: stops following (what it applied is durable), then becomes primary.
    package func promote(epoch: UInt64) async {
        let task = followerTask.withLock { t in
            defer { t = nil }
            return t
        }
        task?.cancel()
        await task?.value
        do {
            // Its epoch record comes after everything followed: waiting for it waits for all.
            try await becomePrimary(epoch: epoch)
        } catch {
            depose("promotion failed: \(error)")
        }
        if let hook = promotedHook.withLock({ $0 }) {
            await hook(durable.engine.epoch?.epoch ?? epoch, epoch == 0 ? "manual" : "election", node)
        }
    }
}

/// `dlsms promote`: asks a standby of a cluster without etcd to become its primary.
public enum PromoteRequest {
    public struct Refused: Error, CustomStringConvertible {
        public var description: String
    }

    /// Sends the request; the standby's answer (its new status) when it promoted itself.
    public static func send(to url: String, secret: String, force: Bool) async throws -> String {
        let client = HTTPClient.shared
        var request = HTTPClientRequest(url: url + "/replication/promote" + (force ? "?force=true" : ""))
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer " + secret)
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok else { throw Refused(description: "\(response.status.code): \(body)") }
        return body
    }
}
