import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSGRPC
import DLSMSHTTP
import DLSMSReplication
import DLSMSStorage
import Foundation
import Hummingbird
import Logging

/// One running node: the application layer and what the doors and the service group need
/// beside it. Its members read as the ``LibraryService``'s own (`node.engine`, `node.durable`).
@dynamicMemberLookup
public struct ServerNode: Sendable {
    public let service: LibraryService
    /// This node's replication state (the single node's when replication is off).
    public let replication: ReplicationState
    /// The cluster's coordinator, when replication is on.
    public let coordinator: HACoordinator?
    public let configuration: ServerConfiguration

    public subscript<T>(dynamicMember path: KeyPath<LibraryService, T>) -> T { service[keyPath: path] }
}

public enum DLSMSServer {
    /// Opens (or creates and seeds) the data directory and builds the node.
    public static func makeNode(
        _ config: ServerConfiguration, clock: any WallClock = SystemClock(), io: any StorageIO = PosixIO(),
        logger: Logger,
        announce: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
    ) async throws -> ServerNode {
        let hasher = PasswordHasher(
            cost: config.bcryptCost, concurrency: config.bcryptConcurrency, queueLimit: config.limits.hashQueue,
            perClient: config.limits.hashesPerClient, reserve: config.limits.hashQueueReserve)
        // Checked before the data directory is touched: a bad secret must not leave a seeded directory.
        if let configured = config.jwtSecret, !configured.isEmpty,
            configured.utf8.count < TokenService.minimumSecretBytes
        {
            throw ConfigurationError(
                "JWT_SECRET must be at least \(TokenService.minimumSecretBytes) bytes (it has \(configured.utf8.count))"
            )
        }
        // A node of a cluster chooses its role first: a standby never seeds, it copies the
        // primary's snapshot into an empty data directory.
        let coordinator =
            config.replication.enabled
            ? try HACoordinator(
                config.replication, publicBase: config.publicBase, dataDirectory: config.dataDirectory, logger: logger)
            : nil
        let start = try await coordinator?.prepare()
        var replica = false
        if case .standby = start { replica = true }
        let durable = try await openDataDirectory(
            config, hasher: hasher, replica: replica, clock: clock, io: io, logger: logger, announce: announce)
        if config.publicURL == nil && ["0.0.0.0", "::", "[::]"].contains(config.host) {
            logger.warning(
                "seat QR codes will carry \(config.publicBase), which nobody can reach: set --public-url to the address students use"
            )
        }
        let secret = try TokenService.loadSecret(configured: config.jwtSecret, dataDirectory: config.dataDirectory)
        let tokens = await TokenService(
            secret: secret, lifetimeSeconds: Int64(config.jwtLifetimeHours) * 3_600,
            cacheLimit: config.limits.tokenCache)
        if let coordinator, let start { try await coordinator.attach(durable, start: start) }
        let replication = coordinator?.state ?? ReplicationState(configuration: config.replication, role: .single)
        let service = LibraryService(
            durable: durable, tokens: tokens, hasher: hasher, metrics: ServiceMetrics(), configuration: config.app,
            secret: secret, replication: replication,
            directory: try config.identity.ldap.map { try LDAPDirectory(settings: $0, logger: logger) })
        coordinator?.onPromotion { epoch, how, node in
            do {
                try await service.audit(
                    .server, "standby.promoted", subject: "node:\(node)",
                    after: AuditChain.value { w in
                        w.object {
                            $0.field("epoch", Int64(epoch))
                            $0.field("how", how)
                        }
                    })
            } catch {
                logger.error("the promotion's audit entry could not be written", metadata: ["error": "\(error)"])
            }
        }
        try await checkDemoAccounts(service, demoData: config.demoData, logger: logger)
        return ServerNode(service: service, replication: replication, coordinator: coordinator, configuration: config)
    }

