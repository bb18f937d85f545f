/// This node's place in a replicated cluster, as the doors see it: whether it takes writes, who
/// the primary is, how far behind a standby is. The replication module keeps it up to date.
public protocol ReplicationStatus: AnyObject, Sendable {
    var role: ReplicationRole { get }
    /// The single node, or a primary whose lease holds.
    var acceptsWrites: Bool { get }
    var epoch: UInt64 { get }
    var primaryURL: String? { get }
    /// A standby's lag: records behind the primary's last announcement, and seconds since it last
    /// had everything announced.
    var lag: (records: UInt64, seconds: Double) { get }
    /// A `sync` primary with fallback `refuse` while no standby confirms writes: new writes are
    /// refused at once.
    var refusesNewWrites: Bool { get }
}

public enum ReplicationRole: String, Sendable {
    /// Replication off: the one node.
    case single
    case primary
    case standby
    /// Was primary and lost its lease: acknowledges nothing, exits to rejoin as a standby.
    case deposed

    /// What a standby answers a write with.
    public static func standbyMessage(primary: String?) -> String {
        "this node is a standby: send writes to the primary" + (primary.map { " at \($0)" } ?? "")
    }
}
