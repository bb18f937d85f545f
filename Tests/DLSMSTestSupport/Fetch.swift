import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// An answer from a test's server.
public struct Fetched: Sendable {
    public var status: Int
    /// Names in lower case; repeated fields joined with ", ".
    public var headers: [String: String]
    public var body: Data
    /// The body as a JSON object (empty when it is not one).
    public var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
}

/// One HTTP request to a test's server through AsyncHTTPClient, whose waits suspend the task.
/// (Foundation's URLSession on Linux waits for its one shared queue with `DispatchQueue.sync`,
/// holding a cooperative thread meanwhile; under the whole suite that stalled other tests.)
public func fetch(
    _ url: String, method: String = "GET", headers: [String: String] = [:], body: Data? = nil, timeout: Double = 15
) async throws -> Fetched {
    var request = HTTPClientRequest(url: url)
    request.method = HTTPMethod(rawValue: method)
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
    let prepared = request
    // The deadline covers the whole exchange, the body too (the client's own covers the head).
    return try await withThrowingTaskGroup(of: Fetched.self) { group in
        group.addTask {
            let response = try await HTTPClient.shared.execute(prepared, timeout: .seconds(Int64(timeout.rounded(.up))))
            let bytes = try await response.body.collect(upTo: 64 << 20)
            var fields: [String: String] = [:]
            for (name, value) in response.headers {
                let key = name.lowercased()
                fields[key] = fields[key].map { $0 + ", " + value } ?? value
            }
            return Fetched(status: Int(response.status.code), headers: fields, body: Data(bytes.readableBytesView))
        }
        group.addTask {
            try await Task.sleep(for: .seconds(timeout))
            throw FetchTimeout(url: url, seconds: timeout)
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// A ``fetch(_:method:headers:body:timeout:)`` not answered whole in time.
public struct FetchTimeout: Error, CustomStringConvertible {
    public var url: String
    public var seconds: Double
    public var description: String { "\(url): no whole answer within \(seconds) s" }
}
