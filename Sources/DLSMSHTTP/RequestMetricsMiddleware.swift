import DLSMSApp
import Hummingbird

/// Counts and times every request by method, matched route and status.
package struct RequestMetricsMiddleware: RouterMiddleware {
    package typealias Context = APIContext
    package let metrics: ServiceMetrics

    package func handle(_ request: Request, context: APIContext, next: (Request, APIContext) async throws -> Response)
        async throws
        -> Response
    {
        let started = ContinuousClock.now
        let response = try await next(request, context)
        metrics.request(
            method: request.method.rawValue, route: context.endpointPath ?? "unmatched", status: response.status.code,
            duration: ContinuousClock.now - started)
        return response
    }
}
