import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import NIOCore
import ServiceLifecycle

#if canImport(Glibc)
    import Glibc
#endif

/// Where and how `dlsms serve` speaks the original's gRPC interface (`proto/library.proto`).
public struct GRPCConfiguration: Sendable {
    public var enabled = true
    public var host = "127.0.0.1"
    public var port = 9090
    /// The original's clients send no token and name the user in `user_id`: with this switch,
    /// such calls are trusted (loopback only).
    public var trustUserID = false
    /// Concurrent calls (HTTP/2 streams) per connection.
    public var maxConcurrentStreams = 100
    /// The largest request message accepted; a larger one is refused (its stream is reset).
    public static let maxMessageBytes = 64 * 1024
    /// After GOAWAY (idle connection, shutdown), calls in flight get this long before the
    /// connection is closed.
    public static let drainGrace: Duration = .seconds(10)

    public init() {}

    /// `text` is a literal IPv4 or IPv6 address.
    public static func isIPAddress(_ text: String) -> Bool { TrustedProxies.parse(text) != nil }

    /// 127.0.0.0/8 or ::1.
    public var isLoopback: Bool {
        guard let bytes = TrustedProxies.parse(host) else { return false }
        return bytes.count == 4 ? bytes[0] == 127 : bytes == [UInt8](repeating: 0, count: 15) + [1]
    }

    /// The trust switch outside loopback would let anyone on the network act for anyone.
    public func validate() throws(ConfigurationError) {
        guard enabled, trustUserID, !isLoopback else { return }
        throw ConfigurationError(
            "--grpc-trust-user-id lets any caller act for any user_id: it is only allowed when gRPC listens on a loopback address (127.0.0.1 or ::1), not \(host)"
        )
    }

    package var address: GRPCNIOTransportCore.SocketAddress {
        host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
    }
}

/// The gRPC server. It runs beside the HTTP server in ``FrontDoorsService``, so that on SIGTERM
/// both stop accepting at once and drain what is in flight: a call in flight gets
/// ``GRPCConfiguration/drainGrace`` to finish before its connection is closed.
package struct GRPCFrontEndService: Service {
    package let server: GRPCServer<HTTP2ServerTransport.Posix>
    package let configuration: GRPCConfiguration
    package let logger: Logger
    package let announce: @Sendable (String) -> Void

    package init(
        service: LibraryService, grpc: GRPCConfiguration, logger: Logger, announce: @escaping @Sendable (String) -> Void
    ) {
        let limits = service.configuration.limits
        let counter = service.connections
        let proxies = service.configuration.trustedProxies
        server = GRPCServer(
            transport: .http2NIOPosix(
                address: grpc.address, transportSecurity: .plaintext,
                config: .defaults {
                    $0.rpc.maxRequestPayloadSize = GRPCConfiguration.maxMessageBytes
                    $0.http2.maxConcurrentStreams = grpc.maxConcurrentStreams
                    // An idle connection (no call for this long, or never a byte) gets GOAWAY, and
                    // is closed after the grace whether or not the client answers.
                    $0.connection.maxIdleTime = limits.idleTimeout
                    $0.connection.maxGraceTime = GRPCConfiguration.drainGrace
                    $0.channelDebuggingCallbacks = .init(
                        onBindTCPListener: nil,
                        onAcceptTCPConnection: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    GRPCConnectionGuard(
                                        counter: counter, exempt: proxies,
                                        silence: limits.idleTimeout
                                            + min(GRPCConfiguration.drainGrace, limits.idleTimeout)),
                                    position: .first)
                            }
                        },
                        onAcceptHTTP2Stream: { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(
                                    GRPCRequestDeadline(timeout: limits.requestTimeout), position: .first)
                            }
                        })
                }),
            services: makeGRPCServices(service, logger: logger),
            interceptors: [GRPCAuthInterceptor(service: service, trustUserID: grpc.trustUserID)])
        configuration = grpc
        self.logger = logger
        self.announce = announce
    }

    package func run() async throws {
        let server = self.server
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await server.serve() }
                let bound: String
                do {
                    let address = try await server.transport.listeningAddress
                    bound =
                        address.ipv4.map { "\($0.host):\($0.port)" } ?? address.ipv6.map { "[\($0.host)]:\($0.port)" }
                        ?? "\(address)"
                } catch {
                    throw ConfigurationError(
                        "--grpc-host/--grpc-port: cannot listen for gRPC on \(configuration.host):\(configuration.port) (\(Self.reason(error)))"
                    )
                }
                announce("dlsms grpc listening on \(bound)")
                if configuration.trustUserID {
                    logger.warning(
                        "--grpc-trust-user-id is on: gRPC calls without a token act for the user_id they name, with staff rights. For the original's unchanged clients on this machine only.",
                        metadata: ["grpc": "\(bound)"])
                }
            }
        } onGracefulShutdown: {
            server.beginGracefulShutdown()
        }
    }

    /// What the operating system said, without the library's internals.
    package static func reason(_ error: any Error) -> String {
        var e: any Error = error
        if let rpc = error as? RPCError, let cause = rpc.cause { e = cause }
        if let io = e as? IOError { return String(cString: strerror(io.errnoCode)) }
        return "\(type(of: e))"
    }
}

