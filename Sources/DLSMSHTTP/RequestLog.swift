import DLSMSApp
import Hummingbird
import Logging

/// One log line per request at `level`, with method, path and query, where the value of any
/// `token` parameter (the SSE stream's `?token=`) and the secret file name of a calendar feed
/// (`/calendar/<secret>.ics`) are replaced by `<redacted>`. Headers are never logged, so neither
/// is the `Authorization` header.
package struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    package let level: Logger.Level

    package func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        if context.logger.logLevel <= level {
            context.logger.log(
                level: level, "request",
                metadata: [
                    "hb.request.method": "\(request.method)",
                    "hb.request.path": "\(Self.redactedPath(request.uri.path))",
                    "hb.request.query": "\(Self.redacted(request.uri.query))",
                ])
        }
        return try await next(request, context)
    }

    /// `/calendar/<secret>.ics` → `/calendar/<redacted>`: the feed's path is its credential.
    package static func redactedPath(_ path: String) -> String {
        path.hasPrefix("/calendar/") ? "/calendar/<redacted>" : path
    }

    /// `a=1&token=secret&b=2` → `a=1&token=<redacted>&b=2`.
    package static func redacted(_ query: String?) -> String {
        guard let query, !query.isEmpty else { return "" }
        return query.split(separator: "&", omittingEmptySubsequences: false).map { pair -> String in
            let name = pair.split(separator: "=", maxSplits: 1).first.map(String.init) ?? ""
            return name.lowercased() == "token" || name.lowercased() == "access_token"
                ? name + "=<redacted>" : String(pair)
        }.joined(separator: "&")
    }
}
