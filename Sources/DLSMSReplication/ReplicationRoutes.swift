import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// A request context that knows its connection: the WAL stream closes it when the standby stalls.
public protocol ReplicationRequestContext: RequestContext {
    var channel: any Channel { get }
}

/// The health checks that routing uses (on every node) and the replication routes a standby and
/// `dlsms promote` call (`--replication-secret` required).
package func addReplicationRoutes<Context: ReplicationRequestContext>(
    to router: Router<Context>, service: LibraryService, replication: ReplicationState, coordinator: HACoordinator?
) {
    let local = ReplicationNode(service: service, replication: replication, coordinator: coordinator)
    addHealthRoutes(to: router, local)
    addLogShippingRoutes(to: router, local)
    addControlRoutes(to: router, local)
}

/// What the replication routes answer from, and the checks they share.
private struct ReplicationNode: Sendable {
    let service: LibraryService
    let replication: ReplicationState
    let coordinator: HACoordinator?

    func status(_ w: inout JSONWriter) {
        let lag = replication.lag
        w.field("role", replication.reportedRole.rawValue)
        w.field("epoch", replication.epoch)
        w.field("primary", replication.primaryURL)
        w.field("durable_lsn", service.durable.wal.statistics.durableLSN)
        if replication.role == .standby {
            w.field("lag_seconds", number: String(format: "%.3f", lag.seconds))
            w.field("lag_records", lag.records)
        }
        if let node = coordinator?.node { w.field("node", node) }
    }

    func authorizedCoordinator(_ request: Request) throws(AppError) -> HACoordinator {
        let unauthorized = AppError(.unauthorized, "unauthorized", "the replication secret is required")
        guard let coordinator else {
            if request.headers[.authorization] == nil { throw unauthorized }
            throw AppError(.notFound, "not_found", "replication is off on this node")
        }
        guard coordinator.authorized(request.headers[.authorization]) else { throw unauthorized }
        return coordinator
    }

    func requirePrimary() throws(AppError) {
        guard replication.role == .primary else {
            throw AppError(
                .unavailable, "not_primary",
                "this node is not the primary" + (replication.primaryURL.map { "; the primary is \($0)" } ?? ""),
                retryAfter: 1)
        }
    }
}

/// `/healthz/primary` and `/healthz/standby`, which routing uses.
private func addHealthRoutes<Context: ReplicationRequestContext>(to router: Router<Context>, _ local: ReplicationNode) {
    // 200 only on the node that takes writes now (the primary whose lease holds, or the one node).
    router.get("/healthz/primary") { _, _ -> Response in
        let ok = local.replication.acceptsWrites && local.service.engine.writeFailure == nil
        return replicationJSON(ok ? .ok : .serviceUnavailable) { w in w.object { local.status(&$0) } }
    }

    // 200 only on a standby that is connected and at most --replication-max-lag behind.
    router.get("/healthz/standby") { _, _ -> Response in
        let ok =
            local.replication.role == .standby
            && local.replication.lag.seconds <= local.replication.configuration.maxLag / .seconds(1)
        return replicationJSON(ok ? .ok : .serviceUnavailable) { w in w.object { local.status(&$0) } }
    }
}

