import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSGRPC
import DLSMSHTTP
import DLSMSReplication
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

extension DLSMSServer {
    /// Runs the server until SIGTERM or SIGINT, in this order:
    /// 1. the port is bound before the data directory is touched (a port in use fails the start
    ///    with nothing seeded);
    /// 2. the data directory is opened (recovered, or seeded);
    /// 3. on SIGTERM: event streams end (with a comment telling clients to reconnect), the HTTP
    ///    server stops accepting and drains in-flight requests, for at most
    ///    ``Limits/shutdownTimeout`` (then the rest is cancelled); the timers stop; then the final
    ///    snapshot is written and the WAL flushed, and the process exits 0.
    /// A storage failure shuts the group down the same way and the process exits non-zero.
    public static func run(_ config: ServerConfiguration, logger: Logger) async throws {
        let (config, acceptBudget) = cappedConnections(config, logger: logger)
        let node = try await makeNode(config, logger: logger)
        let http = makeHTTPServer(node, acceptBudget: acceptBudget, logger: logger)
        // The gRPC door drains with the HTTP server, side by side: after the event streams end,
        // before the timers and the final snapshot.
        let grpc =
            config.grpc.enabled
            ? GRPCFrontEndService(
                service: node.service, grpc: config.grpc, logger: logger,
                announce: { FileHandle.standardOutput.write(Data(($0 + "\n").utf8)) }) : nil
        let service = node.service
        var group = ServiceGroupConfiguration(
            services: [
                .init(service: PersistenceService(durable: service.durable, logger: logger)),
                .init(service: SweeperService(service: service, interval: config.sweepInterval, logger: logger)),
                .init(service: SnapshotService(durable: service.durable, logger: logger)),
                .init(
                    service: ResourceMonitorService(
                        resources: service.resources, connections: service.connections, logger: logger)),
                .init(service: FrontDoorsService(http: http, grpc: grpc)),
                .init(service: StreamCloserService(hub: service.engine.notifications, logger: logger)),
                .init(service: WebhookDeliveryService(service: service, logger: logger)),
                .init(service: MailDeliveryService(service: service, logger: logger)),
                .init(
                    service: StorageWatchService(durable: service.durable),
                    failureTerminationBehavior: .gracefullyShutdownGroup),
            ] + (node.coordinator.map { [.init(service: ReplicationService(coordinator: $0))] } ?? []),
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        group.maximumGracefulShutdownDuration = config.limits.shutdownTimeout
        try await ServiceGroup(configuration: group).run()
    }

    /// The configuration with the connection cap the descriptor limit allows, and how many
    /// connections the server accepts at most.
    static func cappedConnections(_ config: ServerConfiguration, logger: Logger) -> (ServerConfiguration, Int) {
        let limit = ResourceState.raiseDescriptorLimit()
        // Connections the descriptor limit can hold with room to spare: beyond it the server stops
        // accepting (connections wait in the kernel's backlog) instead of running into EMFILE,
        // where NIO's accept would fail again and again without ever waiting.
        let acceptBudget = ResourceState.connectionBudget(descriptorLimit: limit.after)
        // The cap that is answered with 503 stays below what the process accepts, so that there is
        // always room to accept a connection and say so (and for /healthz to say 503).
        let cap = max(1, min(config.limits.connections, acceptBudget - 16))
        logger.info(
            "file descriptor limit",
            metadata: [
                "before": "\(limit.before)", "now": "\(limit.after)", "accepting_at_most": "\(acceptBudget)",
                "connections_cap": "\(cap)",
            ])
        var capped = config
        capped.limits.connections = cap
        return (capped, acceptBudget)
    }

    /// The HTTP/1.1 server of the REST door, with its guards against malformed, slow and too many
    /// connections.
    static func makeHTTPServer(_ node: ServerNode, acceptBudget: Int, logger: Logger) -> some Service {
        let config = node.configuration
        let limits = config.limits
        return Application(
            router: makeRouter(node),
            server: .rest(
                configuration: .init(
                    additionalChannelHandlers: [
                        ConnectionGuard(
                            counter: node.service.connections, requestTimeout: limits.requestTimeout,
                            exempt: config.trustedProxies)
                    ],
                    idleTimeout: .init(limits.idleTimeout),
                    httpDecoderConfiguration: .init(
                        maxHeaderFieldSize: limits.headerBytes, maxHeaderListSize: limits.headerBytes)),
                uploadLimit: RESTRouter.uploadLimit(path:)),
            configuration: .init(
                address: .hostname(config.host, port: config.port), serverName: "dlsms",
                availableConnectionsDelegate: .maximum(acceptBudget, logger: logger)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? config.port
                FileHandle.standardOutput.write(Data("dlsms listening on http://\(config.host):\(port)\n".utf8))
            },
            logger: logger)
    }
}
