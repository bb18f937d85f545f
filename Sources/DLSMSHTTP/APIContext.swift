import DLSMSApp
import DLSMSCore
import Hummingbird
import NIOCore

/// The request context: who is calling (after authentication) and from where.
public struct APIContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var caller: Caller?
    /// The token the caller presented (sign-out revokes it).
    public var token: String?
    /// The socket's peer address.
    public let peerAddress: String
    /// The client's IP address (for rate limits): the peer, or the address a trusted proxy
    /// forwarded for (``ClientAddressMiddleware``).
    public var clientAddress: String
    /// The connection (an event stream closes it when its reader stalls).
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        peerAddress = source.channel.remoteAddress?.ipAddress ?? "local"
        clientAddress = TrustedProxies.key(peerAddress)
    }

    /// Bodies over 64 KiB are refused with 413.
    public var maxUploadSize: Int { Limits.defaultBodyBytes }

    package func requireCaller() throws(APIError) -> Caller {
        guard let caller else { throw APIError.unauthorized }
        return caller
    }

    package func requireAdmin() throws(APIError) -> Caller {
        let caller = try requireCaller()
        guard caller.isAdmin else { throw APIError.forbidden }
        return caller
    }
}

/// Attributes a request that came through a trusted proxy to the address the proxy forwarded for.
package struct ClientAddressMiddleware: RouterMiddleware {
    package let proxies: TrustedProxies

    package func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response)
        async throws -> Response
    {
        guard !proxies.isEmpty else { return try await next(request, context) }
        var context = context
        context.clientAddress = TrustedProxies.key(proxies.client(peer: context.peerAddress, headers: request.headers))
        return try await next(request, context)
    }
}

/// Checks the bearer token (or, for the SSE stream only, `?token=`) and puts the caller in the
/// context. The token must still describe the stored account: the same student id and role, not
/// disabled, and issued under the account's current token generation.
package struct AuthMiddleware: RouterMiddleware {
    package let service: LibraryService

    package func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response)
        async throws
        -> Response
    {
        var token: String?
        if request.headers[.authorization] != nil {
            token = bearerToken(request)
        } else if request.uri.path == "/notifications/stream" {
            token = request.uri.queryParameters.get("token")
        }
        guard let token, let caller = await service.caller(token: token) else { throw APIError.unauthorized }
        var context = context
        context.caller = caller
        context.token = token
        return try await next(request, context)
    }
}

/// The token of an `Authorization: Bearer …` header, or nil (no header, another scheme).
package func bearerToken(_ request: Request) -> String? {
    guard let header = request.headers[.authorization] else { return nil }
    let parts = header.split(separator: " ", maxSplits: 1)
    return parts.count == 2 && parts[0].lowercased() == "bearer" ? String(parts[1]) : nil
}
