import DLSMSApp
import Foundation
import HTTPTypes
import Hummingbird

/// On a node of a replicated cluster: a standby answers writes (anything but GET, HEAD, OPTIONS
/// and signing in) with 503 and the primary's address
/// (`X-DLSMS-Primary`), and its reads with its lag (`X-DLSMS-Replication-Lag`, seconds, and
/// `X-DLSMS-Replication-Lag-Records`); a `sync` primary with fallback `refuse` refuses new writes
/// while no standby confirms them. The replication routes and health checks pass through.
package struct StandbyMiddleware: RouterMiddleware {
    package typealias Context = APIContext
    package let replication: any ReplicationStatus

    package static let primaryHeader = HTTPField.Name("X-DLSMS-Primary")!
    package static let lagHeader = HTTPField.Name("X-DLSMS-Replication-Lag")!
    package static let lagRecordsHeader = HTTPField.Name("X-DLSMS-Replication-Lag-Records")!

    package func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response)
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
            if !reading, replication.refusesNewWrites {
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
                    .serviceUnavailable, "not_primary", ReplicationRole.standbyMessage(primary: primary), retryAfter: 1
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
