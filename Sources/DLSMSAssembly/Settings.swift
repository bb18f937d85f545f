import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSGRPC
import DLSMSHTTP
import DLSMSReplication
import DLSMSStorage
import Foundation
import Logging

/// Every setting of `dlsms serve`, declared once: its flag, its environment variable, its
/// default, its help, and how its text becomes configuration. A flag wins over the environment,
/// which wins over the default; both sources go through the same parser and the same bounds, and
/// `--help` is printed from the same table.
public struct Setting: Sendable {
    public let flag: String
    public let environment: String
    public let defaultText: String
    public let help: String
    package let apply: @Sendable (inout ServerConfiguration, String) throws -> Void
}

public enum ServerSettings {
    /// The parsed settings and the log level (which is not part of the server's configuration).
    public struct Parsed: Sendable {
        public var configuration: ServerConfiguration
        public var logLevel: Logger.Level
    }

    /// Reads the settings: `arguments` (`--flag value` or `--flag=value`), then `environment`,
    /// then the YAML file named by `--config` (or `DLSMS_CONFIG`) for what the others left unset;
    /// every value is checked the same way wherever it comes from.
    public static func parse(arguments: [String], environment: [String: String]) throws(ConfigurationError) -> Parsed {
        let sources = try SettingsSources(arguments: try checkShape(arguments), environment: environment)
        var configuration = ServerConfiguration()
        for setting in table {
            guard let (text, source) = sources.text(of: setting) else { continue }
            do {
                try setting.apply(&configuration, text)
            } catch {
                throw ConfigurationError("\(source): \(error)")
            }
        }
        try configuration.grpc.validate()
        try finishIdentity(&configuration.app)
        try finishMail(&configuration.app)
        try configuration.replication.validate()
        if configuration.grpc.enabled, configuration.grpc.port != 0, configuration.grpc.port == configuration.port {
            throw ConfigurationError("--grpc-port (\(configuration.grpc.port)) must differ from --port")
        }
        let (levelText, levelSource) = sources.text(of: logLevel) ?? ("info", "default")
        guard let level = Logger.Level(rawValue: levelText.lowercased()) else {
            throw ConfigurationError(
                "\(levelSource): must be one of trace, debug, info, notice, warning, error, critical")
        }
        return Parsed(configuration: configuration, logLevel: level)
    }

