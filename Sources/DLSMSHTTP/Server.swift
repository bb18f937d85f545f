import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// Every setting of `dlsms serve`, with its default.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var dataDirectory = "snapshots"
    public var fsync: FsyncPolicy = .always
    public var shards: Int?
    public var jwtSecret: String?
    public var jwtLifetimeHours = 24
    public var graceMinutes = 15
    public var checkInOpensMinutes = 15
    public var sweepInterval: Duration = .seconds(60)
    public var adminPassword: String?
    public var bcryptCost = 12
    public var bcryptConcurrency = max(1, ProcessInfo.processInfo.activeProcessorCount / 2)
    public var snapshotInterval: Duration = .seconds(60)
    public var snapshotAfterBytes: UInt64 = 64 << 20
    /// Upcoming seat-holding reservations per student (contract default 3; raise for load tests).
    public var maxUpcomingPerUser = 3
    /// Seat-holding reservations per student at one instant (`nil`: no limit, the default).
    public var maxConcurrentPerUser: Int?
    /// For load tests only: a new data directory also gets a "Load Test Library" with this many
    /// seats (ids 1001…), so that bookings do not run out of free slots. 0 (the default) adds none.
    public var loadTestSeats = 0
    /// A new data directory gets the original's demo students (public password `password123`),
    /// reservations and waitlist. Off, it gets the catalog and the admin only, and a start refuses
    /// a data directory whose demo accounts still have the public password.
    public var demoData = true
    /// Students may create their own accounts (`POST /auth/register`); off, only staff can.
    public var selfRegistration = true
    /// Proxies whose `X-Forwarded-For` / `Forwarded` name the client (none by default).
    public var trustedProxies = TrustedProxies()
    /// Every bound and timeout.
    public var limits = Limits()
    /// Where `POST /admin/backup` writes backups (none: backups over HTTP are off).
    public var backupDirectory: String?
    /// The address people reach the server at, for the URLs in seat codes (none: http://HOST:PORT).
    public var publicURL: String?
    /// The web app served at `/` when `--web-dir` gives one; nil: the files built into the binary
    /// (gzipped only then, not also when a directory replaces them).
    public var web: WebApp?
    /// Where webhooks may point, and their retry pace.
    public var webhooks = WebhookSettings()

    /// ``publicURL``, or this server's own address.
    public var publicBase: String { publicURL ?? "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }
    /// Live waitlist entries per student.
    public var maxWaitingPerUser = BookingRules.default.maxWaitingPerUser
    /// Minutes a freed seat is held for the first in line.
    public var offerHoldMinutes = 10
    /// Finished reservations stay in memory this many days, then move to the archive file.
    public var retentionDays = 90
    /// Finished reservations kept in memory per student (older ones move to the archive).
    public var historyPerStudent = 200
    /// The gRPC front end (the original's `library.proto`): where it listens, or off.
    public var grpc = GRPCConfiguration()
    /// Replication and failover (off by default).
    public var replication = ReplicationConfiguration()

    public init() {}

    var rules: BookingRules {
        var r = BookingRules.default
        r.grace = Int64(graceMinutes) * 60
        r.checkInOpensBefore = Int64(checkInOpensMinutes) * 60
        r.maxUpcomingPerUser = maxUpcomingPerUser
        r.maxConcurrentPerUser = maxConcurrentPerUser
        r.maxWaitingPerUser = maxWaitingPerUser
        r.offerHold = Int64(offerHoldMinutes) * Seconds.minute
        r.retention = Int64(retentionDays) * Seconds.day
        r.historyPerUser = historyPerStudent
        return r
    }
}

