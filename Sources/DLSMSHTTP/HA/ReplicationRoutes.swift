import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// On a node of a replicated cluster: a standby answers writes (anything but GET, HEAD, OPTIONS
/// and signing in) with 503 and the primary's address
/// (`X-DLSMS-Primary`), and its reads with its lag (`X-DLSMS-Replication-Lag`, seconds, and
/// `X-DLSMS-Replication-Lag-Records`); a `sync` primary with fallback `refuse` refuses new writes
/// while no standby confirms them. The replication routes and health checks pass through.
struct ReplicationMiddleware: RouterMiddleware {
    typealias Context = APIContext
    let replication: ReplicationState

    static let primaryHeader = HTTPField.Name("X-DLSMS-Primary")!
    static let lagHeader = HTTPField.Name("X-DLSMS-Replication-Lag")!
    static let lagRecordsHeader = HTTPField.Name("X-DLSMS-Replication-Lag-Records")!

    func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response)
        async throws -> Response
    {
        let path = request.uri.path
        if path.hasPrefix("/replication/") || path.hasPrefix("/healthz") { return try await next(request, context) }
        // Signing in changes nothing stored (a token is signed with the cluster's shared secret).
        let reading =
            request.method == .get || request.method == .head || request.method == .options
            || (request.method == .post && path == "/auth/login")
        switch replication.role {
        case .single: return try await next(request, context)
        case .primary:
            if !reading, replication.configuration.mode == .sync, replication.configuration.syncFallback == .refuse,
                replication.standbys.designated == nil
            {
                return APIError(
                    .serviceUnavailable, "unavailable",
                    "no standby confirms writes now (sync replication, fallback refuse); try again shortly",
                    retryAfter: 1
                ).response()
            }
            return try await next(request, context)
        case .standby, .deposed:
            guard reading else {
                let primary = replication.primaryURL
                var response = APIError(
                    .serviceUnavailable, "not_primary", ReplicationState.standbyMessage(primary: primary), retryAfter: 1
                ).response()
                if let primary, replication.role == .standby { response.headers[Self.primaryHeader] = primary }
                return response
            }
            var response = try await next(request, context)
            let lag = replication.lag
            response.headers[Self.lagHeader] = String(format: "%.3f", lag.seconds)
            response.headers[Self.lagRecordsHeader] = String(lag.records)
            if let primary = replication.primaryURL { response.headers[Self.primaryHeader] = primary }
            return response
        }
    }
}