/// What a standby fetches from the primary: the WAL stream, its acknowledgements, a snapshot, and
/// the webhook spools (a new standby's copy of the events still owed).
private func addLogShippingRoutes<Context: ReplicationRequestContext>(
    to router: Router<Context>, _ local: ReplicationNode
) {
    router.get("/replication/wal") { request, context -> Response in
        let ha = try local.authorizedCoordinator(request)
        try local.requirePrimary()
        let q = request.uri.queryParameters
        guard let after = q.get("after").flatMap({ UInt64($0) }),
            let checksum = q.get("checksum").flatMap({ UInt32($0) }),
            let node = q.get("node"), !node.isEmpty, node.utf8.count <= 256,
            let instance = q.get("instance"), (1...64).contains(instance.utf8.count)
        else {
            throw AppError.badRequest(
                "after (an LSN), checksum (of the record at it), node (a name of up to 256 bytes) and instance (up to 64 bytes) are required"
            )
        }
        let url = q.get("url") ?? ""
        guard url.utf8.count <= 256 else { throw AppError.badRequest("url: at most 256 bytes") }
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
        let ha = try local.authorizedCoordinator(request)
        try local.requirePrimary()
        let ack = try JSONDecoder().decode(StandbyAck.self, from: try await request.body.collect(upTo: 4_096))
        // A standby cannot hold more than this node has written.
        let written = local.service.durable.wal.writtenLSN
        guard ack.lsn <= written else {
            throw AppError.badRequest("lsn \(ack.lsn) is beyond what this primary has written (\(written))")
        }
        ha.state.standbys.confirmed(ack.node, instance: ack.instance, lsn: ack.lsn)
        return Response(status: .noContent)
    }

    router.get("/replication/snapshot") { request, _ -> Response in
        _ = try local.authorizedCoordinator(request)
        try local.requirePrimary()
        let report = try await local.service.durable.snapshot()
        let bytes = try PosixIO().read(local.service.durable.configuration.directory + "/" + report.name)
        var headers: HTTPFields = [.contentType: "application/octet-stream"]
        headers[HTTPField.Name("X-DLSMS-Snapshot-Name")!] = report.name
        headers[HTTPField.Name("X-DLSMS-Token-Secret")!] = Data(local.service.tokenSecret).base64EncodedString()
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    // A new standby's copy of the webhook spools, taken after its snapshot: every event in it is
    // durable here, and the standby's replay skips what the spools considered (OutboxCopy).
    router.get("/replication/outbox") { request, _ -> Response in
        _ = try local.authorizedCoordinator(request)
        try local.requirePrimary()
        let durable = local.service.durable
        return Response(
            status: .ok, headers: [.contentType: "application/octet-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                try await durable.exportOutbox { path, bytes in
                    try await writer.write(OutboxCopy.entry(path: path, bytes: bytes))
                }
                try await writer.write(OutboxCopy.end)
                try await writer.finish(nil)
            })
    }
}

/// The operator's view and decision: `/replication/status` and `/replication/promote`.
private func addControlRoutes<Context: ReplicationRequestContext>(to router: Router<Context>, _ local: ReplicationNode)
{
    router.get("/replication/status") { request, _ -> Response in
        _ = try local.authorizedCoordinator(request)
        let standbys = local.replication.standbys.snapshot
        return replicationJSON { w in
            w.object {
                local.status(&$0)
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
        let ha = try local.authorizedCoordinator(request)
        guard ha.etcd == nil else {
            throw AppError(
                .conflict, "invalid_state", "this cluster elects its primary through etcd; promotion is automatic")
        }
        guard local.replication.role == .standby else {
            throw AppError(
                .conflict, "invalid_state", "this node is the \(local.replication.role.rawValue), not a standby")
        }
        let force = request.uri.queryParameters.get("force") == "true"
        let lag = local.replication.lag
        if lag.seconds < 2 && !force {
            throw AppError(
                .conflict, "primary_alive",
                "this standby heard from the primary \(String(format: "%.1f", lag.seconds)) s ago: stop the primary first (or force)"
            )
        }
        await ha.promote(epoch: 0)
        return replicationJSON { w in w.object { local.status(&$0) } }
    }
}

/// A JSON answer of the replication routes.
func replicationJSON(_ status: HTTPResponse.Status = .ok, _ body: (inout JSONWriter) -> Void) -> Response {
    var w = JSONWriter()
    body(&w)
    return Response(
        status: status, headers: [.contentType: "application/json; charset=utf-8"],
        body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
}

/// A standby's confirmation: its run and its newest durable LSN.
struct StandbyAck: Decodable {
    var node: String
    var instance: String
    var lsn: UInt64
}
