import Foundation

/// Runs `dlsms ARGS` to its end, with `input` on standard input and `environment` added to this
/// process's; killed after `timeout` seconds (then `timedOut` is set). Output goes through files,
/// so a chatty child can never block on a full pipe.
@discardableResult
public func runDLSMS(
    _ arguments: [String], input: String = "", environment: [String: String] = [:], timeout: Double = 120
) async throws -> (status: Int32, output: String, error: String, timedOut: Bool) {
    try await runProgram(try dlsmsExecutable(), arguments, input: input, environment: environment, timeout: timeout)
}

/// Runs the program at `path` as ``runDLSMS(_:input:environment:timeout:)`` runs `dlsms`, waiting
/// for it on a thread of its own (``offThePool(_:)``).
@discardableResult
public func runProgram(
    _ path: String, _ arguments: [String], input: String = "", environment: [String: String] = [:],
    timeout: Double = 120
) async throws -> (status: Int32, output: String, error: String, timedOut: Bool) {
    try await offThePool {
        try runProgramBlocking(path, arguments, input: input, environment: environment, timeout: timeout)
    }
}

/// ``runProgram(_:_:input:environment:timeout:)`` blocking the calling thread: for code that
/// already runs on a thread of its own.
@discardableResult
public func runProgramBlocking(
    _ path: String, _ arguments: [String], input: String = "", environment: [String: String] = [:],
    timeout: Double = 120
) throws -> (status: Int32, output: String, error: String, timedOut: Bool) {
    let dir = temporaryDirectory("run")
    defer { cleanup(dir) }
    for name in ["in", "out", "err"] { _ = FileManager.default.createFile(atPath: dir + "/" + name, contents: nil) }
    try Data(input.utf8).write(to: URL(fileURLWithPath: dir + "/in"))
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = arguments
    p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    p.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: dir + "/in"))
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/out"))
    p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/err"))
    try p.run()
    let deadline = Date().addingTimeInterval(timeout)
    while p.isRunning && Date() < deadline { usleep(10_000) }
    let timedOut = p.isRunning
    if timedOut {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }
    let out = (try? String(contentsOfFile: dir + "/out", encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: dir + "/err", encoding: .utf8)) ?? ""
    return (p.terminationStatus, out, err, timedOut)
}
