import DLSMSCore
import Synchronization

/// Signed-out tokens, until they would have expired: checked on every authenticated request (a
/// dictionary lookup, skipped while there is none), written by sign-out, replayed from the journal
/// and replicated like any record, so a token signed out on the primary is refused on a standby.
///
/// Bounded: an entry lives at most a token's lifetime; an account has at most ``perUser`` live
/// entries and the node at most ``capacity``. A sign-out beyond either bound is refused here, and the
/// application layer raises the account's token generation instead (all its sessions end).
final class SessionRevocations: Sendable {
    struct Key: Hashable {
        var high: UInt64
        var low: UInt64

        init(_ digest: [UInt8]) {
            var h: UInt64 = 0
            var l: UInt64 = 0
            for i in 0..<8 {
                h = h << 8 | UInt64(digest[i])
                l = l << 8 | UInt64(digest[8 + i])
            }
            high = h
            low = l
        }
    }

    private struct State {
        var entries: [Key: SessionRevocation] = [:]
        var perUser: [UserID: Int] = [:]
        var prunedAt: Timestamp = .min
    }

    static let perUser = 32
    static let capacity = 200_000

    private let state = Mutex(State())

    /// Whether `digest` is signed out (an expired entry still counts until it is pruned: the token
    /// has expired too).
    func contains(_ digest: [UInt8]) -> Bool {
        state.withLock { s in !s.entries.isEmpty && s.entries[Key(digest)] != nil }
    }

    var isEmpty: Bool { state.withLock { $0.entries.isEmpty } }
    var count: Int { state.withLock { $0.entries.count } }

    /// Whether another entry for `user` fits under the bounds at `now` (expired entries pruned first).
    func hasRoom(for user: UserID, now: Timestamp) -> Bool {
        state.withLock { s in
            Self.prune(&s, now: now)
            return s.entries.count < Self.capacity && s.perUser[user, default: 0] < Self.perUser
        }
    }

    /// Adds an entry (sign-out, replay, a standby applying its primary's log). Idempotent.
    func restore(_ r: SessionRevocation) {
        state.withLock { s in
            guard s.entries.updateValue(r, forKey: Key(r.digest)) == nil else { return }
            s.perUser[r.userID, default: 0] += 1
        }
    }

    /// The entries that have not expired at `now` (a snapshot's).
    func live(now: Timestamp) -> [SessionRevocation] {
        state.withLock { s in s.entries.values.filter { $0.expiresAt > now }.sorted { $0.expiresAt < $1.expiresAt } }
    }

    /// Drops expired entries, at most once a minute (each drop walks every entry).
    private static func prune(_ s: inout State, now: Timestamp) {
        guard now >= s.prunedAt + 60 else { return }
        s.prunedAt = now
        for (key, r) in s.entries where r.expiresAt <= now {
            s.entries[key] = nil
            s.perUser[r.userID, default: 1] -= 1
            if s.perUser[r.userID] == 0 { s.perUser[r.userID] = nil }
        }
    }
}