// MARK: - Who calls

/// The caller of a gRPC call, set by ``GRPCAuthInterceptor`` for the handler's task.
package enum GRPCCaller: Sendable {
    /// A verified bearer token.
    case token(Caller)
    /// No token, and the compatibility switch is on: trusted to act for the `user_id` it names,
    /// with staff rights on calls that name no user (as the original's gRPC did).
    case trusted

    @TaskLocal package static var current: GRPCCaller?

    package static func require() throws(RPCError) -> GRPCCaller {
        guard let current else { throw GRPCMapping.refusal(.unauthenticated, "authentication required") }
        return current
    }

    /// The caller as the audit trail names them (a trusted call: the compatibility switch).
    package func auditActor(peer: String) -> AuditActor {
        let address = GRPCMapping.clientAddress(peer)
        switch self {
        case .token(let caller): return AuditActor(caller, address: address)
        case .trusted: return AuditActor(userID: 0, studentID: "(trusted gRPC)", address: address)
        }
    }

    /// Who a call that names no user acts as.
    package var requester: Requester {
        switch self {
        case .token(let caller): return caller.requester
        case .trusted: return Requester(userID: 0, isAdmin: true)
        }
    }

    /// The user a call that names `requested` (0: unset) acts for: a student only for
    /// themselves, an admin (or a trusted call) for anyone that exists.
    package func actingUser(_ requested: Int32, engine: SeatEngine) throws(RPCError) -> UserID {
        switch self {
        case .token(let caller):
            if requested == 0 || requested == caller.userID { return caller.userID }
            guard caller.isAdmin else {
                throw GRPCMapping.refusal(
                    .permissionDenied,
                    "a student may act only for their own user_id (\(caller.userID)), not \(requested)")
            }
        case .trusted:
            guard requested > 0 else { throw GRPCMapping.refusal(.invalidArgument, "user_id is required") }
        }
        guard let user = engine.user(id: requested) else {
            throw GRPCMapping.refusal(.notFound, "user \(requested) not found")
        }
        // A trusted call acts as the user: not as a disabled one. (An admin may still act on it.)
        if case .trusted = self, user.disabled {
            throw GRPCMapping.refusal(.permissionDenied, "the account of user \(requested) is disabled")
        }
        return user.id
    }

    package func requireAdmin() throws(RPCError) {
        if case .token(let caller) = self, !caller.isAdmin {
            throw GRPCMapping.refusal(.permissionDenied, "admins only")
        }
    }
}

/// Every call but `AuthService`'s (login, registration, token check) and `OperationService`'s
/// (which only says it is not implemented) needs `authorization: Bearer <token>` metadata — the
/// same JWTs as REST, bound to the account the same way. With `--grpc-trust-user-id`, a call
/// without that metadata is trusted instead; a call with a bad token is refused either way.
package struct GRPCAuthInterceptor: ServerInterceptor {
    package let service: LibraryService
    package let trustUserID: Bool

    package static let open: Set<String> = [
        Library_AuthService.descriptor.fullyQualifiedService, "library.OperationService",
    ]

    package func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>, context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if Self.open.contains(context.descriptor.service.fullyQualifiedService) {
            return try await next(request, context)
        }
        let caller: GRPCCaller
        if let header = request.metadata[stringValues: "authorization"].first(where: { _ in true }) {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer",
                let verified = await service.caller(token: String(parts[1]))
            else {
                throw GRPCMapping.refusal(.unauthenticated, "the bearer token is invalid, expired or revoked")
            }
            caller = .token(verified)
        } else if trustUserID {
            caller = .trusted
        } else {
            throw GRPCMapping.refusal(
                .unauthenticated, "authorization metadata with a bearer token (from Login) is required")
        }
        return try await GRPCCaller.$current.withValue(caller) { try await next(request, context) }
    }
}

// MARK: - Errors and times

