import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSGRPC
import DLSMSHTTP
import DLSMSReplication
import ServiceLifecycle

/// The HTTP server and the gRPC server as one service of the group: they start together, and on
/// SIGTERM both stop accepting at once and drain side by side (neither door takes new work while
/// the other drains). If either fails, both stop.
package struct FrontDoorsService: Service {
    package let http: any Service
    package let grpc: GRPCFrontEndService?

    package func run() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await http.run() }
            if let grpc { group.addTask { try await grpc.run() } }
        }
    }
}