func addReplicationRoutes(to router: Router<APIContext>, service: DLSMSService) {
    let replication = service.replication

    @Sendable func status(_ w: inout JSONWriter) {
        let lag = replication.lag
        w.field("role", replication.role.rawValue)
        w.field("epoch", replication.epoch)
        w.field("primary", replication.primaryURL)
        w.field("durable_lsn", service.durable.wal.statistics.durableLSN)
        if replication.role == .standby {
            w.field("lag_seconds", number: String(format: "%.3f", lag.seconds))
            w.field("lag_records", lag.records)
        }
        if let node = service.coordinator?.node { w.field("node", node) }
    }

    // 200 only on the node that takes writes now (the primary whose lease holds, or the one node).
    router.get("/healthz/primary") { _, _ -> Response in
        let ok = replication.acceptsWrites && service.engine.writeFailure == nil
        return Render.response(ok ? .ok : .serviceUnavailable) { w in w.object { status(&$0) } }
    }

    // 200 only on a standby that is connected and at most --replication-max-lag behind.
    router.get("/healthz/standby") { _, _ -> Response in
        let ok =
            replication.role == .standby && replication.lag.seconds <= replication.configuration.maxLag / .seconds(1)
        return Render.response(ok ? .ok : .serviceUnavailable) { w in w.object { status(&$0) } }
    }

    @Sendable func coordinator(_ request: Request) throws(APIError) -> HACoordinator {
        let unauthorized = APIError(.unauthorized, "unauthorized", "the replication secret is required")
        guard let coordinator = service.coordinator else {
            if request.headers[.authorization] == nil { throw unauthorized }
            throw APIError(.notFound, "not_found", "replication is off on this node")
        }
        guard coordinator.authorized(request.headers[.authorization]) else { throw unauthorized }
        return coordinator
    }

    @Sendable func requirePrimary() throws(APIError) {
        guard replication.role == .primary else {
            throw APIError(
                .serviceUnavailable, "not_primary",
                "this node is not the primary" + (replication.primaryURL.map { "; the primary is \($0)" } ?? ""),
                retryAfter: 1)
        }
    }

    router.get("/replication/wal") { request, context -> Response in
        let ha = try coordinator(request)
        try requirePrimary()
        let q = request.uri.queryParameters
        guard let after = q.get("after").flatMap({ UInt64($0) }),
            let checksum = q.get("checksum").flatMap({ UInt32($0) }),
            let node = q.get("node"), !node.isEmpty, node.utf8.count <= 256,
            let instance = q.get("instance"), (1...64).contains(instance.utf8.count)
        else {
            throw APIError.badRequest(
                "after (an LSN), checksum (of the record at it), node (a name of up to 256 bytes) and instance (up to 64 bytes) are required"
            )
        }
        let url = q.get("url") ?? ""
        guard url.utf8.count <= 256 else { throw APIError.badRequest("url: at most 256 bytes") }
        try ha.checkHistory(after: after, checksum: checksum)
        let channel = context.channel
        return Response(
            status: .ok, headers: [.contentType: "application/x-dlsms-wal", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                try await ha.stream(
                    to: &writer, after: after, node: node, instance: instance, url: url, channel: channel)
                try await writer.finish(nil)
            })
    }

    router.post("/replication/ack") { request, _ -> Response in
        let ha = try coordinator(request)
        try requirePrimary()
        struct Ack: Decodable {
            var node: String
            var instance: String
            var lsn: UInt64
        }
        var request = request
        let ack = try await request.decodeJSON(Ack.self)
        // A standby cannot hold more than this node has written.
        let written = service.durable.wal.writtenLSN
        guard ack.lsn <= written else {
            throw APIError.badRequest("lsn \(ack.lsn) is beyond what this primary has written (\(written))")
        }
        ha.state.standbys.confirmed(ack.node, instance: ack.instance, lsn: ack.lsn)
        return Response(status: .noContent)
    }

    router.get("/replication/snapshot") { request, _ -> Response in
        _ = try coordinator(request)
        try requirePrimary()
        let report = try await service.durable.snapshot()
        let bytes = try PosixIO().read(service.durable.configuration.directory + "/" + report.name)
        var headers: HTTPFields = [.contentType: "application/octet-stream"]
        headers[HTTPField.Name("X-DLSMS-Snapshot-Name")!] = report.name
        headers[HTTPField.Name("X-DLSMS-Token-Secret")!] = Data(service.tokenSecret).base64EncodedString()
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    router.get("/replication/status") { request, _ -> Response in
        _ = try coordinator(request)
        let standbys = replication.standbys.snapshot
        return Render.response { w in
            w.object {
                status(&$0)
                $0.field("sync_standby", standbys.designated?.name)
                let sorted = standbys.standbys.sorted {
                    ($0.key.name, $0.key.instance) < ($1.key.name, $1.key.instance)
                }
                $0.field("standbys", array: sorted) { a, standby in
                    a.object {
                        $0.field("node", standby.key.name)
                        $0.field("instance", standby.key.instance)
                        $0.field("url", standby.value.url)
                        $0.field("durable_lsn", standby.value.durableLSN)
                    }
                }
            }
        }
    }

    // `dlsms promote`: the operator's decision, for clusters without etcd.
    router.post("/replication/promote") { request, _ -> Response in
        let ha = try coordinator(request)
        guard ha.etcd == nil else {
            throw APIError(
                .conflict, "invalid_state", "this cluster elects its primary through etcd; promotion is automatic")
        }
        guard replication.role == .standby else {
            throw APIError(.conflict, "invalid_state", "this node is the \(replication.role.rawValue), not a standby")
        }
        let force = request.uri.queryParameters.get("force") == "true"
        let lag = replication.lag
        if lag.seconds < 2 && !force {
            throw APIError(
                .conflict, "primary_alive",
                "this standby heard from the primary \(String(format: "%.1f", lag.seconds)) s ago: stop the primary first (or force)"
            )
        }
        await ha.promote(epoch: 0)
        return Render.response { w in w.object { status(&$0) } }
    }
}
