import ArgumentParser
import DLSMSApp
import DLSMSAssembly
import DLSMSCore
import DLSMSReplication
import DLSMSStorage
import Foundation
import Logging

/// `dlsms serve`: the REST service. Its settings are one table (``ServerSettings``): flags and
/// environment variables go through the same parser and bounds, and `--help` prints the table.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the DL-SMS REST service (seeds an empty data directory on first start).",
        discussion: ServerSettings.helpText)

    @Argument(parsing: .allUnrecognized, help: .hidden) var arguments: [String] = []

    func validate() throws {
        do {
            _ = try ServerSettings.parse(arguments: arguments, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.description)
        }
    }

    func run() async throws {
        let parsed: ServerSettings.Parsed
        do {
            parsed = try ServerSettings.parse(arguments: arguments, environment: ProcessInfo.processInfo.environment)
        } catch {
            throw ValidationError(error.description)
        }
        let config = parsed.configuration
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = parsed.logLevel
            return handler
        }
        let logger = Logger(label: "dlsms")
        // The listening address first: a bad host or a taken port stops the start with the data
        // directory untouched (not even its lock file).
        do {
            try PortProbe.check(host: config.host, port: config.port)
            if config.grpc.enabled {
                do {
                    try PortProbe.check(host: config.grpc.host, port: config.grpc.port)
                } catch {
                    throw ConfigurationError("--grpc-port: \(error)")
                }
            }
        } catch let e as PortProbe.UnknownHost {
            throw ValidationError(e.description)
        } catch {
            throw fail("\(error)")
        }
        let lock = try lockDataDirectory(config.dataDirectory)
        do {
            try await DLSMSServer.run(config, logger: logger)
        } catch let e as RecoveryError {
            throw fail("cannot open \(config.dataDirectory): \(e)")
        } catch let e as ConfigurationError {
            throw fail("\(e)")
        } catch let e as StorageFailure {
            throw fail("\(e)")
        }
        withExtendedLifetime(lock) {}
    }
}
