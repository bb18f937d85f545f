import CCrypt
import DLSMSCore
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

    static func crypt(_ password: String, setting: String) -> String? {
        guard !password.utf8.contains(0) else { return nil }
        let data = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<crypt_data>.size, alignment: 16)
        defer { data.deallocate() }
        memset(data, 0, MemoryLayout<crypt_data>.size)
        guard let out = crypt_rn(password, setting, data, Int32(MemoryLayout<crypt_data>.size)) else { return nil }
        let result = String(cString: out)
        return result.hasPrefix("*") ? nil : result
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}

/// Runs bcrypt off the event loops on at most `concurrency` threads at once, with at most
/// `queueLimit` requests waiting, so a storm of logins never takes every core from bookings.
public final class PasswordHasher: Sendable {
    public let cost: Int
    private let queue = DispatchQueue(label: "dlsms.bcrypt", attributes: .concurrent)
    private let state: Mutex<(running: Int, waiting: [CheckedContinuation<Bool, Never>])>
    private let concurrency: Int
    private let queueLimit: Int
    /// A hash to check unknown students against, so they take as long as wrong passwords.
    private let decoy: String

    public init(cost: Int, concurrency: Int, queueLimit: Int = 1_000) {
        self.cost = cost
        self.concurrency = max(1, concurrency)
        self.queueLimit = queueLimit
        state = Mutex((0, []))
        decoy = Bcrypt.hash("decoy password \(UInt64.random(in: 0...UInt64.max))", cost: cost) ?? ""
    }

    /// Takes a slot; `false` when too many are already waiting.
    private func acquire() async -> Bool {
        let immediate: Bool? = state.withLock { s in
            if s.running < concurrency {
                s.running += 1
                return true
            }
            return s.waiting.count >= queueLimit ? false : nil
        }
        if let immediate { return immediate }
        return await withCheckedContinuation { c in
            let now: Bool? = state.withLock { s in
                if s.running < concurrency {
                    s.running += 1
                    return true
                }
                if s.waiting.count >= queueLimit { return false }
                s.waiting.append(c)
                return nil
            }
            if let now { c.resume(returning: now) }
        }
    }

    private func release() {
        let next: CheckedContinuation<Bool, Never>? = state.withLock { s in
            if s.waiting.isEmpty {
                s.running -= 1
                return nil
            }
            return s.waiting.removeFirst()  // the slot passes on
        }
        next?.resume(returning: true)
    }

    private func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async throws(EngineError) -> T {
        guard await acquire() else { throw .unavailable("too many logins at once; try again") }
        defer { release() }
        return await withCheckedContinuation { c in queue.async { c.resume(returning: work()) } }
    }

    public func hash(_ password: String) async throws(EngineError) -> String {
        let cost = self.cost
        guard let h = try await run({ Bcrypt.hash(password, cost: cost) }) else {
            throw .badRequest("the password cannot be hashed")
        }
        return h
    }

    /// Checks a password; `hash == nil` (unknown student) checks against a decoy and fails.
    public func verify(_ password: String, hash: String?) async throws(EngineError) -> Bool {
        let target = hash ?? decoy
        let ok = try await run { Bcrypt.verify(password, hash: target) }
        return ok && hash != nil
    }
}
