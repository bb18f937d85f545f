import DLSMSCore
import DLSMSTestSupport
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
        // A flag given twice: its last value.
        let twice = try ServerSettings.parse(
            arguments: ["--log-level", "warning", "--port", "1", "--log-level=info", "--port", "2"], environment: [:])
        #expect(twice.logLevel == .info && twice.configuration.port == 2)
        // A value may start with -- (a password).
        #expect(try parse(["--admin-password", "--dash-pw-123"]).adminPassword == "--dash-pw-123")
    }

    /// The environment goes through the same bounds as the flags: `SSE_HEARTBEAT=0` would spin the heartbeat loop.
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

    static let top = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// docs/configuration.md shows the table as the code has it (`dlsms settings --format markdown`).
    @Test func theConfigurationDocHasTheTable() throws {
        let doc = try String(contentsOf: Self.top.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        #expect(doc.contains(ServerSettings.markdownTable), "regenerate it with dlsms settings --format markdown")
        for s in ServerSettings.table {
            #expect(doc.contains("| `--\(s.flag)` | `\(s.environment)` |"), "docs/configuration.md lacks --\(s.flag)")
        }
    }

    /// deploy/dlsms.example.yaml is the table as a file (`dlsms settings --format yaml`), and is
    /// itself a valid configuration file: every setting commented out, so the defaults.
    @Test func theSampleFileIsTheTable() throws {
        let path = Self.top.appendingPathComponent("deploy/dlsms.example.yaml").path
        #expect(try String(contentsOfFile: path, encoding: .utf8) == ServerSettings.sampleFile)
        let c = try parse(["--config", path])
        #expect(c.port == ServerConfiguration().port && c.dataDirectory == ServerConfiguration().dataDirectory)
        // Every `# name: value` line uncommented is the default itself; the others have no value.
        let sample = try String(contentsOfFile: path, encoding: .utf8)
        let uncommented = sample.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("# "), line.dropFirst(2).contains(": "), !line.hasPrefix("# dlsms"),
                let name = line.dropFirst(2).split(separator: ":").first,
                ServerSettings.table.contains(where: { $0.flag == name }) || name == "log-level"
            else { return nil }
            return String(line.dropFirst(2))
        }
        #expect(uncommented.count > 30)
        let file = try writeFile(uncommented.joined(separator: "\n"))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let d = try parse(["--config", file])
        let defaults = ServerConfiguration()
        #expect(d.port == defaults.port && d.host == defaults.host && d.bcryptCost == defaults.bcryptCost)
        #expect(d.jwtSecret == nil && d.adminPassword == nil && d.backupDirectory == nil && d.publicURL == nil)
        #expect(d.webhooks.allowedHosts.isEmpty && d.limits == defaults.limits)
    }

    func writeFile(_ text: String) throws -> String {
        let path = temporaryDirectory() + ".yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Precedence: flag > environment > file > default, whatever the setting.
    @Test func aFileSetsWhatFlagsAndTheEnvironmentLeaveUnset() throws {
        let path = try writeFile(
            """
            host: 0.0.0.0
            port: 9000
            grace-minutes: 20
            sweep-interval: 30
            trusted-proxies: [10.0.0.1, 10.0.0.2]
            log-level: debug
            """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let parsed = try ServerSettings.parse(
            arguments: ["--config", path, "--port", "9100"], environment: ["GRACE_MINUTES": "25"])
        let c = parsed.configuration
        #expect(c.port == 9100 && c.graceMinutes == 25 && c.host == "0.0.0.0" && c.sweepInterval == .seconds(30))
        #expect(c.trustedProxies == (try TrustedProxies(parsing: "10.0.0.1,10.0.0.2")))
        #expect(parsed.logLevel == .debug && c.bcryptCost == ServerConfiguration().bcryptCost)
        // The file named by the environment instead of a flag.
        #expect(try parse([], ["DLSMS_CONFIG": path]).port == 9000)
    }

    /// A value from the file goes through the same parser and bounds as the flag, and the error
    /// names the file and the setting; nothing in the file is ignored, and no secret is quoted.
    @Test func theFileIsValidatedLikeFlags() throws {
        let cases: [(String, String)] = [
            ("port: 70000", "port: must be an integer in 0…65535"),
            ("sse-heartbeat: 0", "sse-heartbeat: must be"),
            ("fsync: sometimes", "fsync: must be always"),
            ("porrt: 8080", "unknown setting 'porrt'"),
            ("- port\n- 8080", "must be a mapping"),
            ("port: [1, 2", "is not valid YAML (line"),
            ("log-level: loud", "log-level: must be one of"),
            ("port: {a: 1}", "port: must be a single value"),
            ("port: [8080]", "port: takes one value, not a list"),
            ("trusted-proxies: [[10.0.0.1]]", "trusted-proxies: must be a single value"),
            ("backup-dir: ~", "backup-dir: has no value"),
            ("backup-dir: null", "backup-dir: has no value"),
            ("admin-password: >\n  hunter2hunter2\n", "admin-password: must be one line"),
            ("jwt-secret: TOPSECRET-0123456789-0123456789\njwt-secret: TOPSECRET-0123456789-0123456789", "twice"),
            ("a: &a [1, 2]\nb: &b [*a, *a]\nport: [*b, *b]", "unknown setting 'a'"),
            ("port: [*b, *b]\n", "is not valid YAML"),
        ]
        for (text, message) in cases {
            let path = try writeFile(text)
            defer { try? FileManager.default.removeItem(atPath: path) }
            do {
                _ = try ServerSettings.parse(arguments: ["--config", path], environment: [:])
                Issue.record("\(text) was accepted")
            } catch {
                #expect("\(error)".contains(message) && "\(error)".contains(path), "\(text): \(error)")
                #expect(!"\(error)".contains("TOPSECRET") && !"\(error)".contains("hunter2"), "\(error)")
            }
        }
        // Not a regular file: a directory, a device, a pipe (read once, never waited on).
        for path in [temporaryDirectory(), "/dev/zero", "/dev/stdin"] {
            #expect(throws: ConfigurationError.self, "\(path)") { try parse(["--config", path]) }
        }
        // The environment names the file; an empty --config switches it off.
        #expect(throws: ConfigurationError.self) { try parse([], ["DLSMS_CONFIG": "/nonexistent/dlsms.yaml"]) }
        #expect(try parse(["--config="], ["DLSMS_CONFIG": "/nonexistent/dlsms.yaml"]).port == 8080)
        #expect(throws: ConfigurationError.self) { try parse(["--config", "/nonexistent/dlsms.yaml"]) }
        #expect(throws: ConfigurationError.self) { try parse(["--config"]) }
    }
}
