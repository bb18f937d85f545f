@_exported import DLSMSProcess
import Foundation

/// The `dlsms` executable built next to the test bundle.
public func dlsmsExecutable() throws -> String {
    let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [dir, dir.deletingLastPathComponent()] {
        let path = candidate.appendingPathComponent("dlsms").path
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    throw CocoaError(
        .fileNoSuchFile,
        userInfo: [NSLocalizedDescriptionKey: "dlsms not built next to \(dir.path); run `swift build` first"])
}

/// A fresh temporary directory for one test (the caller removes it).
public func temporaryDirectory(_ name: String = #function) -> String {
    let base = FileManager.default.temporaryDirectory.path + "/dlsms-tests-\(getpid())"
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let path = base + "/" + safe + "-" + UUID().uuidString.prefix(8)
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

public func cleanup(_ path: String) { try? FileManager.default.removeItem(atPath: path) }
