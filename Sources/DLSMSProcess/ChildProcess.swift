import Foundation

/// A child process whose standard output is read line by line on a dedicated thread (blocking
/// `read`, no run loop), with a deadline on every wait so that a stuck child fails its caller
/// instead of hanging it. Used by the tests and by `dlsms loadtest --chaos`.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    public let lines: AsyncStream<String>
    private let sink: AsyncStream<String>.Continuation

    /// Starts `executable`; its standard error goes to `standardError` (discarded when `nil`).
    public init(_ executable: String, _ arguments: [String], standardError: FileHandle? = nil) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = standardError ?? FileHandle.nullDevice
        (lines, sink) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .unbounded)
        try process.run()
        let fd = pipe.fileHandleForReading.fileDescriptor
        let writeEnd = pipe.fileHandleForWriting
        try? writeEnd.close()
        let sink = self.sink
        let reader = Thread {
            var pending: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                pending += buffer[..<n]
                while let nl = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<nl], as: UTF8.self)
                    pending.removeSubrange(...nl)
                    sink.yield(line)
                }
            }
            sink.finish()
        }
        reader.start()
    }

    /// The first line (from now on) that satisfies `match`, or `nil` after `timeout` seconds or at EOF.
    public func waitForLine(timeout: Double, _ match: @escaping @Sendable (String) -> Bool) async -> String? {
        await withTaskGroup(of: String?.self) { group in
            group.addTask { [lines] in
                for await line in lines where match(line) { return line }
                return nil
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(timeout))
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the exit (killing the child after `timeout` seconds); returns the status. The
    /// task is suspended meanwhile: it holds none of Swift's cooperative threads (one a core),
    /// which a blocking wait would take from every other task of the process. Cancellation does
    /// not shorten the wait (a graceful stop is not turned into a kill).
    @discardableResult
    public func waitForExit(timeout: Double = 60) async -> Int32 {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while process.isRunning && ContinuousClock.now < deadline { await Self.pause() }
        if process.isRunning { signal(SIGKILL) }
        while process.isRunning { await Self.pause() }
        return process.terminationStatus
    }

    /// 10 ms, even in a cancelled task (where `Task.sleep` returns at once).
    private static func pause() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(10)) { done.resume() }
        }
    }

    /// Waits for the exit (killing the child after `timeout` seconds), blocking the calling
    /// thread: for `defer` and other synchronous code; async code uses ``waitForExit(timeout:)``.
    @discardableResult
    public func wait(timeout: Double = 60) -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            signal(SIGKILL)
            process.waitUntilExit()
        }
        return process.terminationStatus
    }
}
