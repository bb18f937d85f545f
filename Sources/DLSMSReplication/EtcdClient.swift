import AsyncHTTPClient
import DLSMSApp
import Foundation
import NIOCore

/// The few etcd v3 operations leadership needs, through etcd's JSON gateway (`/v3/…` over HTTP),
/// with async-http-client. Keys and values travel base64-encoded; 64-bit numbers as strings.
/// Each call tries the endpoints in turn and fails after `timeout` on each.
package struct EtcdClient: Sendable {
    package let endpoints: [String]
    package let client: HTTPClient
    package let timeout: TimeAmount

    package struct Failure: Error, CustomStringConvertible {
        package var description: String
    }

    /// A key's value and revisions.
    package struct KeyValue: Sendable {
        var value: [UInt8]
        var createRevision: Int64
        var modRevision: Int64
        var lease: Int64
    }

    /// The process-wide client (never shut down); every call has its own deadline.
    package init(endpoints: [String], timeout: TimeAmount = .milliseconds(800)) {
        self.endpoints = endpoints
        self.timeout = timeout
        client = HTTPClient.shared
    }

    private func call(_ path: String, _ body: [String: Any]) async throws -> [String: Any] {
        let data = try JSONSerialization.data(withJSONObject: body)
        var last: any Error = Failure(description: "no etcd endpoint")
        for endpoint in endpoints {
            do {
                var request = HTTPClientRequest(url: endpoint + path)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: data))
                let response = try await client.execute(request, timeout: timeout)
                let bytes = try await response.body.collect(upTo: 1 << 20)
                let object = try JSONSerialization.jsonObject(with: Data(buffer: bytes)) as? [String: Any] ?? [:]
                guard response.status == .ok else {
                    throw Failure(description: "etcd \(path): \(response.status.code) \(object["message"] ?? "")")
                }
                return object
            } catch {
                last = error
            }
        }
        throw last
    }

    private static func b64(_ s: String) -> String { Data(s.utf8).base64EncodedString() }
    private static func b64(_ b: [UInt8]) -> String { Data(b).base64EncodedString() }
    private static func int(_ v: Any?) -> Int64 { (v as? String).flatMap { Int64($0) } ?? (v as? Int64) ?? 0 }

    /// A new lease of `ttl` seconds: its id.
    package func grant(ttl: Int) async throws -> Int64 {
        let r = try await call("/v3/lease/grant", ["TTL": ttl])
        let id = Self.int(r["ID"])
        guard id != 0 else { throw Failure(description: "etcd granted no lease: \(r)") }
        return id
    }

    /// Renews a lease once: the TTL it now has, 0 when it has expired (or never existed).
    package func keepAlive(_ lease: Int64) async throws -> Int64 {
        let r = try await call("/v3/lease/keepalive", ["ID": String(lease)])
        let result = r["result"] as? [String: Any] ?? r
        return Self.int(result["TTL"])
    }

    package func revoke(_ lease: Int64) async throws { _ = try await call("/v3/lease/revoke", ["ID": String(lease)]) }

    package func get(_ key: String) async throws -> KeyValue? {
        let r = try await call("/v3/kv/range", ["key": Self.b64(key)])
        guard let kvs = r["kvs"] as? [[String: Any]], let kv = kvs.first else { return nil }
        let value = (kv["value"] as? String).flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? []
        return KeyValue(
            value: value, createRevision: Self.int(kv["create_revision"]), modRevision: Self.int(kv["mod_revision"]),
            lease: Self.int(kv["lease"]))
    }

    /// Every key under `prefix`, with its value.
    package func list(prefix: String) async throws -> [(key: String, value: [UInt8])] {
        var end = Array(prefix.utf8)
        end[end.count - 1] += 1  // the first key after every key with the prefix
        let r = try await call("/v3/kv/range", ["key": Self.b64(prefix), "range_end": Self.b64(end)])
        let kvs = r["kvs"] as? [[String: Any]] ?? []
        return kvs.compactMap { kv in
            guard let key = (kv["key"] as? String).flatMap({ Data(base64Encoded: $0) }) else { return nil }
            let value = (kv["value"] as? String).flatMap { Data(base64Encoded: $0) }.map { [UInt8]($0) } ?? []
            return (String(decoding: key, as: UTF8.self), value)
        }
    }

    package func put(_ key: String, _ value: [UInt8], lease: Int64?) async throws {
        var body: [String: Any] = ["key": Self.b64(key), "value": Self.b64(value)]
        if let lease { body["lease"] = String(lease) }
        _ = try await call("/v3/kv/put", body)
    }

    /// A comparison of a transaction.
    package enum Compare {
        /// The key does not exist (its create revision is 0).
        case absent(String)
        /// The key's last change is at this revision (0: it does not exist).
        case modRevision(String, Int64)
        case value(String, [UInt8])
    }

    /// Puts every `(key, value, lease)` if all comparisons hold; whether they did.
    package func transaction(if compares: [Compare], put puts: [(String, [UInt8], Int64?)]) async throws -> Bool {
        let compare: [[String: Any]] = compares.map { c in
            switch c {
            case .absent(let key):
                return ["key": Self.b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0"]
            case .modRevision(let key, let rev):
                return ["key": Self.b64(key), "target": "MOD", "result": "EQUAL", "mod_revision": String(rev)]
            case .value(let key, let value):
                return ["key": Self.b64(key), "target": "VALUE", "result": "EQUAL", "value": Self.b64(value)]
            }
        }
        let success: [[String: Any]] = puts.map { key, value, lease in
            var put: [String: Any] = ["key": Self.b64(key), "value": Self.b64(value)]
            if let lease { put["lease"] = String(lease) }
            return ["request_put": put]
        }
        let r = try await call("/v3/kv/txn", ["compare": compare, "success": success])
        return (r["succeeded"] as? Bool) ?? false
    }
}