    /// Recovers the data directory, or creates and seeds a new one.
    static func openDataDirectory(
        _ config: ServerConfiguration, hasher: PasswordHasher, replica: Bool, clock: any WallClock,
        io: any StorageIO, logger: Logger, announce: @escaping @Sendable (String) -> Void
    ) async throws -> DurableEngine {
        let (durable, report) = try await DurableEngine.open(
            PersistenceConfiguration(
                directory: config.dataDirectory, fsync: config.fsync, snapshotInterval: config.snapshotInterval,
                snapshotAfterBytes: config.snapshotAfterBytes),
            engine: EngineConfiguration(
                shardCount: config.shards, rules: config.rules, streamsPerUser: config.limits.streamsPerStudent,
                streamQueue: config.limits.sseQueue, webhookPayload: Render.webhookPayload,
                webhookQueue: config.webhooks.queueLimits, mailQueue: config.mail.queue), clock: clock, io: io,
            log: { logger.warning("\($0)") },
            replica: replica,
            seed: { engine in try await seed(engine, config, hasher: hasher, announce: announce) })
        if config.mail.enabled { durable.engine.mail.enable() }
        durable.wal.onFailure { detail in
            logger.critical("storage failed: writes are refused until restart", metadata: ["error": "\(detail)"])
        }
        logger.info(
            "data directory opened",
            metadata: [
                "directory": "\(config.dataDirectory)", "seeded": "\(report.seeded)",
                "snapshot": "\(report.snapshot ?? "none")",
                "replayed": "\(report.replayedRecords)", "reservations": "\(report.reservations)",
                "seconds": "\(report.seconds)", "read_seconds": "\(report.readSeconds)",
                "webhook_queues": "\(report.outboxSpools)", "webhook_queue_bytes_read": "\(report.outboxBytesRead)",
            ])
        return durable
    }

    /// A new data directory: the original's catalog and demo data, the admin, and the load-test
    /// library when asked for.
    static func seed(
        _ engine: SeatEngine, _ config: ServerConfiguration, hasher: PasswordHasher,
        announce: @Sendable (String) -> Void
    ) async throws {
        // The demo students share the original's password; each gets a hash of its own.
        var studentHashes: [String]? = nil
        if config.demoData {
            studentHashes = []
            for _ in SeedData.studentNames { studentHashes?.append(try await hasher.hash(SeedData.password)) }
        }
        let adminPassword = config.adminPassword ?? randomPassword()
        try await engine.seed(
            studentPasswordHashes: studentHashes, adminPasswordHash: try await hasher.hash(adminPassword))
        if config.loadTestSeats > 0 {
            // Areas of 100 seats, as in a real library: a seat search answers with at most 100.
            let areas = (0..<(config.loadTestSeats + 99) / 100).map { "Load Test Area \($0 + 1)" }
            try await engine.define(branch: Branch(name: "Load Test Library", areas: areas))
            for k in 0..<config.loadTestSeats {
                try await engine.define(
                    seat: Seat(
                        id: SeatID(1_001 + k), branch: "Load Test Library", area: areas[k / 100],
                        hasPower: k % 2 == 0, hasMonitor: k % 3 == 0))
            }
        }
        if config.adminPassword == nil {
            announce(
                "Seeded a new data directory. Admin login: student_id 'admin', password '\(adminPassword)' (shown once; `dlsms users reset-password admin` sets a new one)."
            )
        }
    }

    /// With demo data, a loud warning while demo accounts keep the public password; without it, a
    /// start refuses a directory where they still do.
    static func checkDemoAccounts(_ service: LibraryService, demoData: Bool, logger: Logger) async throws {
        guard !demoData else {
            Task {
                let open = await service.demoAccountsWithPublicPassword()
                if !open.isEmpty {
                    logger.warning(
                        "DEMO ACCOUNTS WITH THE PUBLIC PASSWORD '\(SeedData.password)' EXIST: anyone can log in as them. Not for production: start with --demo-data false, and disable them or reset their passwords (dlsms users).",
                        metadata: ["accounts": "\(open.joined(separator: ","))"])
                }
            }
            return
        }
        let open = await service.demoAccountsWithPublicPassword()
        guard open.isEmpty else {
            await service.durable.close(finalSnapshot: false)
            throw ConfigurationError(
                "--demo-data false, but demo accounts still have the public password: \(open.joined(separator: ", ")); disable them or reset their passwords with `dlsms users`"
            )
        }
    }

    /// The router with every route and middleware: REST's, and the replication routes and
    /// health checks.
    public static func makeRouter(_ node: ServerNode) -> Router<APIContext> {
        let router = RESTRouter.make(
            node.service, web: node.configuration.web ?? .embedded, clustered: node.coordinator != nil)
        addReplicationRoutes(
            to: router, service: node.service, replication: node.replication, coordinator: node.coordinator)
        return router
    }

    public static func randomPassword() -> String {
        let alphabet = Array("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<16).map { _ in alphabet.randomElement(using: &rng)! })
    }
}

extension APIContext: ReplicationRequestContext {}
