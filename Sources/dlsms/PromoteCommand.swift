import ArgumentParser
import DLSMSApp
import DLSMSAssembly
import DLSMSReplication
import Foundation

/// `dlsms promote`: the operator's failover for a cluster without etcd.
struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a standby the primary (clusters without etcd: the operator's decision).",
        discussion: """
            For a cluster started with --replication and --primary instead of --etcd. Stop the old \
            primary first (or make sure it cannot be reached by clients): nothing fences it. The \
            standby refuses unless it has heard nothing from its primary for 2 seconds (--force \
            skips that check); it then writes a new epoch (one past the newest in its log) and takes \
            writes. Restart the old primary with --primary pointing at the new one: it rejoins as a \
            standby and sets aside any records the new primary does not have. In sync mode the \
            standby that confirmed the writes holds every acknowledged booking; in async mode the \
            promoted standby's lag (GET /healthz/standby) is what a promotion can lose.
            """)

    @Argument(help: "The standby's URL, e.g. http://10.0.0.2:8080.") var url: String
    @Option(help: "The cluster's replication secret [DLSMS_REPLICATION_SECRET].") var secret: String?
    @Flag(help: "Promote even though the standby heard from its primary in the last 2 seconds.") var force = false

    func run() async throws {
        guard let secret = secret ?? ProcessInfo.processInfo.environment["DLSMS_REPLICATION_SECRET"], !secret.isEmpty
        else { throw ValidationError("--secret (or DLSMS_REPLICATION_SECRET) is required") }
        let base = url.hasSuffix("/") ? String(url.dropLast()) : url
        do {
            let answer = try await PromoteRequest.send(to: base, secret: secret, force: force)
            print("promoted: \(answer)")
        } catch {
            FileHandle.standardError.write(Data("dlsms promote: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
