import Foundation
import Synchronization

/// A real `dlsms serve` process on a free loopback port with its own data directory.
public final class ServerProcess: Sendable {
    public let child: ChildProcess
    public let dataDirectory: String
    private let boundPort = Mutex(0)
    private let boundGRPCPort = Mutex(0)
    private let servesGRPC: Bool

    /// gRPC listens on a free port too, unless `extra` says otherwise.
    public init(dataDirectory: String, extra: [String] = [], standardError: FileHandle? = nil) throws {
        self.dataDirectory = dataDirectory
        servesGRPC = !extra.contains("--grpc")
        child = try ChildProcess(
            try dlsmsExecutable(),
            [
                "serve", "--port", "0", "--data-dir", dataDirectory, "--bcrypt-cost", "4", "--admin-password",
                "admin-password",
                "--log-level", "warning",
            ] + (extra.contains("--grpc-port") ? [] : ["--grpc-port", "0"]) + extra, standardError: standardError)
    }

    public var port: Int { boundPort.withLock { $0 } }
    public var grpcPort: Int { boundGRPCPort.withLock { $0 } }

    /// Waits (at most a minute) for "dlsms listening on http://127.0.0.1:PORT" and, when gRPC is
    /// on, "dlsms grpc listening on 127.0.0.1:PORT" (in either order).
    public func waitUntilListening() async throws {
        let line = await child.waitForLine(timeout: 60) { [self] line in
            let port = Int(line.split(separator: ":").last ?? "") ?? 0
            if line.hasPrefix("dlsms grpc listening on ") {
                boundGRPCPort.withLock { $0 = port }
            } else if line.hasPrefix("dlsms listening on ") {
                boundPort.withLock { $0 = port }
            }
            return self.port != 0 && (!servesGRPC || grpcPort != 0)
        }
        guard line != nil else {
            child.signal(SIGKILL)
            throw CocoaError(
                .fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "the server did not start listening"])
        }
    }

    public var base: String { "http://127.0.0.1:\(port)" }

    /// SIGTERM, then the exit status (killed after 30 s), blocking the thread: for `defer`.
    public func stop() -> Int32 {
        child.signal(SIGTERM)
        return child.wait(timeout: 30)
    }

    /// SIGTERM, then the exit status (killed after 30 s), the task suspended meanwhile.
    public func stopped() async -> Int32 {
        child.signal(SIGTERM)
        return await child.waitForExit(timeout: 30)
    }

    public func request(
        _ method: String, _ path: String, token: String? = nil, json: String? = nil, headers: [String: String] = [:]
    ) async throws -> (Int, [String: Any]) {
        var fields = headers
        if let token { fields["Authorization"] = "Bearer \(token)" }
        if json != nil { fields["Content-Type"] = "application/json" }
        let answer = try await fetch(base + path, method: method, headers: fields, body: json.map { Data($0.utf8) })
        return (answer.status, answer.json)
    }

    public func login(_ id: String, _ password: String = "password123") async throws -> String {
        let (status, body) = try await request(
            "POST", "/auth/login", json: #"{"student_id":"\#(id)","password":"\#(password)"}"#)
        guard status == 200, let token = body["token"] as? String else {
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "login as \(id): HTTP \(status)"])
        }
        return token
    }
}
