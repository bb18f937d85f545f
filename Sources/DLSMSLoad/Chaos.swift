import DLSMSProcess
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// The server the load goes to. In chaos mode it is closed while the server is down, so that
/// requests wait for the restart instead of spinning on refused connections; requests already in
/// flight when the server is killed are the ones whose outcome becomes unknown.
final class Target: Sendable {
    private let state: Mutex<(base: String?, waiters: [EventLoopPromise<String>])>

    init(base: String?) { state = Mutex((base, [])) }

    /// The base URL (`http://127.0.0.1:PORT`), once the server is up; completes on `loop`.
    func current(on loop: any EventLoop) -> EventLoopFuture<String> {
        state.withLock { s in
            if let base = s.base { return loop.makeSucceededFuture(base) }
            let promise = loop.makePromise(of: String.self)
            s.waiters.append(promise)
            return promise.futureResult
        }
    }

    func current() async -> String {
        (try? await current(on: MultiThreadedEventLoopGroup.singleton.any()).get()) ?? ""
    }

    func down() { state.withLock { $0.base = nil } }

    func up(_ base: String) {
        let waiters = state.withLock { s in
            s.base = base
            defer { s.waiters = [] }
            return s.waiters
        }
        for waiter in waiters { waiter.succeed(base) }
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
            binary, ["serve", "--host", "127.0.0.1", "--port", "0", "--grpc-port", "0"] + arguments, standardError: log)
        self.child = child
        let prefix = "dlsms listening on "
        guard let line = await child.waitForLine(timeout: 120, { $0.hasPrefix(prefix) }) else {
            child.signal(SIGKILL)
            let status = await child.waitForExit(timeout: 10)
            throw LoadTestError.serverDidNotStart(binary: binary, status: status)
        }
        return String(line.dropFirst(prefix.count))
    }

    /// SIGKILL, and waits until the process is gone.
    func kill9() async {
        guard let child else { return }
        child.signal(SIGKILL)
        await child.waitForExit(timeout: 30)
        self.child = nil
    }

    /// SIGTERM (a graceful shutdown), and the exit status.
    @discardableResult
    func stop() async -> Int32? {
        guard let child else { return nil }
        child.signal(SIGTERM)
        let status = await child.waitForExit(timeout: 60)
        self.child = nil
        return status
    }
}

extension ServerSupervisor {
    /// One chaos cycle: the target goes down, the server is killed -9 and started again on its
    /// data directory, and the target comes back at its new address. The event (when, counted from
    /// `origin`, and for how long), or the failure to start again — then the target points at a
    /// dead address, so that waiting requests fail fast.
    func killAndRestart(target: Target, origin: NIODeadline) async -> Result<ChaosEvent, any Error> {
        target.down()
        let killed = NIODeadline.now()
        await kill9()
        do {
            let base = try await start()
            let event = ChaosEvent(
                killedAt: Double((killed - origin).nanoseconds) / 1e9,
                downSeconds: Double((NIODeadline.now() - killed).nanoseconds) / 1e9)
            target.up(base)
            return .success(event)
        } catch {
            target.up("http://127.0.0.1:1")
            return .failure(error)
        }
    }
}