public enum DLSMSServer {
    /// Opens (or creates and seeds) the data directory and builds the service.
    public static func makeService(
        _ config: ServerConfiguration, clock: any WallClock = SystemClock(), io: any StorageIO = PosixIO(),
        logger: Logger,
        announce: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
    ) async throws -> DLSMSService {
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
        let coordinator = config.replication.enabled ? try HACoordinator(config, logger: logger) : nil
        let start = try await coordinator?.prepare()
        var replica = false
        if case .standby = start { replica = true }
        let (durable, report) = try await DurableEngine.open(
            PersistenceConfiguration(
                directory: config.dataDirectory, fsync: config.fsync, snapshotInterval: config.snapshotInterval,
                snapshotAfterBytes: config.snapshotAfterBytes),
            engine: EngineConfiguration(
                shardCount: config.shards, rules: config.rules, streamsPerUser: config.limits.streamsPerStudent,
                streamQueue: config.limits.sseQueue), clock: clock, io: io,
            log: { logger.warning("\($0)") },
            replica: replica,
            seed: { engine in
                // The demo students share the original's password; each gets a hash of its own.
                var studentHashes: [String]? = nil
                if config.demoData {
                    studentHashes = []
                    for _ in SeedData.studentNames { studentHashes?.append(try await hasher.hash(SeedData.password)) }
                }
                let adminPassword = config.adminPassword ?? Self.randomPassword()
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
                                hasPower: k % 2 == 0,
                                hasMonitor: k % 3 == 0))
                    }
                }
                if config.adminPassword == nil {
                    announce(
                        "Seeded a new data directory. Admin login: student_id 'admin', password '\(adminPassword)' (shown once; `dlsms users reset-password admin` sets a new one)."
                    )
                }
            })
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
            ])
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
        let service = DLSMSService(
            durable: durable, tokens: tokens, hasher: hasher, metrics: ServiceMetrics(), configuration: config,
            secret: secret, coordinator: coordinator)
        if config.demoData {
            Task {
                let open = await service.demoAccountsWithPublicPassword()
                if !open.isEmpty {
                    logger.warning(
                        "DEMO ACCOUNTS WITH THE PUBLIC PASSWORD '\(SeedData.password)' EXIST: anyone can log in as them. Not for production: start with --demo-data false, and disable them or reset their passwords (dlsms users).",
                        metadata: ["accounts": "\(open.joined(separator: ","))"])
                }
            }
        } else {
            let open = await service.demoAccountsWithPublicPassword()
            guard open.isEmpty else {
                await durable.close(finalSnapshot: false)
                throw ConfigurationError(
                    "--demo-data false, but demo accounts still have the public password: \(open.joined(separator: ", ")); disable them or reset their passwords with `dlsms users`"
                )
            }
        }
        return service
    }

    /// The router with every route and middleware.
    public static func makeRouter(_ service: DLSMSService) -> Router<APIContext> {
        let router = Router(context: APIContext.self)
        router.add(middleware: RequestMetricsMiddleware(metrics: service.metrics))
        // One line per request at debug level, tokens redacted; every log line of a request
        // carries hb.request.id.
        router.add(middleware: RequestLogMiddleware(level: .debug))
        router.add(middleware: APIErrorMiddleware())
        router.add(middleware: ClientAddressMiddleware(proxies: service.configuration.trustedProxies))
        if service.coordinator != nil {
            router.add(middleware: ReplicationMiddleware(replication: service.replication))
        }
        addRoutes(to: router, service: service)
        addWebRoutes(to: router, web: service.configuration.web ?? .embedded)
        return router
    }

    /// Runs the server until SIGTERM or SIGINT, in this order:
    /// 1. the port is bound before the data directory is touched (a port in use fails the start
    ///    with nothing seeded);
    /// 2. the data directory is opened (recovered, or seeded);
    /// 3. on SIGTERM: event streams end (with a comment telling clients to reconnect), the HTTP
    ///    server stops accepting and drains in-flight requests, for at most
    ///    ``Limits/shutdownTimeout`` (then the rest is cancelled); the timers stop; then the final
    ///    snapshot is written and the WAL flushed, and the process exits 0.
    /// A storage failure shuts the group down the same way and the process exits non-zero.
    public static func run(_ config: ServerConfiguration, logger: Logger) async throws {
        let limit = ResourceState.raiseDescriptorLimit()
        // Connections the descriptor limit can hold with room to spare: beyond it the server stops
        // accepting (connections wait in the kernel's backlog) instead of running into EMFILE,
        // where NIO's accept would fail again and again without ever waiting.
        let acceptBudget = ResourceState.connectionBudget(descriptorLimit: limit.after)
        // The cap that is answered with 503 stays below what the process accepts, so that there is
        // always room to accept a connection and say so (and for /healthz to say 503).
        let cap = max(1, min(config.limits.connections, acceptBudget - 16))
        logger.info(
            "file descriptor limit",
            metadata: [
                "before": "\(limit.before)", "now": "\(limit.after)", "accepting_at_most": "\(acceptBudget)",
                "connections_cap": "\(cap)",
            ])
        var capped = config
        capped.limits.connections = cap
        let config = capped
        let service = try await makeService(config, logger: logger)
        let limits = config.limits
        let connections = service.connections
        let app = Application(
            router: makeRouter(service),
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [
                        ParseErrorHandler(),
                        ConnectionGuard(
                            counter: connections, requestTimeout: limits.requestTimeout,
                            exempt: config.trustedProxies),
                    ],
                    idleTimeout: .init(limits.idleTimeout),
                    httpDecoderConfiguration: .init(
                        maxHeaderFieldSize: limits.headerBytes, maxHeaderListSize: limits.headerBytes))),
            configuration: .init(
                address: .hostname(config.host, port: config.port), serverName: "dlsms",
                availableConnectionsDelegate: .maximum(acceptBudget, logger: logger)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.port
                FileHandle.standardOutput.write(Data("dlsms listening on http://\(config.host):\(port)\n".utf8))
            },
            logger: logger)
        // The gRPC door drains with the HTTP server, side by side: after the event streams end,
        // before the timers and the final snapshot.
        let grpc =
            config.grpc.enabled
            ? GRPCFrontEndService(
                service: service, logger: logger,
                announce: { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }) : nil
        var group = ServiceGroupConfiguration(
            services: [
                .init(service: PersistenceService(durable: service.durable, logger: logger)),
                .init(service: SweeperService(service: service, interval: config.sweepInterval, logger: logger)),
                .init(service: SnapshotService(durable: service.durable, logger: logger)),
                .init(
                    service: ResourceMonitorService(
                        resources: service.resources, connections: service.connections, logger: logger)),
                .init(service: FrontDoorsService(http: app, grpc: grpc)),
                .init(service: StreamCloserService(hub: service.engine.notifications, logger: logger)),
                .init(service: WebhookDeliveryService(service: service, logger: logger)),
                .init(
                    service: StorageWatchService(durable: service.durable),
                    failureTerminationBehavior: .gracefullyShutdownGroup),
            ] + (service.coordinator.map { [.init(service: ReplicationService(coordinator: $0))] } ?? []),
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        group.maximumGracefulShutdownDuration = limits.shutdownTimeout
        try await ServiceGroup(configuration: group).run()
    }

    public static func randomPassword() -> String {
        let alphabet = Array("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<16).map { _ in alphabet.randomElement(using: &rng)! })
    }
}
