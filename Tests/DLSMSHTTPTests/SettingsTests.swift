import DLSMSCore
import Foundation
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

@Suite struct SettingsTests {
    func parse(_ arguments: [String], _ environment: [String: String] = [:]) throws -> ServerConfiguration {
        try ServerSettings.parse(arguments: arguments, environment: environment).configuration
    }

    @Test func flagsWinOverTheEnvironmentWhichWinsOverDefaults() throws {
        let c = try parse(["--port", "9000", "--sse-heartbeat=5"], ["DLSMS_PORT": "7000", "SWEEP_INTERVAL": "30"])
        #expect(c.port == 9000 && c.limits.sseHeartbeat == .seconds(5) && c.sweepInterval == .seconds(30))
        #expect(c.limits.idleTimeout == Limits().idleTimeout && c.host == "127.0.0.1")
        let parsed = try ServerSettings.parse(arguments: [], environment: ["LOG_LEVEL": "debug"])
        #expect(parsed.logLevel == .debug)
    }

    /// The environment goes through the same bounds as the flags: `SSE_HEARTBEAT=0` used to spin.
    @Test func theEnvironmentIsValidatedLikeFlags() throws {
        let bad: [(String, String)] = [
            ("SSE_HEARTBEAT", "0"), ("SWEEP_INTERVAL", "-5"), ("DLSMS_PORT", "70000"), ("BCRYPT_COST", "3"),
            ("JWT_SECRET", "too-short"), ("DLSMS_FSYNC", "sometimes"), ("DEMO_DATA", "maybe"),
            ("MAX_CONNECTIONS", "0"), ("TRUSTED_PROXIES", "10.0.0.0/99"), ("SNAPSHOT_INTERVAL", "abc"),
            ("DLSMS_SHARDS", "0"), ("IDLE_TIMEOUT", "99999999"), ("ADMIN_PASSWORD", "short"),
        ]
        for (name, value) in bad {
            let flag = ServerSettings.table.first { $0.environment == name }!.flag
            #expect(throws: ConfigurationError.self, "\(name)=\(value)") { try parse([], [name: value]) }
            #expect(throws: ConfigurationError.self, "--\(flag) \(value)") { try parse(["--\(flag)", value]) }
            do {
                _ = try parse([], [name: value])
            } catch {
                #expect("\(error)".hasPrefix(name), "\(error)")
            }
        }
        #expect(throws: ConfigurationError.self) { try parse(["--no-such-flag", "1"]) }
        #expect(throws: ConfigurationError.self) { try parse(["--port"]) }
        #expect(throws: ConfigurationError.self) { try parse(["stray"]) }
        #expect(throws: ConfigurationError.self) { try parse([], ["LOG_LEVEL": "loud"]) }
    }

    /// Replication settings that only make sense together are refused at start, not at failover.
    @Test func replicationSettingsAreCheckedTogether() throws {
        let secret = ["--replication-secret", "sixteen-bytes-or-more"]
        let c = try parse(
            [
                "--replication", "sync", "--etcd", "http://127.0.0.1:2379,http://10.0.0.2:2379/", "--sync-fallback",
                "refuse",
            ]
                + secret)
        #expect(c.replication.mode == .sync && c.replication.syncFallback == .refuse)
        #expect(c.replication.etcd == ["http://127.0.0.1:2379", "http://10.0.0.2:2379"])
        let refused: [[String]] = [
            ["--replication", "sync"],  // no secret
            ["--replication", "async", "--replication-secret", "short"],
            ["--etcd", "http://127.0.0.1:2379"],  // replication off
            ["--primary", "http://127.0.0.1:8080"],
            ["--replication", "async", "--etcd", "http://127.0.0.1:2379", "--primary", "http://127.0.0.1:8080"]
                + secret,
            ["--replication", "maybe"] + secret,
            ["--replication", "async", "--etcd", "ftp://x"] + secret,
            ["--replication", "async", "--etcd", ","] + secret,
            ["--replication", "async", "--lease-seconds", "1"] + secret,
            ["--replication", "async", "--etcd-prefix", "dlsms"] + secret,
            ["--replication", "async", "--node-name", "two words"] + secret,
            ["--replication", "sync", "--sync-fallback", "later"] + secret,
            ["--replication", "sync", "--sync-timeout-ms", "0"] + secret,
        ]
        for arguments in refused {
            #expect(throws: ConfigurationError.self, "\(arguments)") { try parse(arguments) }
        }
        do {
            _ = try parse(["--replication", "maybe"] + secret)
        } catch {
            #expect("\(error)".contains("off, async, sync"), "\(error)")
        }
    }

    @Test func helpListsEverySetting() {
        let help = ServerSettings.helpText
        for s in ServerSettings.table {
            #expect(help.contains("--\(s.flag) [\(s.environment)]"))
        }
        #expect(Set(ServerSettings.table.map(\.flag)).count == ServerSettings.table.count)
        #expect(Set(ServerSettings.table.map(\.environment)).count == ServerSettings.table.count)
    }

    /// The settings table of docs/configuration.md is the operator's reference: it must name every setting.
    @Test func theConfigurationDocListsEverySetting() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        for s in ServerSettings.table {
            #expect(text.contains("| `--\(s.flag)` | `\(s.environment)` |"), "docs/configuration.md lacks --\(s.flag)")
        }
    }
}
