import Foundation

/// A task executor with a thread of its own, for tests that time something: under the whole
/// suite, Swift's cooperative pool (one thread a core) can be held for seconds by other tests'
/// blocking waits, and a task resumed there waits with it. Preferred with
/// `withTaskExecutorPreference(DedicatedExecutor.shared) { … }`, the timed code runs here.
public final class DedicatedExecutor: TaskExecutor, @unchecked Sendable {
    /// One for the whole test process (its thread lives as long as the process).
    public static let shared = DedicatedExecutor(name: "dlsms-tests-timed")

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []  // guarded by condition

    public init(name: String) {
        let thread = Thread { [self] in run() }
        thread.name = name
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
