import Configuration
import DLSMSApp
import Foundation
import Yams

/// Where each setting's text comes from, read through swift-configuration's providers: the
/// command line (`CommandLineArgumentsProvider`), the environment (`EnvironmentVariablesProvider`)
/// and the YAML file of `--config` (`YAMLSnapshot`), in that order of precedence; what none of
/// them sets keeps its default. The text then goes through the setting's own parser and bounds,
/// whichever source it came from.
struct SettingsSources {
    /// A file larger than this is refused (a configuration file is a few KiB).
    static let maxFileBytes = 1 << 20

    let arguments: CommandLineArgumentsProvider
    let environment: EnvironmentVariablesProvider
    /// The file and its path, when `--config` (or `DLSMS_CONFIG`) names one.
    let file: (snapshot: YAMLSnapshot, path: String)?

    /// `arguments` must already have passed ``ServerSettings/checkShape(_:)``.
    init(arguments: [String], environment: [String: String]) throws(ConfigurationError) {
        self.arguments = CommandLineArgumentsProvider(arguments: ["dlsms"] + arguments)
        self.environment = EnvironmentVariablesProvider(environmentVariables: environment)
        let path =
            Self.text(self.arguments, key: ServerSettings.config.flag)
            ?? Self.text(self.environment, key: ServerSettings.config.environment)
        file = try path.map { path throws(ConfigurationError) in (try Self.load(path), path) }
    }

    /// The text of `setting` and the name of its source, or nil where no source sets it.
    func text(of setting: Setting) -> (text: String, source: String)? {
        if let v = Self.text(arguments, key: setting.flag) { return (v, "--\(setting.flag)") }
        if let v = Self.text(environment, key: setting.environment) { return (v, setting.environment) }
        if let (snapshot, path) = file, let v = Self.text(snapshot, key: setting.flag) {
            return (v, "\(path): \(setting.flag)")
        }
        return nil
    }

    /// A value as text; lists (a repeated flag, `a,b`, a YAML sequence) joined with commas.
    static func text(_ source: some ConfigSnapshot, key: String) -> String? {
        let key = AbsoluteConfigKey([key])
        if let found = try? source.value(forKey: key, type: .string).value, case .string(let s) = found.content {
            return s
        }
        if let found = try? source.value(forKey: key, type: .stringArray).value,
            case .stringArray(let list) = found.content
        {
            return list.joined(separator: ",")
        }
        return nil
    }

    static func text(_ source: some ConfigProvider, key: String) -> String? { text(source.snapshot(), key: key) }

    /// Reads and parses the YAML file; every key must be a setting's flag name.
    static func load(_ path: String) throws(ConfigurationError) -> YAMLSnapshot {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConfigurationError("--config: cannot read \(path)")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: maxFileBytes + 1)) ?? Data()
        guard data.count <= maxFileBytes else {
            throw ConfigurationError("--config: \(path) is larger than \(maxFileBytes) bytes")
        }
        let known = Set((ServerSettings.table + [ServerSettings.logLevel]).map(\.flag))
        do {
            // A file of comments only is an empty document: no settings.
            guard let node = try Yams.compose(yaml: String(decoding: data, as: UTF8.self)) else {
                return try YAMLSnapshot(data: Array("{}".utf8).span.bytes, providerName: path, parsingOptions: .default)
            }
            guard let mapping = node.mapping else {
                throw ConfigurationError("--config: \(path) must be a mapping of setting names to values")
            }
            for key in mapping.keys {
                guard let name = key.string, known.contains(name) else {
                    throw ConfigurationError(
                        "--config: \(path): unknown setting '\(key.string ?? "?")' (the names are the flags' without --; see dlsms serve --help)"
                    )
                }
            }
            return try YAMLSnapshot(data: [UInt8](data).span.bytes, providerName: path, parsingOptions: .default)
        } catch let e as ConfigurationError {
            throw e
        } catch {
            throw ConfigurationError("--config: \(path) is not valid YAML (\(error))")
        }
    }
}
