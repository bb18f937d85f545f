import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation

/// The settings of the application layer, with their defaults.
public struct AppConfiguration: Sendable {
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
    /// `GET /public/occupancy` answers (off: 404), and the web origins it allows (CORS; `*`: any).
    public var publicOccupancy = false
    public var publicOccupancyOrigins: [String] = []
    /// Proxies whose `X-Forwarded-For` / `Forwarded` name the client (none by default).
    public var trustedProxies = TrustedProxies()
    /// Every bound and timeout.
    public var limits = Limits()
    /// Campus sign-in: which sources, and who is staff.
    public var identity = IdentitySettings()
    /// Where `POST /admin/backup` writes backups (none: backups over HTTP are off).
    public var backupDirectory: String?
    /// The address people reach the server at, for the URLs in seat codes (none: http://HOST:PORT).
    public var publicURL: String?
    /// Where webhooks may point, and their retry pace.
    public var webhooks = WebhookSettings()
    /// How emails leave (none: email is off), the sender, the retry pace.
    public var mail = MailSettings()

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
    /// Finished reservations are anonymised this many days after their end.
    public var anonymiseAfterDays = 365
    /// Audit entries are kept this many days.
    public var auditRetentionDays = 730
    /// The operator's privacy notice (an HTML fragment, `--privacy-notice FILE`); nil: the
    /// built-in one.
    public var privacyNotice: String?
    /// Booking attempts per student and second (0: no bound), and at once (``BookingThrottle``).
    public var bookingAttemptsPerSecond = 5
    public var bookingAttemptBurst = 10

    public init() {}

    package var rules: BookingRules {
        var r = BookingRules.default
        r.grace = Int64(graceMinutes) * 60
        r.checkInOpensBefore = Int64(checkInOpensMinutes) * 60
        r.maxUpcomingPerUser = maxUpcomingPerUser
        r.maxConcurrentPerUser = maxConcurrentPerUser
        r.maxWaitingPerUser = maxWaitingPerUser
        r.offerHold = Int64(offerHoldMinutes) * Seconds.minute
        r.retention = Int64(retentionDays) * Seconds.day
        r.historyPerUser = historyPerStudent
        r.anonymiseAfter = Int64(anonymiseAfterDays) * Seconds.day
        r.auditRetention = Int64(auditRetentionDays) * Seconds.day
        return r
    }
}
