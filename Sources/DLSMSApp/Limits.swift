import DLSMSCore
import DLSMSEngine
import Foundation

/// Every bound and timeout of the service, in one place. Each has a default here; those an
/// operator may change are settings (``ServerSettings``), and the README lists them all.
/// The engine's own per-student bounds are ``BookingRules`` (upcoming reservations, waiting
/// entries, what finished history stays in memory).
public struct Limits: Sendable, Hashable {
    // MARK: Requests and connections

    /// Request bodies; larger ones are 413.
    public var bodyBytes = Limits.defaultBodyBytes
    /// The body bound every JSON route reads with (made once: a `Limits()` per request read the
    /// processor count from cgroup files, a tenth of the CPU of a booking storm).
    public static let defaultBodyBytes = 64 * 1024
    /// A header line, and all headers together (and so the URL); larger ones are 431.
    public var headerBytes = 80 * 1024
    /// Open connections; a request on a connection beyond them is answered 503 and the connection
    /// closed.
    public var connections = 4_096
    /// A keep-alive connection with no request (or a request that stops arriving) for this long is
    /// closed.
    public var idleTimeout: Duration = .seconds(60)
    /// A request must arrive whole (headers and body) within this long of its first line, however
    /// slowly it trickles in; otherwise the connection is closed.
    public var requestTimeout: Duration = .seconds(30)
    /// Open connections per client address (trusted proxies excepted); beyond it, 503.
    public var connectionsPerAddress = 256

    // MARK: Server-Sent Events

    /// Live streams per student; opening one more closes the student's oldest.
    public var streamsPerStudent = 8
    /// Seconds between heartbeat comments.
    public var sseHeartbeat: Duration = .seconds(15)
    /// A write to a stream that takes longer (a stalled reader) closes the stream; the client
    /// resumes with `Last-Event-ID`.
    public var sseWriteTimeout: Duration = .seconds(30)
    /// Notifications queued for one stream; beyond it the stream is closed (never silently
    /// thinned), and the client resumes with `Last-Event-ID`.
    public var sseQueue = 1_000

    // MARK: Shutdown

    /// SIGTERM: streams are ended, the HTTP server drains; after this long whatever still runs is
    /// cancelled. The final snapshot and the WAL flush come after, whatever happened.
    public var shutdownTimeout: Duration = .seconds(20)

    // MARK: Passwords and accounts

    /// Failed logins per student id per minute; the sixth concurrent or later attempt is 429.
    public var loginFailuresPerStudent = 5
    /// Failed logins per client address per minute.
    public var loginFailuresPerAddress = 20
    /// Registrations per client address per hour (successful or not).
    public var registrationsPerAddressPerHour = 10
    /// Keys (student ids, addresses) each limiter remembers at most: a fixed memory budget.
    public var limiterCapacity = 100_000
    /// Password hashes waiting in all.
    public var hashQueue = 1_000
    /// Password hashes running or waiting per client address.
    public var hashesPerClient = 4
    /// Places of the hash queue kept for addresses without a recent failed login.
    public var hashQueueReserve = 200
    /// Verified tokens cached (by text); the cache is emptied when it is full.
    public var tokenCache = 100_000

    // MARK: Listings

    /// Page size of a student's own listings (default and maximum), and the default of the admin
    /// listings.
    public var pageSize = 1_000
    /// The largest `limit` an admin listing accepts (as it always has).
    public var adminPageSize = 10_000
    /// The most items an admin listing's page holds: a larger `limit` is served as this many, so
    /// every answer stays under 1 MB (a reservation is about 200 bytes of JSON, an account about
    /// 130); clients page by `count` and `total`.
    public var adminPageServed = 2_000
    /// Seats in one page of a seat search (`GET /seats`, gRPC `GetSeats`), and branches in one
    /// page of `GET /branches`: the default and the maximum (about 200 kB of JSON).
    public var seatPageSize = 1_000
    /// The most bytes a page of a listing holds: a page with long, escape-heavy names ends
    /// earlier than its `limit` (its `next_cursor` or `total` says there is more).
    public var answerBytes = 1_000_000
    /// Seat searches computed at once (``ConcurrencyGate``); the others wait in line.
    public var searchesAtOnce = max(2, ProcessInfo.processInfo.activeProcessorCount)

    public init() {}
}
