import CCrypt
import DLSMSCore
import DLSMSEngine
import Dispatch
import Foundation
import Synchronization

/// bcrypt (`$2b$`) through the system's libcrypt: `crypt_gensalt_rn` for the salt, `crypt_rn`
/// for the hash. The original's `$2b$12$…` hashes verify as they are.
public enum Bcrypt {
    /// A new hash of `password` at `cost` (4–31), or `nil` if libcrypt refuses.
    public static func hash(_ password: String, cost: Int) -> String? {
        var salt = [CChar](repeating: 0, count: Int(CRYPT_GENSALT_OUTPUT_SIZE))
        let made = salt.withUnsafeMutableBufferPointer { buf in
            crypt_gensalt_rn("$2b$", UInt(cost), nil, 0, buf.baseAddress, Int32(buf.count))
        }
        guard made != nil else { return nil }
        let setting = String(decoding: salt.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return crypt(password, setting: setting)
    }

    /// `true` when `password` hashes to `hash`. The comparison takes the same time wherever the
    /// strings differ.
    public static func verify(_ password: String, hash: String) -> Bool {
        guard hash.hasPrefix("$2"), let computed = crypt(password, setting: hash) else { return false }
        return constantTimeEquals(Array(computed.utf8), Array(hash.utf8))
    }

    package static func crypt(_ password: String, setting: String) -> String? {
        guard !password.utf8.contains(0) else { return nil }
        let data = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<crypt_data>.size, alignment: 16)
        defer { data.deallocate() }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let out = crypt_rn(password, setting, data, Int32(MemoryLayout<crypt_data>.size)) else { return nil }
        let result = String(cString: out)
        return result.hasPrefix("*") ? nil : result
    }

    package static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}

/// Runs bcrypt off the event loops on at most `concurrency` threads at once, with a bounded,
/// fair queue, so a storm of logins never takes every core from bookings and one client cannot
/// make everyone else wait (`client: nil` is the server's own work, which has no share):
/// - each client (address) may have at most `perClient` hashes running or waiting; beyond that
///   it is refused at once (429);
/// - at most `queueLimit` wait in all (503 beyond);
/// - the last `reserve` places of the queue are kept for clients that have no recent failed
///   login (`suspect == false`).
public final class PasswordHasher: Sendable {
    public let cost: Int
    private let queue = DispatchQueue(label: "dlsms.bcrypt", attributes: .concurrent)
    private struct State {
        var running = 0
        var waiting: [CheckedContinuation<Bool, Never>] = []
        var perClient: [String: Int] = [:]
        /// Places promised to callers that are about to queue.
        var promised = 0
    }
    private let state = Mutex(State())
    private let concurrency: Int
    public let queueLimit: Int
    public let perClient: Int
    public let reserve: Int
    /// A hash to check unknown students against, so they take as long as wrong passwords.
    private let decoy: String

    public init(cost: Int, concurrency: Int, queueLimit: Int = 1_000, perClient: Int = 4, reserve: Int = 200) {
        self.cost = cost
        self.concurrency = max(1, concurrency)
        self.queueLimit = max(1, queueLimit)
        self.perClient = max(1, perClient)
        self.reserve = min(max(0, reserve), self.queueLimit - 1)
        decoy = Bcrypt.hash("decoy password \(UInt64.random(in: 0...UInt64.max))", cost: cost) ?? ""
    }

    private enum Admission {
        case run, wait, clientShare, full
    }

    /// `client == nil`: the server's own work (seeding, the start-up checks), with no share.
    private func admit(_ s: inout State, client: String?, suspect: Bool) -> Admission {
        if let client, s.perClient[client, default: 0] >= perClient { return .clientShare }
        let runNow = s.running < concurrency
        if !runNow && s.waiting.count + s.promised >= queueLimit - (suspect ? reserve : 0) { return .full }
        if runNow { s.running += 1 } else { s.promised += 1 }
        if let client { s.perClient[client, default: 0] += 1 }
        return runNow ? .run : .wait
    }

    /// Takes a slot for `client`, or says why not.
    private func acquire(client: String?, suspect: Bool) async throws(AppError) {
        let admission = state.withLock { admit(&$0, client: client, suspect: suspect) }
        switch admission {
        case .run: return
        case .clientShare:
            throw AppError(
                .rateLimited, "rate_limited", "too many password checks from this client at once", retryAfter: 1)
        case .full: throw AppError(.unavailable, "unavailable", "too many logins at once; try again")
        case .wait:
            _ = await withCheckedContinuation { c in
                // The slot may have freed meanwhile; otherwise queue (the place was counted).
                let now = state.withLock { s in
                    s.promised -= 1
                    if s.running < concurrency {
                        s.running += 1
                        return true
                    }
                    s.waiting.append(c)
                    return false
                }
                if now { c.resume(returning: true) }
            }
        }
    }

    private func release(client: String?) {
        let next: CheckedContinuation<Bool, Never>? = state.withLock { s in
            if let client {
                let n = s.perClient[client, default: 1] - 1
                s.perClient[client] = n > 0 ? n : nil
            }
            if s.waiting.isEmpty {
                s.running -= 1
                return nil
            }
            return s.waiting.removeFirst()  // the slot passes on
        }
        next?.resume(returning: true)
    }

    package func run<T: Sendable>(client: String?, suspect: Bool, _ work: @escaping @Sendable () -> T)
        async throws(AppError) -> T
    {
        try await acquire(client: client, suspect: suspect)
        defer { release(client: client) }
        return await withCheckedContinuation { c in queue.async { c.resume(returning: work()) } }
    }

    public func hash(_ password: String, client: String? = nil, suspect: Bool = false) async throws(AppError) -> String
    {
        let cost = self.cost
        guard let h = try await run(client: client, suspect: suspect, { Bcrypt.hash(password, cost: cost) }) else {
            throw AppError.badRequest("the password cannot be hashed")
        }
        return h
    }

    /// Checks a password; `hash == nil` (unknown student) checks against a decoy and fails.
    public func verify(_ password: String, hash: String?, client: String? = nil, suspect: Bool = false)
        async throws(AppError) -> Bool
    {
        let target = hash ?? decoy
        let ok = try await run(client: client, suspect: suspect) { Bcrypt.verify(password, hash: target) }
        return ok && hash != nil
    }

    /// Hashes running or waiting for `client` (tests, metrics).
    public func inFlight(client: String) -> Int { state.withLock { $0.perClient[client] ?? 0 } }
}
