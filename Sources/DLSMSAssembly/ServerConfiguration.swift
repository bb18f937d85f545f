import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSGRPC
import DLSMSHTTP
import DLSMSReplication

/// Every setting of `dlsms serve`, with its default: the application's (``AppConfiguration``,
/// whose fields read as this struct's own) and each door's.
@dynamicMemberLookup
public struct ServerConfiguration: Sendable {
    public var app = AppConfiguration()
    /// The web app served at `/` when `--web-dir` gives one; nil: the files built into the binary
    /// (gzipped only then, not also when a directory replaces them).
    public var web: WebApp?
    /// The gRPC front end (the original's `library.proto`): where it listens, or off.
    public var grpc = GRPCConfiguration()
    /// Replication and failover (off by default).
    public var replication = ReplicationConfiguration()

    public init() {}

    public subscript<T>(dynamicMember path: KeyPath<AppConfiguration, T>) -> T { app[keyPath: path] }

    public subscript<T>(dynamicMember path: WritableKeyPath<AppConfiguration, T>) -> T {
        get { app[keyPath: path] }
        set { app[keyPath: path] = newValue }
    }
}
