import DLSMSProcess
import Foundation

/// The server the load goes to. In chaos mode it is closed while the server is down, so that
/// requests wait for the restart instead of spinning on refused connections; requests already in
/// flight when the server is killed are the ones whose outcome becomes unknown.
actor Target {
    private var base: String?
    private var waiters: [CheckedContinuation<String, Never>] = []

    init(base: String?) { self.base = base }

    /// The base URL (`http://127.0.0.1:PORT`), waiting while the server is down.
    func current() async -> String {
        if let base { return base }
        return await withCheckedContinuation { waiters.append($0) }
    }

    func down() { base = nil }

    func up(_ newBase: String) {
        base = newBase
        for waiter in waiters { waiter.resume(returning: newBase) }
        waiters.removeAll()
    }
}

/// A kill -9 of the server and its restart, as the report shows them.
public struct ChaosEvent: Sendable, Codable, Equatable {
    /// Seconds from the start of the measured run to the kill.
    public var killedAt: Double
    /// From the kill until the restarted server listened (recovery included).
    public var downSeconds: Double
}

/// Runs `dlsms serve` as a child process on a free loopback port with a given data directory;
/// kills it with SIGKILL and starts it again on the same directory.
final class ServerSupervisor: @unchecked Sendable {
    let binary: String
    let arguments: [String]
    let log: FileHandle?
    private var child: ChildProcess?

    /// `arguments` follow `serve --host 127.0.0.1 --port 0`; the server's standard error is
    /// appended to `logPath`.
    init(binary: String, arguments: [String], logPath: String) {
        self.binary = binary
        self.arguments = arguments
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        log = FileHandle(forWritingAtPath: logPath)
        _ = try? log?.seekToEnd()
    }

    /// Starts the server and returns its base URL once it listens.
    func start() async throws -> String {
        let child = try ChildProcess(
            binary, ["serve", "--host", "127.0.0.1", "--port", "0"] + arguments, standardError: log)
        self.child = child
        let prefix = "dlsms listening on "
        guard let line = await child.waitForLine(timeout: 120, { $0.hasPrefix(prefix) }) else {
            child.signal(SIGKILL)
            let status = child.wait(timeout: 10)
            throw LoadTestError.serverDidNotStart(binary: binary, status: status)
        }
        return String(line.dropFirst(prefix.count))
    }

    /// SIGKILL, and waits until the process is gone.
    func kill9() {
        guard let child else { return }
        child.signal(SIGKILL)
        child.wait(timeout: 30)
        self.child = nil
    }

    /// SIGTERM (a graceful shutdown), and the exit status.
    @discardableResult
    func stop() -> Int32? {
        guard let child else { return nil }
        child.signal(SIGTERM)
        let status = child.wait(timeout: 60)
        self.child = nil
        return status
    }
}
