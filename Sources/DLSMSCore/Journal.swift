/// Where the engine writes its state changes before it acknowledges them.
///
/// `append` is synchronous so that a shard appends inside its own actor turn and the log keeps the
/// shard's order; waiting for durability is separate (``JournalTicket/wait()``) so that the shard
/// is free for other work while the log's group commit runs.
public protocol Journal: Sendable {
    /// Queues `record` after every record appended before it. Throws if the journal refuses writes
    /// (for example after a failed fsync).
    func append(_ record: JournalRecord) throws(EngineError) -> JournalTicket

    /// A ticket for everything appended so far: a refusal that cites state (a conflict, a limit)
    /// waits on it, so that it never cites a change that then fails to become durable.
    func barrier() -> JournalTicket
}

extension Journal {
    public func barrier() -> JournalTicket { .durable }
}

/// Something that completes when a group of records is durable.
public protocol CommitWaiter: Sendable {
    func wait() async throws(EngineError)
}

/// The durability of an appended record.
public struct JournalTicket: Sendable {
    let waiter: (any CommitWaiter)?

    public init(waiter: (any CommitWaiter)?) { self.waiter = waiter }

    /// Already durable (or durability is not asked for): nothing to wait for.
    public static let durable = JournalTicket(waiter: nil)

    public func wait() async throws(EngineError) {
        if let waiter { try await waiter.wait() }
    }
}

/// A journal that keeps nothing: an in-memory engine.
public struct NullJournal: Journal {
    public init() {}
    public func append(_ record: JournalRecord) throws(EngineError) -> JournalTicket { .durable }
    public func barrier() -> JournalTicket { .durable }
}
