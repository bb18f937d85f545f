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
    /// The settings whose value is a list: a YAML sequence or a comma-separated string.
    static let listSettings: Set<String> = ["trusted-proxies", "webhook-hosts", "etcd"]

    let arguments: CommandLineArgumentsProvider
    let environment: EnvironmentVariablesProvider
    /// The file and its path, when `--config` (or `DLSMS_CONFIG`) names one.
    let file: (snapshot: YAMLSnapshot, path: String)?

    /// `arguments` must already have passed ``ServerSettings/checkShape(_:)``.
    init(arguments: [String], environment: [String: String]) throws(ConfigurationError) {
        self.arguments = CommandLineArgumentsProvider(arguments: ["dlsms"] + arguments)
        self.environment = EnvironmentVariablesProvider(environmentVariables: environment)
        let config = ServerSettings.config
        let named: (path: String, source: String)? =
            Self.text(self.arguments, key: config.flag).map { ($0, "--\(config.flag)") }
            ?? Self.text(self.environment, key: config.environment).map { ($0, config.environment) }
        // An empty `--config=` switches off a file the environment names.
        if let named, !named.path.isEmpty {
            file = (try Self.load(named.path, source: named.source), named.path)
        } else {
            file = nil
        }
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

    /// A value as text; lists (a comma-separated flag, a YAML sequence) joined with commas. The
    /// file's values have been checked to be scalars or, for list settings, sequences of them.
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

    /// Reads the file once and checks its shape before swift-configuration parses it: a mapping
    /// from setting names to one-line scalars (sequences of them for list settings). Anything else
    /// is refused, so that nothing in the file is ignored and no nested structure is expanded.
    static func load(_ path: String, source: String) throws(ConfigurationError) -> YAMLSnapshot {
        let data = try read(path, source: source)
        let node: Node?
        do {
            node = try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
        } catch {
            // Yams' own description quotes the file around the error, which may be a secret.
            throw ConfigurationError("\(source): \(path) is not valid YAML (\(Self.position(of: error)))")
        }
        // A file of comments only is an empty document: no settings.
        guard let node else { return try snapshot(Array("{}".utf8), path: path) }
        guard let mapping = node.mapping else {
            throw ConfigurationError("\(source): \(path) must be a mapping of setting names to values")
        }
        let known = Set((ServerSettings.table + [ServerSettings.logLevel]).map(\.flag))
        for (key, value) in mapping {
            guard let name = key.scalar?.string, known.contains(name) else {
                throw ConfigurationError(
                    "\(source): \(path): unknown setting '\(key.scalar?.string.prefix(100) ?? "(not a name)")' (the names are the flags' without --; see dlsms serve --help)"
                )
            }
            try checkValue(value, name: name, path: path)
        }
        return try snapshot([UInt8](data), path: path)
    }

    /// A regular file of at most ``maxFileBytes``, read once (not a pipe, a device or a directory).
    static func read(_ path: String, source: String) throws(ConfigurationError) -> Data {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ConfigurationError("\(source): cannot read \(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ConfigurationError("\(source): \(path) is not a regular file")
        }
        guard info.st_size <= maxFileBytes else {
            throw ConfigurationError("\(source): \(path) is larger than \(maxFileBytes) bytes")
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ConfigurationError("\(source): cannot read \(path): \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() }
        do {
            let data = try handle.read(upToCount: maxFileBytes + 1) ?? Data()
            guard data.count <= maxFileBytes else {
                throw ConfigurationError("\(source): \(path) is larger than \(maxFileBytes) bytes")
            }
            return data
        } catch let e as ConfigurationError {
            throw e
        } catch {
            throw ConfigurationError("\(source): cannot read \(path): \(error.localizedDescription)")
        }
    }

    static func checkValue(_ value: Node, name: String, path: String) throws(ConfigurationError) {
        func scalar(_ node: Node) throws(ConfigurationError) {
            guard let s = node.scalar else {
                throw ConfigurationError("\(path): \(name): must be a single value, not a mapping or a nested list")
            }
            if s.style == .plain && ["", "~", "null", "Null", "NULL"].contains(s.string) {
                throw ConfigurationError("\(path): \(name): has no value (leave the key out for the default)")
            }
            guard !s.string.contains("\n") && !s.string.contains("\r") else {
                throw ConfigurationError("\(path): \(name): must be one line")
            }
        }
        if let list = value.sequence {
            guard listSettings.contains(name) else {
                throw ConfigurationError("\(path): \(name): takes one value, not a list")
            }
            for item in list { try scalar(item) }
        } else {
            try scalar(value)
        }
    }

    static func snapshot(_ bytes: [UInt8], path: String) throws(ConfigurationError) -> YAMLSnapshot {
        do {
            return try YAMLSnapshot(data: bytes.span.bytes, providerName: path, parsingOptions: .default)
        } catch {
            throw ConfigurationError("\(path) is not valid YAML (\(Self.position(of: error)))")
        }
    }

    /// Where a YAML error is and what it is, without the file's text around it.
    static func position(of error: any Error) -> String {
        guard let e = error as? YamlError else { return "unreadable" }
        switch e {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
            .composer(_, let problem, let mark, _):
            return "line \(mark.line), column \(mark.column): \(problem)"
        case .duplicatedKeysInMapping(let duplicates, _):
            return "a key given twice: \(duplicates.map { String($0.prefix(100)) }.joined(separator: ", "))"
        case .reader(let problem, _, _, _): return problem
        default: return "unreadable"
        }
    }
}
