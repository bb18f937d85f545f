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
    public var sseHeartbeat: Duration = .seconds(15)
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
    public var security = SecurityLimits()

    public init() {}

    var rules: BookingRules {
        var r = BookingRules.default
        r.grace = Int64(graceMinutes) * 60
        r.checkInOpensBefore = Int64(checkInOpensMinutes) * 60
        r.maxUpcomingPerUser = maxUpcomingPerUser
        r.maxConcurrentPerUser = maxConcurrentPerUser
        return r
    }
}

/// The bounds that keep one client from locking out or starving the others.
public struct SecurityLimits: Sendable, Hashable {
    /// Failed logins per student id per minute; the sixth concurrent or later attempt is 429.
    public var loginFailuresPerStudent = 5
    /// Failed logins per client address per minute.
    public var loginFailuresPerAddress = 20
    /// Registrations per client address per hour (successful or not).
    public var registrationsPerAddressPerHour = 10
    /// Keys (student ids, addresses) each limiter remembers at most: a fixed memory budget.
    public var limiterCapacity = 100_000
    /// Password hashes waiting in all, and running or waiting per client address.
    public var hashQueue = 1_000
    public var hashesPerClient = 4
    /// Places of the hash queue kept for addresses without a recent failed login.
    public var hashQueueReserve = 200

    public init() {}
}

/// Calls the engine's sweep on a timer: no-shows, completions, waitlist expiry, with a log line.
struct SweeperService: Service {
    let service: DLSMSService
    let interval: Duration
    let logger: Logger

    func run() async throws {
        while !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
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
        }
    }
}

/// Takes snapshots when due, until shutdown.
struct SnapshotService: Service {
    let durable: DurableEngine
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await durable.runPeriodicSnapshots(log: { logger.info("\($0)") })
        }
    }
}

public enum DLSMSServer {
    /// Opens (or creates and seeds) the data directory and builds the service.
    public static func makeService(
        _ config: ServerConfiguration, clock: any WallClock = SystemClock(), logger: Logger,
        announce: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }
    ) async throws -> DLSMSService {
        let hasher = PasswordHasher(
            cost: config.bcryptCost, concurrency: config.bcryptConcurrency, queueLimit: config.security.hashQueue,
            perClient: config.security.hashesPerClient, reserve: config.security.hashQueueReserve)
        // Checked before the data directory is touched: a bad secret must not leave a seeded directory.
        if let configured = config.jwtSecret, !configured.isEmpty,
            configured.utf8.count < TokenService.minimumSecretBytes
        {
            throw ConfigurationError(
                "JWT_SECRET must be at least \(TokenService.minimumSecretBytes) bytes (it has \(configured.utf8.count))"
            )
        }
        let (durable, report) = try await DurableEngine.open(
            PersistenceConfiguration(
                directory: config.dataDirectory, fsync: config.fsync, snapshotInterval: config.snapshotInterval,
                snapshotAfterBytes: config.snapshotAfterBytes),
            engine: EngineConfiguration(shardCount: config.shards, rules: config.rules), clock: clock,
            log: { logger.warning("\($0)") },
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
                "seconds": "\(report.seconds)",
            ])
        let secret = try TokenService.loadSecret(configured: config.jwtSecret, dataDirectory: config.dataDirectory)
        let tokens = await TokenService(secret: secret, lifetimeSeconds: Int64(config.jwtLifetimeHours) * 3_600)
        let service = DLSMSService(
            durable: durable, tokens: tokens, hasher: hasher, metrics: ServiceMetrics(), configuration: config)
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
        addRoutes(to: router, service: service)
        return router
    }

    /// Runs the server until SIGTERM or SIGINT: stop accepting, drain, final snapshot, flush the WAL.
    public static func run(_ config: ServerConfiguration, logger: Logger) async throws {
        let service = try await makeService(config, logger: logger)
        let app = Application(
            router: makeRouter(service),
            server: .http1(configuration: .init(additionalChannelHandlers: [ParseErrorHandler()])),
            configuration: .init(address: .hostname(config.host, port: config.port), serverName: "dlsms"),
            services: [
                SweeperService(service: service, interval: config.sweepInterval, logger: logger),
                SnapshotService(durable: service.durable, logger: logger),
            ],
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.port
                FileHandle.standardOutput.write(Data("dlsms listening on http://\(config.host):\(port)\n".utf8))
            },
            logger: logger)
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
        service.engine.notifications.finishAll()
        if let problem = await service.durable.close() {
            logger.error(
                "shut down without a final snapshot; the next start replays the WAL up to the last acknowledged write",
                metadata: ["problem": "\(problem)"])
        } else {
            logger.info("shut down: final snapshot written, WAL flushed")
        }
    }

    public static func randomPassword() -> String {
        let alphabet = Array("abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<16).map { _ in alphabet.randomElement(using: &rng)! })
    }
}
