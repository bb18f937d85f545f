import ArgumentParser
import DLSMSCore
import DLSMSEngine

@main
struct DLSMS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlsms",
        abstract: "DL-SMS: a library seat reservation engine.",
        subcommands: [
            Serve.self, Info.self, SnapshotCommand.self, UsersCommand.self, CatalogCommand.self, Stress.self,
            LoadTestCommand.self, Promote.self, SettingsCommand.self, AuditCommand.self,
        ]
    )
}

/// Loads the seed data into an in-memory engine and prints what it holds.
struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Load the seed data in memory and print a summary.")

    @Option(help: "Number of shard actors (default: processor count).")
    var shards: Int?

    func run() async throws {
        let engine = SeatEngine(configuration: EngineConfiguration(shardCount: shards))
        try await engine.seed(studentPasswordHash: "", adminPasswordHash: "")
        let stats = await engine.stats()
        print("shards: \(engine.configuration.shardCount)")
        print(
            "users: \(engine.userCount), seats: \(stats.seats), reservations: \(stats.reservations) (\(stats.holding) holding a seat)"
        )
        for b in await engine.branches() {
            print(
                "  \(b.branch.name): \(b.totalSeats) seats, \(b.powerSeats) with power, \(b.monitorSeats) with monitor, \(b.availableSeats) free now"
            )
        }
    }
}
