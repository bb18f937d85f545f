import DLSMSCore
import Synchronization

/// What to look for in the audit trail (every field optional).
public struct AuditFilter: Sendable, Hashable {
    public var actorID: UserID?
    public var subject: String?
    public var kind: String?
    public var from: Timestamp?
    public var to: Timestamp?

    public init(
        actorID: UserID? = nil, subject: String? = nil, kind: String? = nil, from: Timestamp? = nil,
        to: Timestamp? = nil
    ) {
        self.actorID = actorID
        self.subject = subject
        self.kind = kind
        self.from = from
        self.to = to
    }

    public func matches(_ e: AuditEntry) -> Bool {
        if let actorID, e.actorID != actorID { return false }
        if let subject, e.subject != subject { return false }
        if let kind, e.kind != kind { return false }
        if let from, e.at < from { return false }
        if let to, e.at >= to { return false }
        return true
    }
}

/// The audit trail in memory, in the chain's order, for the retention (``BookingRules/auditRetention``).
///
/// An entry is made, journalled and kept under one lock: the journal's order is the chain's, and
/// each entry's ``AuditEntry/previousHash`` is the hash of the one journalled before it. Nothing
/// removes an entry except the retention (``prune(before:)``); there is no API to delete one.
public final class AuditBook: Sendable {
    private struct State {
        var entries: [AuditEntry] = []
        var lastHash = AuditEntry.genesis
        var nextSeq: UInt64 = 1
    }

    private let state = Mutex(State())

    public init() {}

    /// Makes the next entry with `build` (given its number and the previous hash; it returns the
    /// entry with its own hash), appends its record to `journal` and keeps it.
    func append(
        journal: any Journal, _ build: (_ seq: UInt64, _ previousHash: [UInt8]) -> AuditEntry
    ) throws(EngineError) -> (AuditEntry, JournalTicket) {
        try state.withLock { s throws(EngineError) in
            let entry = build(s.nextSeq, s.lastHash)
            precondition(
                entry.seq == s.nextSeq && entry.previousHash == s.lastHash
                    && entry.hash.count == AuditEntry.hashBytes, "an audit entry continues the chain")
            let ticket = try journal.append(.audit(entry))
            s.entries.append(entry)
            s.lastHash = entry.hash
            s.nextSeq += 1
            return (entry, ticket)
        }
    }

    /// Keeps a recorded entry (replay, a standby). Idempotent: an entry already kept is skipped.
    func restore(_ e: AuditEntry) {
        state.withLock { s in
            guard e.seq >= s.nextSeq else { return }
            s.entries.append(e)
            s.lastHash = e.hash
            s.nextSeq = e.seq + 1
        }
    }

    /// Entries matching `filter`, newest first, numbered below `before` (nil: from the newest), at
    /// most `limit`; and whether older matches remain.
    public func entries(matching filter: AuditFilter, before: UInt64? = nil, limit: Int) -> (
        entries: [AuditEntry], more: Bool
    ) {
        state.withLock { s in
            var found: [AuditEntry] = []
            var i = s.entries.count - 1
            if let before {
                // Numbers are consecutive from the first kept entry: jump to the place.
                let first = s.entries.first?.seq ?? 1
                i = before <= first ? -1 : min(i, Int(before - first) - 1)
            }
            while i >= 0 {
                let e = s.entries[i]
                i -= 1
                guard filter.matches(e) else { continue }
                if found.count == limit { return (found, true) }
                found.append(e)
            }
            return (found, false)
        }
    }

    /// Every entry kept, oldest first (a snapshot's part, an export).
    public var all: [AuditEntry] { state.withLock { $0.entries } }

    public var count: Int { state.withLock { $0.entries.count } }

    /// Drops entries made before `cutoff` (the retention); returns how many.
    @discardableResult
    func prune(before cutoff: Timestamp) -> Int {
        state.withLock { s in
            let n = s.entries.prefix { $0.at < cutoff }.count
            if n > 0 { s.entries.removeFirst(n) }
            return n
        }
    }
}
