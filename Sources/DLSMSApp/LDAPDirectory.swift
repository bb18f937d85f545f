import CLDAP
import Foundation
import Logging
import NIOPosix
import Synchronization

/// Sign-in against an LDAP directory or Active Directory through OpenLDAP's libldap: find the
/// person's entry (as a service account or anonymously), bind as that entry with the password,
/// and read the student id, name, email and groups.
///
/// libldap blocks, so every sign-in runs on a thread of this directory's own pool
/// (`maxConcurrent` threads, never the cooperative pool or an event loop), with at most
/// `queueLimit` more waiting; beyond that a sign-in fails at once. Every libldap call is bounded
/// by the settings' timeout (connect, TLS handshake, each operation).
public final class LDAPDirectory: Sendable {
    public let settings: LDAPSettings
    private let pool: NIOThreadPool
    /// Sign-ins running or waiting for a thread.
    private let load = Mutex(0)
    private let logger: Logger

    /// The longest password sent to the directory, in bytes.
    public static let maxPasswordBytes = 1_024
    /// The longest name looked up, in bytes.
    public static let maxUsernameBytes = 256

    /// Throws ``ConfigurationError`` when the settings cannot work (``LDAPSettings/validate()``).
    public init(settings: LDAPSettings, logger: Logger = Logger(label: "dlsms.ldap")) throws {
        try settings.validate()
        _ = LDAPDirectory.libraryReady
        self.settings = settings
        self.logger = logger
        pool = NIOThreadPool(numberOfThreads: settings.maxConcurrent)
        pool.start()
    }

    deinit { pool.shutdownGracefully { _ in } }

    /// The person's identity, or `nil` for a wrong password, no such user, several matching
    /// entries, a locked account, an entry without a valid student id, or a password that is
    /// empty (never sent: an unauthenticated bind must never count as a sign-in), has a NUL or
    /// is over 1 kB. Throws ``AppError/identityProviderUnavailable(_:)`` when the directory is
    /// down, slow, fails TLS or answers garbage, or too many sign-ins are waiting ("busy").
    public func authenticate(username: String, password: String) async throws -> ExternalIdentity? {
        guard Self.acceptable(username: username, password: password) else { return nil }
        try enter()
        defer { leave() }
        let signIn = LDAPSignIn(settings: settings, logger: logger)
        do {
            return try await pool.runIfActive {
                Self.blockSIGPIPE()
                return try signIn.run(username: username, password: password)
            }
        } catch let error as LDAPCallError {
            logger.warning("ldap sign-in failed", metadata: ["error": "\(error)"])
            throw AppError.identityProviderUnavailable(error.publicDetail)
        } catch let error as NIOThreadPoolError.ThreadPoolInactive {
            throw AppError.identityProviderUnavailable("shut down (\(error))")
        }
    }

    /// Sign-ins running or waiting now (tests, metrics).
    public var inFlight: Int { load.withLock { $0 } }

    static func acceptable(username: String, password: String) -> Bool {
        !password.isEmpty && password.utf8.count <= maxPasswordBytes && !password.utf8.contains(0)
            && !username.isEmpty && username.utf8.count <= maxUsernameBytes
    }

    private func enter() throws(AppError) {
        let limit = settings.maxConcurrent + settings.queueLimit
        let admitted = load.withLock { n in
            guard n < limit else { return false }
            n += 1
            return true
        }
        guard admitted else { throw AppError.identityProviderUnavailable("busy") }
    }

    private func leave() { load.withLock { $0 -= 1 } }

    /// libldap writes with write(2): a peer that closed would raise SIGPIPE and end the process.
    /// Blocked on the pool's threads, the write fails with EPIPE instead (a thread-directed
    /// signal, left pending on a thread that never unblocks it).
    private static func blockSIGPIPE() {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// libldap's one-time set-up (reading ldap.conf, the TLS library), done once on one thread
    /// rather than raced by the first sign-ins.
    private static let libraryReady: Bool = {
        var handle: OpaquePointer?
        guard ldap_initialize(&handle, "ldap://127.0.0.1") == LDAP_SUCCESS, let handle else { return false }
        var isServer: Int32 = 0
        _ = ldap_set_option(handle, LDAP_OPT_X_TLS_NEWCTX, &isServer)
        ldap_unbind_ext_s(handle, nil, nil)
        return true
    }()
}

extension LDAPCallError {
    /// What a client may be told: the kind of failure, not the directory's own words.
    var publicDetail: String {
        switch code {
        case LDAP_TIMEOUT, LDAP_TIMELIMIT_EXCEEDED: return "the directory did not answer in time"
        case LDAP_SERVER_DOWN, LDAP_CONNECT_ERROR: return "cannot reach the directory, or TLS failed"
        default: return "\(operation) failed: \(message)"
        }
    }
}
