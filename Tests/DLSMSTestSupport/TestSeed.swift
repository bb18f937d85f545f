import Foundation

/// A random seed for a property test, or `DLSMS_TEST_SEED` to replay a failure. Printed either way.
public func testSeed(_ name: String) -> UInt64 {
    let seed =
        ProcessInfo.processInfo.environment["DLSMS_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 0...UInt64.max)
    print("\(name) seed: \(seed) (replay with DLSMS_TEST_SEED=\(seed))")
    return seed
}
