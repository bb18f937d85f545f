import ArgumentParser
import DLSMSCore
import DLSMSHTTP
import DLSMSStorage
import Foundation
import Logging

/// `dlsms serve`: the REST service. A flag wins over the environment, which wins over the default.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the DL-SMS REST service (seeds an empty data directory on first start).",
        discussion: "Each option can also be set through the environment variable named in its help; a flag wins.")

    @Option(help: "Address to listen on [DLSMS_HOST] (default 127.0.0.1).") var host: String?
    @Option(help: "Port; 0 picks a free one [DLSMS_PORT] (default 8080).") var port: Int?
    @Option(name: .customLong("data-dir"), help: "Data directory [DLSMS_DATA_DIR] (default snapshots).") var dataDir:
        String?
    @Option(help: "Durability: always | interval[:MS] | none [DLSMS_FSYNC] (default always).") var fsync: FsyncPolicy?
    @Option(help: "Shard actors [DLSMS_SHARDS] (default: processor count).") var shards: Int?
    @Option(
        name: .customLong("jwt-secret"),
        help: "Token signing secret [JWT_SECRET] (default: random, kept in the data directory, mode 0600).")
    var jwtSecret: String?
    @Option(
        name: .customLong("jwt-expiration-hours"), help: "Token lifetime in hours [JWT_EXPIRATION_HOURS] (default 24).")
    var jwtExpirationHours: Int?
    @Option(
        name: .customLong("grace-minutes"),
        help: "Check-in grace after the start, minutes [GRACE_MINUTES] (default 15).")
    var graceMinutes: Int?
    @Option(
        name: .customLong("checkin-opens-minutes"),
        help: "Check-in opens this many minutes before the start [CHECKIN_OPENS_MINUTES] (default 15).")
    var checkinOpensMinutes: Int?
    @Option(
        name: .customLong("sweep-interval"),
        help: "Seconds between sweeps (no-shows, completions) [SWEEP_INTERVAL] (default 60).")
    var sweepInterval: Int?
    @Option(
        name: .customLong("admin-password"),
        help: "Password of the seeded admin, first start only [ADMIN_PASSWORD] (default: random, printed once).")
    var adminPassword: String?
    @Option(name: .customLong("bcrypt-cost"), help: "bcrypt cost of new password hashes [BCRYPT_COST] (default 12).")
    var bcryptCost: Int?
    @Option(
        name: .customLong("bcrypt-concurrency"),
        help: "Password hashes computed at once [BCRYPT_CONCURRENCY] (default: half the processors).")
    var bcryptConcurrency: Int?
    @Option(name: .customLong("snapshot-interval"), help: "Seconds between snapshots [SNAPSHOT_INTERVAL] (default 60).")
    var snapshotInterval: Int?
    @Option(
        name: .customLong("snapshot-after-mb"),
        help: "Snapshot after this many MiB of WAL [SNAPSHOT_AFTER_MB] (default 64).")
    var snapshotAfterMB: Int?
    @Option(
        name: .customLong("sse-heartbeat"), help: "Seconds between SSE heartbeat comments [SSE_HEARTBEAT] (default 15)."
    )
    var sseHeartbeat: Int?
    @Option(
        name: .customLong("max-upcoming"),
        help: "Upcoming reservations per student [MAX_UPCOMING] (default 3; raise only for load tests).")
    var maxUpcoming: Int?
    @Option(
        name: .customLong("max-concurrent"),
        help: "Reservations per student at one instant [MAX_CONCURRENT] (default: no limit).")
    var maxConcurrent: Int?
    @Option(
        name: .customLong("load-test-seats"),
        help:
            "Load tests only: a new data directory also gets a branch with this many seats, ids 1001… [LOAD_TEST_SEATS] (default 0)."
    )
    var loadTestSeats: Int?
    @Option(
        name: .customLong("demo-data"),
        help:
            "true: a new data directory gets the demo students (public password), reservations and waitlist; false: the catalog and admin only, and a start refuses demo accounts that still have the public password [DEMO_DATA] (default true)."
    )
    var demoData: Bool?
    @Option(
        name: .customLong("self-registration"),
        help: "Students may create their own accounts with POST /auth/register [SELF_REGISTRATION] (default true).")
    var selfRegistration: Bool?
    @Option(
        name: .customLong("registrations-per-hour"),
        help: "Registrations per client address per hour [REGISTRATIONS_PER_HOUR] (default 10).")
    var registrationsPerHour: Int?
    @Option(
        name: .customLong("hashes-per-client"),
        help:
            "Password checks running or queued per client address; more are refused with 429 [HASHES_PER_CLIENT] (default 4)."
    )
    var hashesPerClient: Int?
    @Option(
        name: .customLong("trusted-proxies"),
        help:
            "Comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For/Forwarded name the client [TRUSTED_PROXIES] (default: none)."
    )
    var trustedProxies: String?
    @Option(
        name: .customLong("log-level"),
        help: "trace | debug | info | notice | warning | error [LOG_LEVEL] (default info).")
    var logLevel: String?

    func validate() throws {
        let env = ProcessInfo.processInfo.environment
        if let v = port ?? env["DLSMS_PORT"].flatMap(Int.init), !(0...65_535).contains(v) {
            throw ValidationError("port must be 0…65535")
        }
        if let v = bcryptCost ?? env["BCRYPT_COST"].flatMap(Int.init), !(4...31).contains(v) {
            throw ValidationError("bcrypt cost must be 4…31")
        }
        for (name, v) in [
            ("grace-minutes", graceMinutes), ("sweep-interval", sweepInterval), ("max-upcoming", maxUpcoming),
        ] {
            if let v, v < 0 || (name != "grace-minutes" && v == 0) {
                throw ValidationError("--\(name) must be positive")
            }
        }
    }

    func configuration() throws -> ServerConfiguration {
        let env = ProcessInfo.processInfo.environment
        func bool(_ flag: Bool?, _ name: String) throws -> Bool? {
            if let flag { return flag }
            guard let text = env[name] else { return nil }
            switch text.lowercased() {
            case "true", "1", "yes", "on": return true
            case "false", "0", "no", "off": return false
            default: throw ValidationError("\(name) must be true or false, not '\(text)'")
            }
        }
        func int(_ flag: Int?, _ name: String) throws -> Int? {
            if let flag { return flag }
            guard let text = env[name] else { return nil }
            guard let v = Int(text) else { throw ValidationError("\(name) must be an integer, not '\(text)'") }
            return v
        }
        var c = ServerConfiguration()
        c.host = host ?? env["DLSMS_HOST"] ?? c.host
        c.port = try int(port, "DLSMS_PORT") ?? c.port
        c.dataDirectory = dataDir ?? env["DLSMS_DATA_DIR"] ?? c.dataDirectory
        if let f = fsync ?? env["DLSMS_FSYNC"].flatMap(FsyncPolicy.init(argument:)) { c.fsync = f }
        c.shards = try int(shards, "DLSMS_SHARDS")
        c.jwtSecret = jwtSecret ?? env["JWT_SECRET"]
        c.jwtLifetimeHours = try int(jwtExpirationHours, "JWT_EXPIRATION_HOURS") ?? c.jwtLifetimeHours
        c.graceMinutes = try int(graceMinutes, "GRACE_MINUTES") ?? c.graceMinutes
        c.checkInOpensMinutes = try int(checkinOpensMinutes, "CHECKIN_OPENS_MINUTES") ?? c.checkInOpensMinutes
        if let s = try int(sweepInterval, "SWEEP_INTERVAL") { c.sweepInterval = .seconds(s) }
        c.adminPassword = adminPassword ?? env["ADMIN_PASSWORD"]
        c.bcryptCost = try int(bcryptCost, "BCRYPT_COST") ?? c.bcryptCost
        c.bcryptConcurrency = try int(bcryptConcurrency, "BCRYPT_CONCURRENCY") ?? c.bcryptConcurrency
        if let s = try int(snapshotInterval, "SNAPSHOT_INTERVAL") { c.snapshotInterval = .seconds(s) }
        if let m = try int(snapshotAfterMB, "SNAPSHOT_AFTER_MB") { c.snapshotAfterBytes = UInt64(m) << 20 }
        if let s = try int(sseHeartbeat, "SSE_HEARTBEAT") { c.sseHeartbeat = .seconds(s) }
        c.maxUpcomingPerUser = try int(maxUpcoming, "MAX_UPCOMING") ?? c.maxUpcomingPerUser
        c.maxConcurrentPerUser = try int(maxConcurrent, "MAX_CONCURRENT")
        c.loadTestSeats = try int(loadTestSeats, "LOAD_TEST_SEATS") ?? 0
        c.demoData = try bool(demoData, "DEMO_DATA") ?? c.demoData
        c.selfRegistration = try bool(selfRegistration, "SELF_REGISTRATION") ?? c.selfRegistration
        c.security.registrationsPerAddressPerHour =
            try int(registrationsPerHour, "REGISTRATIONS_PER_HOUR") ?? c.security.registrationsPerAddressPerHour
        guard c.security.registrationsPerAddressPerHour >= 0 else {
            throw ValidationError("registrations per hour must be 0 or more")
        }
        c.security.hashesPerClient = try int(hashesPerClient, "HASHES_PER_CLIENT") ?? c.security.hashesPerClient
        guard c.security.hashesPerClient >= 1 else { throw ValidationError("hashes per client must be 1 or more") }
        if let text = trustedProxies ?? env["TRUSTED_PROXIES"] {
            do { c.trustedProxies = try TrustedProxies(parsing: text) } catch {
                throw ValidationError(error.description)
            }
        }
        if let secret = c.jwtSecret, !secret.isEmpty, secret.utf8.count < TokenService.minimumSecretBytes {
            throw ValidationError(
                "the JWT secret must be at least \(TokenService.minimumSecretBytes) bytes (it has \(secret.utf8.count))"
            )
        }
        return c
    }

    func run() async throws {
        let config = try configuration()
        let level =
            Logger.Level(rawValue: logLevel ?? ProcessInfo.processInfo.environment["LOG_LEVEL"] ?? "info") ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "dlsms")
        let lock = try lockDataDirectory(config.dataDirectory)
        do {
            try await DLSMSServer.run(config, logger: logger)
        } catch let e as RecoveryError {
            throw fail("cannot open \(config.dataDirectory): \(e)")
        } catch let e as ConfigurationError {
            throw fail("\(e)")
        }
        withExtendedLifetime(lock) {}
    }
}
