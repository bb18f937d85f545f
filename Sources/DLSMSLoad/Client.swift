import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// What came back for one request.
public enum Sent: Sendable, CustomStringConvertible {
    /// The server answered (any status).
    case reply(status: Int, body: ByteBuffer)
    /// The request was never sent: the connection could not be made. A definite failure.
    case notSent(String)
    /// The request may or may not have reached the server (timeout, reset, a half-read answer).
    case unknown(String)

    public var description: String {
        switch self {
        case .reply(let status, let body): return "HTTP \(status) \(String(buffer: body).prefix(300))"
        case .notSent(let reason): return "not sent: \(reason)"
        case .unknown(let reason): return "no answer: \(reason)"
        }
    }

    /// The outcome of a write: 2xx acknowledged, 4xx and unsent refused, the rest unknown
    /// (a 5xx may come from a failed durable write that the server could not fully undo).
    var outcome: Outcome {
        switch self {
        case .reply(let status, _) where (200..<300).contains(status): return .ok
        case .reply(let status, _) where (400..<500).contains(status): return .failed
        case .reply: return .unknown
        case .notSent: return .failed
        case .unknown: return .unknown
        }
    }
}

/// An HTTP/1.1 client (async-http-client) with one keep-alive connection per load connection.
public final class LoadClient: Sendable {
    let http: HTTPClient
    let timeout: TimeAmount

    public init(connections: Int, timeoutSeconds: Double) {
        var configuration = HTTPClient.Configuration()
        configuration.httpVersion = .http1Only
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = max(1, connections)
        // A refused connection fails its request at once (a definite "not sent") instead of
        // being retried until the timeout: chaos mode restarts the server on a new port.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.timeout.connect = .seconds(2)
        configuration.decompression = .disabled
        http = HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
        timeout = .nanoseconds(Int64(timeoutSeconds * 1e9))
    }

    public func shutdown() async {
        try? await http.shutdown()
    }

    /// Sends one request; never throws: every failure is classified.
    public func send(
        _ method: HTTPMethod, _ url: String, token: String? = nil, json: String? = nil, maxBody: Int = 64 << 20
    ) async -> Sent {
        var request = HTTPClientRequest(url: url)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer " + token) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(string: json))
        }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            return Self.classify(error)
        }
        do {
            let body = try await response.body.collect(upTo: maxBody)
            return .reply(status: Int(response.status.code), body: body)
        } catch {
            // The status line arrived, so the server decided; but a half-read body is no answer.
            return .unknown("response body: \(error)")
        }
    }

    static func classify(_ error: any Error) -> Sent {
        if error is NIOConnectionError { return .notSent("connection refused") }
        if let io = error as? IOError, io.errnoCode == ECONNREFUSED { return .notSent("connection refused") }
        if let e = error as? HTTPClientError, e == .connectTimeout || e == .getConnectionFromPoolTimeout {
            return .notSent("\(e)")
        }
        if let e = error as? HTTPClientError, e == .deadlineExceeded || e == .readTimeout {
            return .unknown("timeout")
        }
        return .unknown("\(error)")
    }
}

/// Small JSON helpers over Foundation, for the answers the load generator reads.
enum JSON {
    static func object(_ body: ByteBuffer) -> [String: Any]? {
        let data = Data(body.readableBytesView)
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }

    /// A JSON string literal (with quotes) for `text`.
    static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    static func int(_ value: Any?) -> Int64? {
        if let n = value as? NSNumber { return n.int64Value }
        return nil
    }

    /// The contract's error code of a non-2xx answer, or `http_STATUS` when the body has none.
    static func errorCode(status: Int, body: ByteBuffer) -> String {
        (object(body)?["code"] as? String) ?? "http_\(status)"
    }
}
