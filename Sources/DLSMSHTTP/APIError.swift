import DLSMSApp
import DLSMSCore
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// A refusal as the contract sends it: a status and `{"error": "<text>", "code": "<machine_code>"}`.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var retryAfter: Int64?
    /// Fields besides `error` and `code` (``EngineError/details``).
    public var details: [ErrorDetail] = []

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int64? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public init(_ e: EngineError) { self.init(AppError(e)) }

    /// The one mapping of the application layer's refusals to HTTP statuses.
    public init(_ e: AppError) {
        let status: HTTPResponse.Status
        switch e.kind {
        case .badRequest: status = .badRequest
        case .unauthorized: status = .unauthorized
        case .forbidden: status = .forbidden
        case .notFound: status = .notFound
        case .conflict: status = .conflict
        case .payloadTooLarge: status = .contentTooLarge
        case .rateLimited: status = .tooManyRequests
        case .unavailable: status = .serviceUnavailable
        }
        self.init(status, e.code, e.message, retryAfter: e.retryAfter)
        details = e.details
    }

    /// Runs an application-layer call where only `APIError` may be thrown.
    package static func mapping<T>(_ body: () throws(AppError) -> T) throws(APIError) -> T {
        do { return try body() } catch { throw APIError(error) }
    }

    package static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad_request", message) }
    package static let unauthorized = APIError(AppError.unauthorized)
    /// A route that reads a JSON body got none.
    package static let jsonBodyRequired = badRequest("a JSON body is required")
    package static let forbidden = APIError(AppError.forbidden)

    package func response() -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let retryAfter { headers[.retryAfter] = String(max(1, retryAfter)) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: jsonBody)))
    }

    /// `{"error": …, "code": …}`.
    package var jsonBody: [UInt8] {
        var w = JSONWriter()
        w.object {
            $0.field("error", message)
            $0.field("code", code)
            for d in details {
                switch d {
                case .time(let k, let t): $0.time(k, t)
                case .integer(let k, let v): $0.field(k, v)
                case .text(let k, let v): $0.field(k, v)
                case .list(let k, let v): $0.field(k, array: v) { $0.value($1) }
                }
            }
        }
        return w.bytes
    }
}

/// Turns every error into the contract's JSON error: engine refusals, Hummingbird's own (unknown
/// route, body too large), malformed JSON. Anything else is a bug: logged, and answered with a 500
/// that shows no internals.
package struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            return e.response()
        } catch let e as AppError {
            return APIError(e).response()
        } catch let e as EngineError {
            return APIError(e).response()
        } catch is CancellationError {
            // The request's task was cancelled (its client went away while it waited): no bug.
            return APIError(.serviceUnavailable, "unavailable", "the request was cancelled").response()
        } catch let e as HTTPError {
            switch e.status {
            case .notFound:
                if let allowed = OpenAPI.methods(for: request.uri.path), !allowed.contains(request.method.rawValue) {
                    var response = APIError(
                        .methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed here"
                    )
                    .response()
                    response.headers[.allow] =
                        (allowed.contains("GET") && !allowed.contains("HEAD") ? allowed + ["HEAD"] : allowed)
                        .joined(separator: ", ")
                    return response
                }
                return APIError(.notFound, "not_found", "no such route: \(request.method) \(request.uri.path)")
                    .response()
            case .contentTooLarge:
                return APIError(.contentTooLarge, "payload_too_large", "the body is larger than 64 KiB").response()
            case .methodNotAllowed:
                return APIError(.methodNotAllowed, "method_not_allowed", "method not allowed").response()
            case .unauthorized: return APIError.unauthorized.response()
            default:
                let status = e.status.code >= 500 ? HTTPResponse.Status.internalServerError : e.status
                return APIError(
                    status, e.status.code >= 500 ? "internal" : "bad_request", e.body ?? e.status.reasonPhrase
                ).response()
            }
        } catch let e as HTTPParserError {
            // The body could not be read: a bad chunk size, or fewer bytes than Content-Length.
            return APIError.badRequest("the request body is malformed (\(e))").response()
        } catch is NIOTooManyBytesError {
            return APIError(.contentTooLarge, "payload_too_large", "the body is larger than 64 KiB").response()
        } catch is DecodingError {
            return APIError.badRequest("the body is not the expected JSON").response()
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return APIError(.internalServerError, "internal", "internal server error").response()
        }
    }
}
