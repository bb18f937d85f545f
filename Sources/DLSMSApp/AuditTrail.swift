import Crypto
import DLSMSCore
import DLSMSEngine
import Foundation

/// The audit trail's hash chain: SHA-256 over ``AuditEntry/chainInput``, and its check (the
/// server's `GET /admin/audit`, `dlsms audit verify`, an exported CSV).
public enum AuditChain {
    public static func hash(_ e: AuditEntry) -> [UInt8] { Array(SHA256.hash(data: e.chainInput)) }

    /// Where a chain breaks: the position in what was checked (0-based), the entry's number, why.
    public struct Break: Sendable, Hashable, CustomStringConvertible {
        public var position: Int
        public var seq: UInt64
        public var reason: String
        public var description: String { "entry \(seq) (the \(ordinal(position + 1)) checked): \(reason)" }
    }

    /// Checks `entries`, oldest first: each one's hash is the SHA-256 of its fields and the hash
    /// before it, its `previous_hash` is the hash of the one before, and the numbers run without a
    /// gap. The first entry of a trail whose oldest entries left by the retention starts at a
    /// number above 1 and is anchored by its own `previous_hash`; one numbered 1 must follow the
    /// zero hash. Returns the first break, or nil.
    public static func verify(_ entries: [AuditEntry]) -> Break? {
        let numbers = Set(entries.map(\.seq))
        var previous: AuditEntry?
        for (i, e) in entries.enumerated() {
            if let p = previous {
                if e.seq <= p.seq {
                    return Break(position: i, seq: e.seq, reason: "out of order: it comes after entry \(p.seq)")
                }
                if e.seq != p.seq + 1 && numbers.contains(p.seq + 1) {
                    return Break(
                        position: i, seq: e.seq, reason: "out of order: entry \(p.seq + 1) should come before it")
                }
                if e.seq != p.seq + 1 {
                    let missing =
                        e.seq - p.seq - 1 == 1 ? "entry \(p.seq + 1) is" : "entries \(p.seq + 1)-\(e.seq - 1) are"
                    return Break(position: i, seq: e.seq, reason: "\(missing) missing before it")
                }
                if e.previousHash != p.hash {
                    return Break(
                        position: i, seq: e.seq, reason: "its previous_hash is not the hash of entry \(p.seq)")
                }
            } else if e.seq == 1 && e.previousHash != AuditEntry.genesis {
                return Break(position: i, seq: e.seq, reason: "the first entry does not start from the zero hash")
            }
            if hash(e) != e.hash {
                return Break(position: i, seq: e.seq, reason: "its content does not match its hash (changed)")
            }
            previous = e
        }
        return nil
    }

    private static func ordinal(_ n: Int) -> String {
        let suffix: String
        switch (n % 10, n % 100) {
        case (1, let h) where h != 11: suffix = "st"
        case (2, let h) where h != 12: suffix = "nd"
        case (3, let h) where h != 13: suffix = "rd"
        default: suffix = "th"
        }
        return "\(n)\(suffix)"
    }

    /// Appends one entry to `engine`'s trail (hash-chained) and waits until it is durable: the
    /// server's (``LibraryService/audit(_:_:subject:reason:before:after:)``) and the offline
    /// commands'.
    @discardableResult
    public static func record(
        in engine: SeatEngine, _ actor: AuditActor, _ kind: String, subject: String, reason: String = "",
        before: String = "", after: String = ""
    ) async throws(EngineError) -> AuditEntry {
        precondition(AuditKind.all.contains(kind), "unknown audit kind \(kind)")
        let now = engine.clock.now()
        return try await engine.recordAudit { seq, previous in
            var e = AuditEntry(
                seq: seq, at: now, actorID: actor.userID, actor: actor.studentID, address: actor.address, kind: kind,
                subject: subject, reason: reason, before: before, after: after, previousHash: previous)
            e.hash = hash(e)
            return e
        }
    }

    /// An account's fields the audit trail keeps (no name, email or student id: erasure must
    /// leave none behind).
    public static func account(_ u: User) -> String {
        value {
            $0.object {
                $0.field("role", u.role.name)
                $0.field("disabled", u.disabled)
                $0.field("token_generation", Int64(u.tokenGeneration))
            }
        }
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func bytes(hex: Substring) -> [UInt8]? {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(utf8.count / 2)
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: c - 48
            case 97...102: c - 87
            case 65...70: c - 55
            default: nil
            }
        }
        var i = 0
        while i < utf8.count {
            guard let h = nibble(utf8[i]), let l = nibble(utf8[i + 1]) else { return nil }
            out.append(h << 4 | l)
            i += 2
        }
        return out
    }

    /// A value for `before` or `after`: the JSON `body` writes, or a summary when it is larger than
    /// ``AuditEntry/maxValueBytes``.
    public static func value(_ body: (inout JSONWriter) -> Void) -> String {
        var w = JSONWriter()
        body(&w)
        guard w.bytes.count <= AuditEntry.maxValueBytes else {
            var s = JSONWriter()
            s.object {
                $0.field("truncated", true)
                $0.field("bytes", w.bytes.count)
            }
            return s.text
        }
        return w.text
    }
}

/// Who acts, from where: the audit trail's actor.
public struct AuditActor: Sendable, Hashable {
    public var userID: UserID
    public var studentID: String
    public var address: String

    public init(userID: UserID, studentID: String, address: String) {
        self.userID = userID
        self.studentID = studentID
        self.address = address
    }

    public init(_ caller: Caller, address: String) {
        self.init(userID: caller.userID, studentID: caller.studentID, address: address)
    }

    /// The server itself (a standby promoting itself).
    public static let server = AuditActor(userID: 0, studentID: "(server)", address: "local")

    /// An operator's offline command on the server's machine (`dlsms users …`).
    public static let operatorCommand = AuditActor(userID: 0, studentID: "(operator)", address: "local")
}

extension LibraryService {
    /// Appends one audit entry (hash-chained) and waits until it is durable.
    @discardableResult
    public func audit(
        _ actor: AuditActor, _ kind: String, subject: String, reason: String = "", before: String = "",
        after: String = ""
    ) async throws(EngineError) -> AuditEntry {
        try await AuditChain.record(
            in: engine, actor, kind, subject: subject, reason: reason, before: before, after: after)
    }

    /// A staff sign-in's audit entry (nothing for a student). A standby writes nothing: there it
    /// is skipped.
    public func auditSignIn(_ user: User, address: String) async throws(EngineError) {
        guard user.role == .admin else { return }
        let sign: () async throws(EngineError) -> Void = {
            var w = JSONWriter()
            w.object { $0.field("method", user.source.name) }
            try await self.audit(
                AuditActor(userID: user.id, studentID: user.studentID, address: address), "staff.sign_in",
                subject: "user:\(user.id)", after: w.text)
        }
        if replication.acceptsWrites { try await sign() } else { try? await sign() }
    }
}
