import Foundation

/// Runs blocking work (a socket read with a timeout, a tool waited for) on a thread of its own
/// while the calling task is suspended. Swift's cooperative pool has one thread a core (two
/// here): a test that blocks one of them stalls every other task of the test process, and under
/// the whole suite such waits added up to seconds of lag for everyone (gRPC clients gave up,
/// rate-limit windows ran out).
public func offThePool<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
    let result = await withCheckedContinuation { (done: CheckedContinuation<Result<T, E>, Never>) in
        Thread {
            do throws(E) {
                done.resume(returning: .success(try work()))
            } catch {
                done.resume(returning: .failure(error))
            }
        }.start()
    }
    return try result.get()
}
