import DLSMSCore
import HTTPTypes
import Hummingbird
import NIOCore

/// A refusal as the contract sends it: a status and `{"error": "<text>", "code": "<machine_code>"}`.
public struct APIError: Error, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var retryAfter: Int64?

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int64? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public init(_ e: EngineError) {
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
        self.init(status, e.code, e.message)
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad_request", message) }
    static let unauthorized = APIError(.unauthorized, "unauthorized", "a valid bearer token is required")
    static let forbidden = APIError(.forbidden, "forbidden", "admins only")

    func response() -> Response {
        var headers: HTTPFields = [.contentType: "application/json; charset=utf-8"]
        if let retryAfter { headers[.retryAfter] = String(max(1, retryAfter)) }
        var w = JSONWriter()
        w.object {
            $0.field("error", message)
            $0.field("code", code)
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: w.text)))
    }
}

/// Turns every error into the contract's JSON error: engine refusals, Hummingbird's own (unknown
/// route, body too large), malformed JSON. Anything else is a bug: logged, and answered with a 500
/// that shows no internals.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let e as APIError {
            return e.response()
        } catch let e as EngineError {
            return APIError(e).response()
        } catch let e as HTTPError {
            switch e.status {
            case .notFound:
                if let allowed = OpenAPI.methods(for: request.uri.path), !allowed.contains(request.method.rawValue) {
                    var response = APIError(
                        .methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed here"
                    )
                    .response()
                    response.headers[.allow] = allowed.joined(separator: ", ")
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

/// A minimal JSON writer: explicit `null`s (the contract shows them), no intermediate objects.
public struct JSONWriter {
    public private(set) var text = ""
    private var needsComma = false

    public init() { text.reserveCapacity(256) }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        text += "{"
        needsComma = false
        body(&self)
        text += "}"
        needsComma = true
    }

    public mutating func array<S: Sequence>(_ items: S, _ body: (inout JSONWriter, S.Element) -> Void) {
        text += "["
        var first = true
        for item in items {
            if !first { text += "," }
            first = false
            needsComma = false
            body(&self, item)
        }
        text += "]"
        needsComma = true
    }

    private mutating func key(_ k: String) {
        if needsComma { text += "," }
        text += "\""
        text += k
        text += "\":"
        needsComma = false
    }

    public mutating func field(_ k: String, _ v: String?) {
        key(k)
        if let v { appendString(v) } else { text += "null" }
        needsComma = true
    }

    public mutating func field<I: BinaryInteger>(_ k: String, _ v: I?) {
        key(k)
        text += v.map { String($0) } ?? "null"
        needsComma = true
    }

    public mutating func field(_ k: String, _ v: Bool) {
        key(k)
        text += v ? "true" : "false"
        needsComma = true
    }

    public mutating func time(_ k: String, _ t: Timestamp?) { field(k, t.map(RFC3339.format)) }

    public mutating func field(_ k: String, object body: (inout JSONWriter) -> Void) {
        key(k)
        object(body)
    }

    public mutating func field<S: Sequence>(_ k: String, array items: S, _ body: (inout JSONWriter, S.Element) -> Void)
    {
        key(k)
        array(items, body)
    }

    /// A string element of an ``array(_:_:)`` (the array writes the separators).
    public mutating func value(_ s: String) {
        appendString(s)
        needsComma = true
    }

    private mutating func appendString(_ s: String) {
        text += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}
