import DLSMSCore
import DLSMSEngine

/// A refusal of the application layer, in no door's terms: what kind of refusal it is, a
/// machine-readable code and a message for people. REST maps ``Kind`` to HTTP statuses and gRPC to
/// its status codes, each in one place; the engine's ``EngineError`` converts to it.
public struct AppError: Error, Sendable, Hashable {
    /// The same classes as the engine's refusals.
    public typealias Kind = ErrorKind

    public var kind: Kind
    /// The contract's `code` (`seat_conflict`, `rate_limited`, …).
    public var code: String
    public var message: String
    /// Seconds until a retry may succeed (rate limits, a standby).
    public var retryAfter: Int64?
    /// The engine's refusal this one is, for the fields it carries (``EngineError/details``).
    public var cause: EngineError?

    public var details: [ErrorDetail] { cause?.details ?? [] }

    public init(_ kind: Kind, _ code: String, _ message: String, retryAfter: Int64? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public init(_ e: EngineError) {
        self.init(e.kind, e.code, e.message)
        cause = e
    }

    public static func badRequest(_ message: String) -> AppError { AppError(.badRequest, "bad_request", message) }
    public static let unauthorized = AppError(.unauthorized, "unauthorized", "a valid bearer token is required")
    public static let forbidden = AppError(.forbidden, "forbidden", "admins only")
    public static let registrationClosed = AppError(
        .forbidden, "registration_closed", "self-registration is turned off; the library staff create accounts")
    public static let invalidCredentials = AppError(.unauthorized, "unauthorized", "invalid student id or password")
}
