import DLSMSCore
import DLSMSEngine
import Foundation

/// The application layer: what REST and gRPC call. It holds the engine and what surrounds each
/// operation in either door (tokens, the password-hash queue, the attempt limiters, the metrics,
/// the node's replication status), and the operations both doors share (in Accounts.swift and
/// Bookings.swift).
public final class LibraryService: Sendable {
    public let durable: DurableEngine
    public let tokens: TokenService
    public let hasher: PasswordHasher
    /// Failed logins per student id and per client address, in one-minute windows.
    public let loginLimiter: AttemptLimiter
    /// Registrations per client address, in one-hour windows.
    public let registrationLimiter: AttemptLimiter
    /// Booking attempts per student (fair access when seats are released).
    public let bookingThrottle: BookingThrottle
    public let metrics: ServiceMetrics
    public let configuration: AppConfiguration
    /// Open HTTP connections, against the cap.
    public let connections: ConnectionCounter
    /// File descriptors against the limit.
    public let resources = ResourceState()
    /// Seats' JSON members, rendered once per version of each seat (searches).
    package let seatFragments = SeatFragments()
    /// Makes and checks the seats' QR codes.
    public let seatCodes: SeatCodes
    /// Seat searches (REST and gRPC) pass through it.
    public let searches: ConcurrencyGate
    /// Identical seat searches waiting at the same time, computed once (``Coalescer``).
    let seatSearches = Coalescer<SeatSearchKey, SeatPage>()
    /// Students' data exports (each reads the archive file), one at a time.
    public let exports = ConcurrencyGate(width: 1, queue: 64, what: "data exports")
    /// Catalog imports, one at a time.
    public let catalogImports = ConcurrencyGate(width: 1, queue: 16, what: "catalog imports")
    /// This node's place in a replicated cluster (the single node's when replication is off).
    public let replication: any ReplicationStatus
    /// Browser sign-ins (OpenID Connect, SSO proxy) on their way to the web app.
    public let handoff = SignInHandoff()
    /// The OpenID Connect relying party (nil: OpenID Connect is off).
    public let oidc: OIDCRelyingParty?
    /// The directory that checks campus passwords (LDAP; nil: none).
    public let directory: (any PasswordDirectory)?
    /// The token secret (a standby copies its primary's with the snapshot).
    package let tokenSecret: [UInt8]
    /// The email sender's attempts and the relay's last answer.
    public let mailStatus = MailStatus()
    /// Address confirmations per student and hour (each sends an email to an address the student
    /// names: DL-SMS must not become a way to mail strangers).
    public let addressConfirmations = AttemptLimiter(window: 3_600, capacity: 100_000)
    public static let addressConfirmationsPerHour = 5

    public var engine: SeatEngine { durable.engine }

    /// `secret` keys the seat codes (the token secret; a random one when empty, for tests).
    public init(
        durable: DurableEngine, tokens: TokenService, hasher: PasswordHasher, metrics: ServiceMetrics,
        configuration: AppConfiguration, secret: [UInt8] = [], replication: any ReplicationStatus,
        directory: (any PasswordDirectory)? = nil
    ) {
        self.replication = replication
        self.directory = directory
        oidc = configuration.identity.oidc.map { OIDCRelyingParty(settings: $0) }
        tokenSecret = secret
        seatCodes = SeatCodes(secret: secret)
        searches = ConcurrencyGate(width: configuration.limits.searchesAtOnce, what: "seat searches")
        self.durable = durable
        self.tokens = tokens
        self.hasher = hasher
        self.metrics = metrics
        self.configuration = configuration
        connections = ConnectionCounter(
            limit: configuration.limits.connections, perAddress: configuration.limits.connectionsPerAddress)
        loginLimiter = AttemptLimiter(window: 60, capacity: configuration.limits.limiterCapacity)
        registrationLimiter = AttemptLimiter(window: 3_600, capacity: configuration.limits.limiterCapacity)
        bookingThrottle = BookingThrottle(
            rate: Double(configuration.bookingAttemptsPerSecond), burst: configuration.bookingAttemptBurst,
            clock: { [clock = durable.engine.clock] in clock.nanoseconds() })
    }

    /// The caller a bearer token names, if the token verifies and still describes the stored
    /// account (same student id and role, enabled, current token generation): REST and gRPC alike.
    public func caller(token: String) async -> Caller? {
        guard let caller = await tokens.verify(token, now: engine.clock.now()),
            let user = engine.user(id: caller.userID), caller.matches(user), !isSignedOut(token)
        else { return nil }
        return caller
    }

    /// The demo students that are enabled and still have the public password. Only the seed's
    /// own accounts count: a data directory seeded with demo data has the admin right after them
    /// (id 11) and each student under the seed's id; an account someone registered later under a
    /// demo student id (in a directory without demo data) is not one.
    public func demoAccountsWithPublicPassword() async -> [String] {
        let demoSeeded = engine.user(studentID: SeedData.adminStudentID)?.id == UserID(SeedData.studentNames.count + 1)
        guard demoSeeded else { return [] }
        return await withTaskGroup(of: String?.self) { group in
            for i in SeedData.studentNames.indices {
                guard let user = engine.user(id: UserID(i + 1)), user.studentID == SeedData.studentID(i + 1),
                    !user.disabled
                else { continue }
                group.addTask {
                    let open = (try? await self.hasher.verify(SeedData.password, hash: user.passwordHash)) ?? false
                    return open ? user.studentID : nil
                }
            }
            var open: [String] = []
            for await id in group { if let id { open.append(id) } }
            return open.sorted()
        }
    }

    /// A page of a seat search, through the search gate; identical searches that wait at the
    /// same time are computed once (a release instant's crowd asks the same question).
    public func searchSeats(
        _ filter: SeatFilter, start: Timestamp?, end: Timestamp?, page: SeatPageRequest
    ) async throws -> SeatPage {
        let key = SeatSearchKey(filter: filter, start: start, end: end, page: page)
        return try await seatSearches.value(for: key, through: searches) { [engine] in
            await engine.searchSeats(filter, start: start, end: end, page: page)
        }
    }
}

/// What makes two seat searches the same question.
struct SeatSearchKey: Hashable, Sendable {
    var filter: SeatFilter
    var start: Timestamp?
    var end: Timestamp?
    var page: SeatPageRequest
}