package enum GRPCMapping {
    /// The gRPC status for a refusal, as the original mapped them and its client expects.
    package static func status(code: String, kind: ErrorKind) -> RPCError.Code {
        switch code {
        case "invalid_state", "checkin_window", "seat_in_maintenance", "offer_expired", "closed":
            return .failedPrecondition
        case "limit_reached", "rate_limited", "payload_too_large": return .resourceExhausted
        default: break
        }
        switch kind {
        case .badRequest: return .invalidArgument
        case .unauthorized: return .unauthenticated
        case .forbidden: return .permissionDenied
        case .notFound: return .notFound
        case .conflict: return .alreadyExists
        case .payloadTooLarge, .rateLimited: return .resourceExhausted
        case .unavailable: return .unavailable
        }
    }

    /// A refusal with the contract's machine code in the `dlsms-code` trailer (by default the one
    /// REST gives for the same status).
    package static func refusal(_ status: RPCError.Code, _ message: String, code: String? = nil) -> RPCError {
        let machine: String
        switch status {
        case .invalidArgument: machine = "bad_request"
        case .unauthenticated: machine = "unauthorized"
        case .permissionDenied: machine = "forbidden"
        case .notFound: machine = "not_found"
        case .outOfRange: machine = "out_of_range"
        case .unimplemented: machine = "unimplemented"
        default: machine = "\(status)"
        }
        var metadata = Metadata()
        metadata.addString(code ?? machine, forKey: "dlsms-code")
        return RPCError(code: status, message: Self.short(message), metadata: metadata)
    }

    /// Messages quote what the client sent; at most 300 characters of it, so that an answer
    /// never outgrows the client's limit on trailers.
    package static func short(_ message: String) -> String {
        message.count <= 300 ? message : String(message.prefix(300)) + "…"
    }

    /// Any error of a handler as an `RPCError` with a message for a person; the contract's machine
    /// code rides along in the `dlsms-code` trailer. Anything unexpected is logged and answered
    /// `INTERNAL` without internals.
    package static func rpcError(_ error: any Error, logger: Logger) -> RPCError {
        let code: String
        let kind: ErrorKind
        let message: String
        switch error {
        case let e as RPCError:
            guard e.metadata[stringValues: "dlsms-code"].first(where: { _ in true }) == nil else { return e }
            return refusal(e.code, e.message)
        case let e as EngineError:
            (code, kind, message) = (e.code, e.kind, e.message)
        case let e as AppError:
            (code, kind, message) = (e.code, e.kind, e.message)
        default:
            logger.error("unhandled gRPC error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return refusal(.internalError, "internal server error", code: "internal")
        }
        return refusal(status(code: code, kind: kind), message, code: code)
    }

    /// Times in: ISO 8601 as the original's clients send them (`2025-10-11T14:00:00`, naive = UTC,
    /// fractional seconds allowed and truncated); an offset or `Z` is accepted too. Empty = unset.
    package static func time(_ text: String, _ name: String) throws(RPCError) -> Timestamp? {
        guard !text.isEmpty else { return nil }
        // Years 1970 to 9999 in UTC: what the output form can say.
        guard text.utf8.count <= 1_024, let t = RFC3339.parse(text), (0...253_402_300_799).contains(t) else {
            throw refusal(
                .invalidArgument,
                "\(name) is not an ISO 8601 time from 1970 to 9999 (e.g. 2025-10-11T14:00:00): \(text)")
        }
        return t
    }

    package static func requiredTime(_ text: String, _ name: String) throws(RPCError) -> Timestamp {
        guard let t = try time(text, name) else {
            throw refusal(.invalidArgument, "\(name) is required")
        }
        return t
    }

    /// Times out: the original's text form, Python's `isoformat()` of a naive UTC time,
    /// `2025-10-11T14:00:00` (whole seconds, no offset); an absent time is the empty string.
    package static func text(_ t: Timestamp?) -> String {
        guard let t else { return "" }
        return String(RFC3339.format(t).dropLast())  // "…Z" without the Z
    }

    /// The IP address of `ipv4:1.2.3.4:5678` / `ipv6:[::1]:5678`, as REST's rate limits key it.
    package static func clientAddress(_ peer: String) -> String {
        if peer.hasPrefix("ipv4:") {
            let rest = peer.dropFirst(5)
            return TrustedProxies.key(String(rest[..<(rest.lastIndex(of: ":") ?? rest.endIndex)]))
        }
        if peer.hasPrefix("ipv6:["), let close = peer.firstIndex(of: "]") {
            return TrustedProxies.key(String(peer[peer.index(peer.startIndex, offsetBy: 6)..<close]))
        }
        return peer
    }
}
