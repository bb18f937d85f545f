import Crypto
import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Logging
import NIOCore
import Synchronization
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

/// 2025-10-11T12:00:00Z.
let t0: Timestamp = 1_760_184_000

func testConfiguration(_ dir: String) -> ServerConfiguration {
    var c = ServerConfiguration()
    c.dataDirectory = dir
    c.bcryptCost = 4
    c.adminPassword = "admin-password"
    c.jwtSecret = "test-secret-test-secret-test-secret-0123"
    return c
}

/// A change to the test configuration: `withService(Configure { $0.demoData = false }) { … }`.
struct Configure {
    var apply: (inout ServerConfiguration) -> Void
    init(_ apply: @escaping (inout ServerConfiguration) -> Void) { self.apply = apply }
}

/// A seeded service on a manual clock, tested through the router (no sockets).
func withService(
    _ configure: Configure = Configure { _ in },
    _ body: @escaping @Sendable (any TestClientProtocol, LibraryService, ManualClock) async throws -> Void
) async throws {
    let dir = temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var config = testConfiguration(dir)
    configure.apply(&config)
    let clock = ManualClock(t0)
    let node = try await DLSMSServer.makeNode(
        config, clock: clock, logger: Logger(label: "test"), announce: { _ in })
    let app = Application(router: DLSMSServer.makeRouter(node))
    try await app.test(.router) { client in try await body(client, node.service, clock) }
    await node.durable.close(finalSnapshot: false)
}

struct Reply {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var text: String
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]) ?? [:] }
    var code: String? { json["code"] as? String }
}

extension TestClientProtocol {
    func call(
        _ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: String? = nil,
        headers: HTTPFields = [:]
    )
        async throws -> Reply
    {
        var h = headers
        if let token { h[.authorization] = "Bearer \(token)" }
        if json != nil { h[.contentType] = "application/json" }
        let r = try await execute(uri: uri, method: method, headers: h, body: json.map { ByteBuffer(string: $0) })
        return Reply(status: r.status, headers: r.headers, text: String(buffer: r.body))
    }

    func login(_ studentID: String, _ password: String = "password123") async throws -> String {
        let r = try await call(.post, "/auth/login", json: #"{"student_id":"\#(studentID)","password":"\#(password)"}"#)
        #expect(r.status == .ok, "login \(studentID): \(r.text)")
        return r.json["token"] as? String ?? ""
    }
}

func iso(_ t: Timestamp) -> String { RFC3339.format(t) }

func booking(_ seat: Int, _ start: Timestamp, _ end: Timestamp) -> String {
    #"{"seat_id":\#(seat),"start_time":"\#(iso(start))","end_time":"\#(iso(end))"}"#
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await transform(e)) }
        return out
    }
}

let testSecret = "test-secret-test-secret-test-secret-0123"

/// Claims of any shape, signed with the real secret: what an attacker who knows the format (but
/// not the secret) cannot make, and what the server must still survive if the secret leaks.
struct RawClaims: JWTPayload {
    var sub: String
    var studentID: String
    var role: String
    var gen: Double?
    var iat: Double
    var exp: Double
    func verify(using algorithm: some JWTAlgorithm) throws {}

    enum CodingKeys: String, CodingKey {
        case sub, role, gen, iat, exp
        case studentID = "student_id"
    }
}

/// `header.payload` signed with HS256 and the test secret, whatever the header says.
func resigned(header: String, payload: String) async throws -> String {
    let input = header + "." + payload
    let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(testSecret.utf8)))
    let signature = Data(mac).base64EncodedString().replacingOccurrences(of: "=", with: "")
        .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
    return input + "." + signature
}

func signed(_ claims: RawClaims, secret: String = testSecret) async throws -> String {
    let keys = JWTKeyCollection()
    await keys.add(hmac: HMACKey(from: Array(secret.utf8)), digestAlgorithm: .sha256)
    return try await keys.sign(claims)
}

/// `Tests/peer/<name>`: the scripts of the independent tools the tests check against.
func peerScript(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("peer").appendingPathComponent(name).path
}

/// Whether an independent tool is there: always under CI (which installs it, so a missing one
/// fails), elsewhere only when the Python module imports and the programs exist, so that a
/// developer's `swift test` skips what the machine lacks.
func peerAvailable(pythonModule: String? = nil, programs: [String] = []) -> Bool {
    if ProcessInfo.processInfo.environment["CI"] == "true" { return true }
    var missing: [String] = []
    if let module = pythonModule,
        (try? runProgramBlocking("/usr/bin/env", ["python3", "-c", "import \(module)"]).status) != 0
    {
        missing.append("Python's \(module)")
    }
    missing += programs.filter { !FileManager.default.fileExists(atPath: $0) }
    // A skip is said, with its reason, beside the summary (docs/testing.md lists what the
    // whole suite needs).
    if !missing.isEmpty { skipNote("\(missing.joined(separator: ", ")) not installed here") }
    return missing.isEmpty
}

/// Prints that tests are skipped and why (standard error, so that it is seen in any summary).
func skipNote(_ reason: String) {
    FileHandle.standardError.write(
        Data("SKIPPED: tests that need \(reason) (docs/testing.md: what the suite needs)\n".utf8))
}

/// What zbar reads from `code` drawn as a picture (a PGM, 6 pixels a module, with the quiet zone),
/// written in `dir`.
func zbarRead(_ code: QRCode, in dir: String) async throws -> (
    status: Int32, output: String, error: String, timedOut: Bool
) {
    let scale = 6
    let side = (code.size + 8) * scale
    var pixels = [UInt8](repeating: 255, count: side * side)
    for y in 0..<code.size {
        for x in 0..<code.size where code[y, x] {
            for dy in 0..<scale {
                for dx in 0..<scale { pixels[((y + 4) * scale + dy) * side + (x + 4) * scale + dx] = 0 }
            }
        }
    }
    let file = dir + "/code.pgm"
    try (Data("P5\n\(side) \(side)\n255\n".utf8) + Data(pixels)).write(to: URL(fileURLWithPath: file))
    return try await runProgram("/usr/bin/zbarimg", ["--raw", "-q", file])
}

/// The code of the application-layer refusal `body` ends with (`nil`: it did not refuse).
func refusal(_ body: () async throws -> Void) async -> String? {
    do {
        try await body()
        return nil
    } catch let e as AppError {
        return e.code
    } catch {
        return "\(error)"
    }
}

/// Serves `router` on a free loopback port until the returned task is cancelled; returns the port.
func serveOnLoopback(_ router: Router<BasicRequestContext>) async -> (port: Int, task: Task<Void, any Error>) {
    let port = Mutex(0)
    let started = Mutex<CheckedContinuation<Void, Never>?>(nil)
    let app = Application(
        router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
        onServerRunning: { channel in
            port.withLock { $0 = channel.localAddress?.port ?? 0 }
            started.withLock { $0?.resume() }
        })
    let task = Mutex<Task<Void, any Error>?>(nil)
    await withCheckedContinuation { c in
        started.withLock { $0 = c }
        task.withLock { $0 = Task { try await app.runService() } }
    }
    return (port.withLock { $0 }, task.withLock { $0! })
}

/// A free loopback port nothing listens on.
func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
    }
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