    /// Only flags of the table (and `--config`, `--log-level`), each with a value: what the
    /// command-line provider would otherwise take silently (a stray word, a misspelt flag). A flag
    /// given twice counts once, its last value (a script adds to a command line); the arguments
    /// come back in `--flag=value` form.
    static func checkShape(_ arguments: [String]) throws(ConfigurationError) -> [String] {
        let known = Set((table + [logLevel, config]).map(\.flag))
        var values: [(name: String, value: String)] = []
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            guard argument.hasPrefix("--") else { throw ConfigurationError("unexpected argument '\(argument)'") }
            let body = argument.dropFirst(2)
            let name = String(body.prefix { $0 != "=" })
            guard known.contains(name) else {
                throw ConfigurationError("unknown option '--\(name)' (see dlsms serve --help)")
            }
            var value = String(body.dropFirst(name.count + 1))
            if !body.contains("=") {
                i += 1
                // The next word is the value, whatever it looks like (a password may start with --).
                guard i < arguments.count else { throw ConfigurationError("--\(name) needs a value") }
                value = arguments[i]
            }
            values.removeAll { $0.name == name }
            values.append((name, value))
            i += 1
        }
        return values.map { "--\($0.name)=\($0.value)" }
    }

    /// The settings as `--help` lists them.
    public static var helpText: String {
        var lines = ["Settings (a flag wins over its environment variable, which wins over the --config file):"]
        for s in [config] + table + [logLevel] {
            lines.append("  --\(s.flag) [\(s.environment)] (default: \(s.defaultText))")
            lines.append("      \(s.help)")
        }
        return lines.joined(separator: "\n")
    }

    /// The settings as docs/configuration.md shows them (`dlsms settings --format markdown`).
    public static var markdownTable: String {
        var lines = ["| flag | environment | default | what |", "| --- | --- | --- | --- |"]
        for s in [config] + table + [logLevel] {
            let cells = [s.defaultText, s.help].map { $0.replacingOccurrences(of: "|", with: "\\|") }
            lines.append("| `--\(s.flag)` | `\(s.environment)` | \(cells[0]) | \(cells[1]) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A configuration file with every setting commented out (`deploy/dlsms.example.yaml`,
    /// `dlsms settings --format yaml`): `## ` lines describe, a `# name: value` line may be
    /// uncommented as it is. A default that is not a value (`random, printed once`, `none`) is
    /// described, and its line left without a value.
    public static var sampleFile: String {
        var lines = [
            "# dlsms serve --config /etc/dlsms/dlsms.yaml: every setting by its flag's name (without --).",
            "# A flag wins over its environment variable, which wins over this file; each value is checked",
            "# as the flag's is. Uncomment a `# name: value` line to set it; `##` lines describe.",
            "# Generated by `dlsms settings --format yaml` from the settings table.",
        ]
        for s in table + [logLevel] {
            lines.append("")
            lines.append("## \(s.help) (\(s.environment); default: \(s.defaultText))")
            lines.append(isValue(s.defaultText) ? "# \(s.flag): \(s.defaultText)" : "# \(s.flag):")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Whether a default's text is itself a value of the setting (one word, not a placeholder).
    static func isValue(_ text: String) -> Bool {
        !text.isEmpty && !text.contains(" ") && text != "none" && !text.contains("HOST")
    }

    /// `--config`: the YAML file of settings; read before the others are applied.
    package static let config = Setting(
        flag: "config", environment: "DLSMS_CONFIG", defaultText: "none",
        help: "A YAML file of settings, named as the flags without --; flags and the environment win over it.",
        apply: { _, _ in })

    package static let logLevel = Setting(
        flag: "log-level", environment: "LOG_LEVEL", defaultText: "info",
        help: "trace | debug | info | notice | warning | error | critical", apply: { _, _ in })

    // MARK: - Value parsers

    package static func integer(_ text: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let v = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(v) else {
            throw ConfigurationError("must be an integer in \(range.lowerBound)…\(range.upperBound), not '\(text)'")
        }
        return v
    }

    package static func seconds(_ text: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Duration {
        .seconds(try integer(text, range))
    }

    /// One of the cases of `type`, by name.
    package static func choice<T: RawRepresentable<String> & CaseIterable>(_ text: String, _ type: T.Type)
        throws(ConfigurationError) -> T
    {
        guard let value = T(rawValue: text) else {
            throw ConfigurationError(
                "must be one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not '\(text)'")
        }
        return value
    }

    package static func boolean(_ text: String) throws(ConfigurationError) -> Bool {
        switch text.lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw ConfigurationError("must be true or false, not '\(text)'")
        }
    }

    package static func setting(
        _ flag: String, _ environment: String, _ defaultText: String, _ help: String,
        _ apply: @escaping @Sendable (inout ServerConfiguration, String) throws -> Void
    ) -> Setting {
        Setting(flag: flag, environment: environment, defaultText: defaultText, help: help, apply: apply)
    }

    package static let million = 1_000_000
    package static let billion = 1_000_000_000

    /// Every setting but the log level.
    public static let table: [Setting] = general + identityTable + mailTable

    private static let general: [Setting] = [
        setting("host", "DLSMS_HOST", "127.0.0.1", "Address to listen on.") { c, v in
            guard !v.isEmpty, v.utf8.count <= 255 else { throw ConfigurationError("must be a host name or address") }
            c.host = v
        },
        setting("port", "DLSMS_PORT", "8080", "Port; 0 picks a free one.") { c, v in c.port = try integer(v, 0...65_535)
        },
        setting("data-dir", "DLSMS_DATA_DIR", "snapshots", "Data directory (WAL, snapshots, archive, lock).") { c, v in
            guard !v.isEmpty else { throw ConfigurationError("must not be empty") }
            c.dataDirectory = v
        },
        setting("fsync", "DLSMS_FSYNC", "always", "Durability: always | interval[:MS] | none.") { c, v in
            guard let f = FsyncPolicy(text: v) else {
                throw ConfigurationError("must be always, interval[:MS] or none, not '\(v)'")
            }
            c.fsync = f
        },
        setting("shards", "DLSMS_SHARDS", "processor count", "Shard actors.") { c, v in
            c.shards = try integer(v, 1...1_024)
        },
        setting(
            "jwt-secret", "JWT_SECRET", "random, kept in the data directory", "Token signing secret, 32 bytes or more."
        ) { c, v in
            guard v.utf8.count >= TokenService.minimumSecretBytes else {
                throw ConfigurationError(
                    "the JWT secret must be at least \(TokenService.minimumSecretBytes) bytes (it has \(v.utf8.count))")
            }
            c.jwtSecret = v
        },
        setting("jwt-expiration-hours", "JWT_EXPIRATION_HOURS", "24", "Token lifetime in hours.") { c, v in
            c.jwtLifetimeHours = try integer(v, 1...8_760)
        },
        setting("grace-minutes", "GRACE_MINUTES", "15", "Check-in grace after the start, minutes.") { c, v in
            c.graceMinutes = try integer(v, 0...1_440)
        },
        setting(
            "checkin-opens-minutes", "CHECKIN_OPENS_MINUTES", "15", "Check-in opens this many minutes before the start."
        ) { c, v in c.checkInOpensMinutes = try integer(v, 0...1_440) },
        setting("sweep-interval", "SWEEP_INTERVAL", "60", "Seconds between sweeps (no-shows, completions).") { c, v in
            c.sweepInterval = try seconds(v, 1...3_600)
        },
        setting(
            "admin-password", "ADMIN_PASSWORD", "random, printed once",
            "Password of the seeded admin, first start only."
        ) { c, v in
            guard v.count >= 8, v.utf8.count <= 72, !v.utf8.contains(0) else {
                throw ConfigurationError("must be 8 to 72 bytes")
            }
            c.adminPassword = v
        },
        setting(
            "bcrypt-cost", "BCRYPT_COST", "12", "bcrypt cost of new password hashes (4–16; 16 is about 16 s a hash)."
        ) {
            c, v in c.bcryptCost = try integer(v, 4...16)
        },
        setting("bcrypt-concurrency", "BCRYPT_CONCURRENCY", "half the processors", "Password hashes computed at once.")
        { c, v in c.bcryptConcurrency = try integer(v, 1...256) },
        setting("snapshot-interval", "SNAPSHOT_INTERVAL", "60", "Seconds between snapshots.") { c, v in
            c.snapshotInterval = try seconds(v, 1...86_400)
        },
        setting("snapshot-after-mb", "SNAPSHOT_AFTER_MB", "64", "Snapshot after this many MiB of WAL.") { c, v in
            c.snapshotAfterBytes = UInt64(try integer(v, 1...1_048_576)) << 20
        },
        setting("max-upcoming", "MAX_UPCOMING", "3", "Upcoming reservations per student (raise only for load tests).") {
            c, v in c.maxUpcomingPerUser = try integer(v, 1...billion)
        },
        setting("max-concurrent", "MAX_CONCURRENT", "no limit", "Reservations per student at one instant.") { c, v in
            c.maxConcurrentPerUser = try integer(v, 1...billion)
        },
        setting("max-waiting", "MAX_WAITING", "10", "Live waitlist entries per student.") { c, v in
            c.maxWaitingPerUser = try integer(v, 1...10_000)
        },
        setting(
            "booking-attempts-per-second", "BOOKING_ATTEMPTS_PER_SECOND", "5",
            "Booking attempts per student and second (a token bucket; 0: no bound). Beyond: 429 rate_limited."
        ) { c, v in c.bookingAttemptsPerSecond = try integer(v, 0...1_000) },
        setting(
            "booking-attempt-burst", "BOOKING_ATTEMPT_BURST", "10",
            "Booking attempts a student may make at once before the per-second bound applies."
        ) { c, v in c.bookingAttemptBurst = try integer(v, 1...10_000) },
        setting(
            "waitlist-hold-minutes", "WAITLIST_HOLD_MINUTES", "10",
            "Minutes a freed seat is held for the first in line (never beyond the window's start plus the grace)."
        ) { c, v in c.offerHoldMinutes = try integer(v, 1...1_440) },
        setting(
            "retention-days", "RETENTION_DAYS", "90",
            "Finished reservations stay in memory this long, then move to the archive file."
        ) { c, v in c.retentionDays = try integer(v, 1...36_500) },
        setting(
            "anonymise-after-days", "ANONYMISE_AFTER_DAYS", "365",
            "Finished reservations lose their link to their student this many days after their end (the statistics stay)."
        ) { c, v in c.anonymiseAfterDays = try integer(v, 1...36_500) },
        setting(
            "audit-retention-days", "AUDIT_RETENTION_DAYS", "730",
            "Entries of the audit trail of staff actions are kept this many days."
        ) { c, v in c.auditRetentionDays = try integer(v, 1...36_500) },
        setting(
            "privacy-notice", "PRIVACY_NOTICE", "none (the built-in notice)",
            "An HTML fragment (at most 256 KiB, UTF-8) shown at /privacy instead of the built-in privacy notice; read once at start."
        ) { c, v in
            guard let data = FileManager.default.contents(atPath: v), data.count <= 262_144,
                let text = String(data: data, encoding: .utf8), !text.isEmpty
            else { throw ConfigurationError("must name a readable UTF-8 file of at most 256 KiB") }
            c.privacyNotice = text
        },
        setting(
            "history-per-student", "HISTORY_PER_STUDENT", "200",
            "Finished reservations kept in memory per student (older ones move to the archive)."
        ) { c, v in c.historyPerStudent = try integer(v, 1...1_000_000) },
        setting(
            "load-test-seats", "LOAD_TEST_SEATS", "0",
            "Load tests only: a new data directory also gets a branch with this many seats, ids 1001… (at most 100000: areas of 100 seats, and a branch holds at most 1000 areas in the snapshot format)"
        ) { c, v in c.loadTestSeats = try integer(v, 0...100_000) },
        setting(
            "demo-data", "DEMO_DATA", "true",
            "A new data directory gets the demo students (public password), reservations and waitlist; false: the catalog and admin only, and a start refuses demo accounts that still have the public password."
        ) { c, v in c.demoData = try boolean(v) },
        setting(
            "public-occupancy", "PUBLIC_OCCUPANCY", "false",
            "GET /public/occupancy answers (free and total seats now, per branch and area, no sign-in); false: 404."
        ) { c, v in c.publicOccupancy = try boolean(v) },
        setting(
            "public-occupancy-origins", "PUBLIC_OCCUPANCY_ORIGINS", "none",
            "Comma-separated web origins (https://library.example.edu) whose pages may read /public/occupancy (CORS); * for any."
        ) { c, v in
            let origins = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !origins.isEmpty, origins.count <= 100,
                origins.allSatisfy({ o in
                    o == "*"
                        || (URL(string: o).map {
                            ["http", "https"].contains($0.scheme ?? "") && $0.host?.isEmpty == false && $0.path.isEmpty
                                && $0.query == nil && o.utf8.count <= 200
                        } ?? false)
                })
            else { throw ConfigurationError("must be * or comma-separated origins like https://library.example.edu") }
            c.publicOccupancyOrigins = origins
        },
        setting(
            "self-registration", "SELF_REGISTRATION", "true",
            "Students may create their own accounts (POST /auth/register)."
        ) { c, v in c.selfRegistration = try boolean(v) },
        setting("registrations-per-hour", "REGISTRATIONS_PER_HOUR", "10", "Registrations per client address per hour.")
        {
            c, v in c.limits.registrationsPerAddressPerHour = try integer(v, 1...billion)
        },
        setting(
            "hashes-per-client", "HASHES_PER_CLIENT", "4",
            "Password checks running or queued per client address; more are refused with 429."
        ) { c, v in c.limits.hashesPerClient = try integer(v, 1...million) },
        setting(
            "trusted-proxies", "TRUSTED_PROXIES", "none",
            "Comma-separated addresses or CIDR ranges of reverse proxies whose forwarding header (--proxy-header) names the client."
        ) { c, v in
            let parsed = try TrustedProxies(parsing: v)
            guard !parsed.isEmpty else { throw ConfigurationError("names no address or range") }
            c.trustedProxies.ranges = parsed.ranges
        },
        setting(
            "proxy-header", "PROXY_HEADER", "x-forwarded-for",
            "The forwarding header the trusted proxies write: x-forwarded-for | forwarded (only that one is read)."
        ) { c, v in
            guard let h = TrustedProxies.Header(rawValue: v.lowercased()) else {
                throw ConfigurationError("must be x-forwarded-for or forwarded, not '\(v)'")
            }
            c.trustedProxies.header = h
        },
        setting(
            "public-url", "DLSMS_PUBLIC_URL", "http://HOST:PORT",
            "The address people reach the server at (scheme, host, port, path prefix), for the URLs in seat QR codes."
        ) { c, v in
            guard let url = URL(string: v), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
                url.host?.isEmpty == false, url.query == nil, url.fragment == nil, v.utf8.count <= 100,
                (1...65_535).contains(url.port ?? 80), url.user == nil
            else { throw ConfigurationError("must be an http(s) URL without query, at most 100 bytes") }
            c.publicURL = v.hasSuffix("/") ? String(v.dropLast()) : v
        },
        setting(
            "web-dir", "DLSMS_WEB_DIR", "none (the web app built into the binary)",
            "Serve the web app from this directory instead (read once at start): for development, or a site's own copy."
        ) { c, v in
            c.web = try WebApp.directory(v)
        },
        setting(
            "webhook-hosts", "WEBHOOK_HOSTS", "none (webhooks are off)",
            "Comma-separated host names or addresses that webhook endpoints may point at."
        ) { c, v in
            let hosts = v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard !hosts.isEmpty, hosts.count <= 100, hosts.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 255 }) else {
                throw ConfigurationError("must be a comma-separated list of host names or addresses")
            }
            c.webhooks.allowedHosts = Set(hosts)
        },
        setting(
            "webhook-backoff-ms", "WEBHOOK_BACKOFF_MS", "1000",
            "First webhook retry delay in milliseconds; it doubles (with jitter) up to an hour, for 25 hours."
        ) { c, v in c.webhooks.backoffMilliseconds = try integer(v, 1...600_000) },
        setting(
            "webhook-queue-events", "WEBHOOK_QUEUE_EVENTS", "100000",
            "Webhook events kept on disk per endpoint; beyond it (or --webhook-queue-mb) new events are dropped and counted."
        ) { c, v in c.webhooks.queueEvents = try integer(v, 1...10_000_000) },
        setting(
            "webhook-queue-mb", "WEBHOOK_QUEUE_MB", "64",
            "MiB of webhook events kept on disk per endpoint; beyond it new events are dropped and counted."
        ) { c, v in c.webhooks.queueMegabytes = try integer(v, 1...65_536) },
        setting(
            "backup-dir", "DLSMS_BACKUP_DIR", "none (POST /admin/backup is off)",
            "Directory where POST /admin/backup writes consistent online backups."
        ) { c, v in
            guard !v.isEmpty else { throw ConfigurationError("must not be empty") }
            c.backupDirectory = v
        },
        setting("max-connections", "MAX_CONNECTIONS", "4096", "Open HTTP connections; beyond it requests get 503.") {
            c, v in c.limits.connections = try integer(v, 1...million)
        },
        setting(
            "request-timeout", "REQUEST_TIMEOUT", "30",
            "Seconds a request may take to arrive whole (headers and body) before the connection is closed."
        ) { c, v in c.limits.requestTimeout = try seconds(v, 1...3_600) },
        setting(
            "connections-per-address", "CONNECTIONS_PER_ADDRESS", "256",
            "Open connections per client address (trusted proxies excepted); beyond it, 503."
        ) { c, v in c.limits.connectionsPerAddress = try integer(v, 1...million) },
        setting(
            "idle-timeout", "IDLE_TIMEOUT", "60",
            "Seconds an idle keep-alive connection, or a stalled request, stays open."
        ) { c, v in c.limits.idleTimeout = try seconds(v, 1...86_400) },
        setting("sse-heartbeat", "SSE_HEARTBEAT", "15", "Seconds between SSE heartbeat comments.") { c, v in
            c.limits.sseHeartbeat = try seconds(v, 1...3_600)
        },
        setting(
            "sse-write-timeout", "SSE_WRITE_TIMEOUT", "30",
            "Seconds a write to a stalled SSE reader may take before the stream is closed."
        ) { c, v in c.limits.sseWriteTimeout = try seconds(v, 1...3_600) },
        setting("grpc", "DLSMS_GRPC", "true", "Serve the original's gRPC interface (proto/library.proto) too.") {
            c, v in c.grpc.enabled = try boolean(v)
        },
        setting("grpc-host", "DLSMS_GRPC_HOST", "127.0.0.1", "gRPC listening address (an IPv4 or IPv6 address).") {
            c, v in
            guard GRPCConfiguration.isIPAddress(v) else {
                throw ConfigurationError("must be an IP address, not '\(v)'")
            }
            c.grpc.host = v
        },
        setting("grpc-port", "DLSMS_GRPC_PORT", "9090", "gRPC port (plaintext HTTP/2); 0 picks a free one.") { c, v in
            c.grpc.port = try integer(v, 0...65_535)
        },
        setting(
            "grpc-trust-user-id", "DLSMS_GRPC_TRUST_USER_ID", "false",
            "Compatibility with the original's unchanged gRPC clients: calls without a token are trusted to act for the user_id they name (with staff rights). Refused unless gRPC listens on a loopback address."
        ) { c, v in c.grpc.trustUserID = try boolean(v) },
        setting(
            "grpc-max-streams", "DLSMS_GRPC_MAX_STREAMS", "100",
            "Concurrent gRPC calls (HTTP/2 streams) per connection."
        ) { c, v in c.grpc.maxConcurrentStreams = try integer(v, 1...10_000) },
        setting(
            "shutdown-timeout", "SHUTDOWN_TIMEOUT", "20",
            "Seconds SIGTERM waits for streams and requests to drain before cancelling them (the final snapshot comes after)."
        ) { c, v in c.limits.shutdownTimeout = try seconds(v, 1...3_600) },
        setting(
            "replication", "DLSMS_REPLICATION", "off",
            "off | async | sync: take part in a replicated cluster (docs/high-availability.md). async acknowledges after the local sync; sync once a standby has the write durable too."
        ) { c, v in c.replication.mode = try choice(v, ReplicationConfiguration.Mode.self) },
        setting(
            "replication-secret", "DLSMS_REPLICATION_SECRET", "none",
            "Shared by every node of a cluster, 16 bytes or more: standbys present it to read the primary's log."
        ) { c, v in
            guard v.utf8.count >= ReplicationConfiguration.minimumSecretBytes, v.utf8.count <= 1_024 else {
                throw ConfigurationError("must be 16 to 1024 bytes")
            }
            c.replication.secret = v
        },
        setting("node-name", "DLSMS_NODE_NAME", "the advertised URL", "This node's name in the cluster.") { c, v in
            guard (1...128).contains(v.utf8.count), v.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
                throw ConfigurationError("must be 1 to 128 ASCII characters without spaces")
            }
            c.replication.nodeName = v
        },
        setting(
            "advertise-url", "DLSMS_ADVERTISE_URL", "the public URL",
            "Where the other nodes (and clients sent away from a standby) reach this node's HTTP port."
        ) { c, v in c.replication.advertiseURL = try httpURL(v) },
        setting(
            "etcd", "DLSMS_ETCD", "none",
            "etcd client URLs, comma-separated (e.g. http://127.0.0.1:2379): the primary holds a leased key there; failover is automatic. None: static roles (--primary, dlsms promote)."
        ) { c, v in
            c.replication.etcd = try v.split(separator: ",").map { try httpURL(String($0)) }
            guard !c.replication.etcd.isEmpty else { throw ConfigurationError("must name at least one URL") }
        },
        setting("etcd-prefix", "DLSMS_ETCD_PREFIX", "/dlsms", "The cluster's keys in etcd start with this.") {
            c, v in
            guard v.hasPrefix("/"), (2...100).contains(v.utf8.count), !v.hasSuffix("/") else {
                throw ConfigurationError("must start with / and not end with it, 2 to 100 bytes")
            }
            c.replication.etcdPrefix = v
        },
        setting("lease-seconds", "DLSMS_LEASE_SECONDS", "3", "The primary's lease in etcd (seconds).") { c, v in
            c.replication.leaseSeconds = try integer(v, 2...60)
        },
        setting(
            "primary", "DLSMS_PRIMARY", "none",
            "Without etcd: follow the primary at this URL as a standby. Without it (and without etcd) this node is the primary."
        ) { c, v in c.replication.primaryURL = try httpURL(v) },
        setting(
            "sync-timeout-ms", "DLSMS_SYNC_TIMEOUT_MS", "2000",
            "sync: how long a write waits for a standby's confirmation before --sync-fallback refuse answers 503."
        ) { c, v in c.replication.syncTimeout = .milliseconds(try integer(v, 10...600_000)) },
        setting(
            "sync-fallback", "DLSMS_SYNC_FALLBACK", "wait",
            "sync, while no standby confirms: wait (writes wait for one) or refuse (new writes get 503 at once; waiting ones after --sync-timeout-ms). Never a silent switch to async."
        ) { c, v in c.replication.syncFallback = try choice(v, ReplicationConfiguration.SyncFallback.self) },
        setting(
            "replication-max-lag", "DLSMS_REPLICATION_MAX_LAG", "2",
            "Seconds a standby may be behind and still answer /healthz/standby with 200."
        ) { c, v in c.replication.maxLag = try seconds(v, 1...3_600) },
    ]

    package static func httpURL(_ v: String) throws(ConfigurationError) -> String {
        guard let url = URL(string: v), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
            url.host?.isEmpty == false, url.query == nil, url.fragment == nil, v.utf8.count <= 200,
            (1...65_535).contains(url.port ?? 80), url.user == nil
        else { throw ConfigurationError("must be an http(s) URL without query, at most 200 bytes, not '\(v)'") }
        return v.hasSuffix("/") ? String(v.dropLast()) : v
    }
}
