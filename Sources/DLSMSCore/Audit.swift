/// One entry of the audit trail: a staff action (or a staff sign-in) that changed someone else's
/// data or the library's set-up — who, when, from where, what, and the values before and after.
///
/// Entries form a hash chain: each carries the hash of the one before (``previousHash``) and its
/// own (``hash``), the SHA-256 of ``chainInput``. The hash itself is computed above this layer
/// (core has no cryptography); this type fixes what is hashed, byte for byte, so that the server,
/// `dlsms audit verify` and an exported CSV agree.
public struct AuditEntry: Sendable, Hashable {
    /// 1, 2, 3, … without gaps: a missing number is a removed entry.
    public var seq: UInt64
    public var at: Timestamp
    /// The account that acted (0: the server itself, or an operator's command).
    public var actorID: UserID
    /// The actor's student id when they acted (staff are accountable by name).
    public var actor: String
    /// The client's address (`local` for an operator's command).
    public var address: String
    /// What was done: `account.disabled`, `closure.created`, … (``AuditKind``).
    public var kind: String
    /// On what or whom: `user:42`, `seat:7`, `branch:Main Library`, … Students are named by their
    /// number only, so that erasing an account leaves no name or student id in the trail.
    public var subject: String
    /// The reason staff gave, if any.
    public var reason: String
    /// The values before and after, as JSON text (empty: none).
    public var before: String
    public var after: String
    public var previousHash: [UInt8]
    public var hash: [UInt8]

    public static let hashBytes = 32
    /// The longest `before` or `after` kept, in bytes; a larger value is replaced by a summary.
    public static let maxValueBytes = 16_384

    public init(
        seq: UInt64, at: Timestamp, actorID: UserID, actor: String, address: String, kind: String, subject: String,
        reason: String = "", before: String = "", after: String = "", previousHash: [UInt8], hash: [UInt8] = []
    ) {
        self.seq = seq
        self.at = at
        self.actorID = actorID
        self.actor = actor
        self.address = address
        self.kind = kind
        self.subject = subject
        self.reason = reason
        self.before = before
        self.after = after
        self.previousHash = previousHash
        self.hash = hash
    }

    /// The bytes whose SHA-256 is ``hash``: the previous hash, then every field as a big-endian
    /// 32-bit byte count and its bytes (numbers as decimal text), in declaration order.
    public var chainInput: [UInt8] {
        var bytes = previousHash
        for field in [
            String(seq), String(at), String(actorID), actor, address, kind, subject, reason, before, after,
        ] {
            let utf8 = Array(field.utf8)
            let n = UInt32(truncatingIfNeeded: utf8.count)
            bytes += [UInt8(n >> 24), UInt8((n >> 16) & 0xFF), UInt8((n >> 8) & 0xFF), UInt8(n & 0xFF)]
            bytes += utf8
        }
        return bytes
    }

    /// The hash before the first entry.
    public static let genesis = [UInt8](repeating: 0, count: hashBytes)
}

/// The kinds of audited actions.
public enum AuditKind {
    public static let all: [String] = [
        "staff.sign_in", "reservation.booked_on_behalf", "reservation.cancelled_by_staff",
        "reservation.moved_by_staff", "seat.created", "seat.changed", "seat.maintenance", "seat.retired",
        "area.retired", "branch.created", "branch.hours", "branch.release", "branch.checkin", "branch.display",
        "seat_codes.rotated",
        "catalog.imported", "closure.created", "closure.changed", "closure.removed", "group.policy_set",
        "group.policy_removed", "group.members_set", "group.imported", "strike.removed", "suspension.lifted",
        "account.created", "account.disabled", "account.enabled", "account.password_reset",
        "account.sessions_revoked", "account.erased", "webhook.registered", "webhook.removed", "backup.created",
        "standby.promoted",
    ]
}

/// An account erased (by its student, or by staff): its personal data — name, email, student id,
/// password hash, identity links, groups, calendar feed — is gone, it can no longer sign in, and
/// its reservations are anonymised (``JournalRecord/reservationsAnonymised(_:)`` records between
/// the erasure's two records). The account's number stays, so that nothing else is renumbered.
public struct AccountErasure: Sendable, Hashable {
    public var userID: UserID
    public var at: Timestamp
    /// `false`: the erasure begins — the account's personal fields go and it signs in no more;
    /// then its reservations are cancelled or anonymised; `true`: that is done, and its waitlist
    /// history, notifications, strikes and staff-given groups go. A crash between the two leaves
    /// an erased account with work left, which the next start (or sweep) finishes.
    public var done: Bool

    public init(userID: UserID, at: Timestamp, done: Bool = true) {
        self.userID = userID
        self.at = at
        self.done = done
    }
}

extension User {
    /// The student id an erased account is left with: not one a person can have (``BookingRules``
    /// refuses `~`), and unique.
    public static func erasedStudentID(_ id: UserID) -> String { "~erased-\(id)" }

    public var isErased: Bool { studentID.hasPrefix("~erased-") }

    /// The account with every personal field removed: it cannot sign in, and names no one.
    public func erased() -> User {
        var u = User(
            id: id, studentID: Self.erasedStudentID(id), name: "", role: role, passwordHash: "", createdAt: createdAt,
            disabled: true, tokenGeneration: tokenGeneration &+ 1)
        u.source = .local
        return u
    }
}

extension UserID {
    /// The owner of an anonymised reservation: no one.
    public static let anonymous: UserID = 0
}
