// swift-tools-version: 6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "dlsms",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "dlsms", targets: ["dlsms"]),
        .library(name: "DLSMSCore", targets: ["DLSMSCore"]),
        .library(name: "DLSMSEngine", targets: ["DLSMSEngine"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-async-algorithms", from: "1.1.4"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // Pure domain: value types, the interval index, rules, state machine. No I/O, clocks or actors.
        .target(name: "DLSMSCore", swiftSettings: swiftSettings),
        // liblz4 (Debian: liblz4-dev), for the snapshot files.
        .systemLibrary(name: "CLZ4", path: "Sources/CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        // WAL segments, group commit, snapshots, recovery reading, checksums.
        .target(name: "DLSMSStorage", dependencies: ["DLSMSCore", "CLZ4"], swiftSettings: swiftSettings),
        // Shard actors, admission, users, waitlist, notifications, sweep, persistence.
        .target(name: "DLSMSEngine", dependencies: ["DLSMSCore", "DLSMSStorage"], swiftSettings: swiftSettings),
        // libcrypt (Debian: libcrypt-dev), for bcrypt password hashes.
        .systemLibrary(
            name: "CCrypt", path: "Sources/CCrypt", pkgConfig: "libcrypt", providers: [.apt(["libcrypt-dev"])]),
        // The REST service: routes, auth (bcrypt, JWT), SSE, sweeper, metrics.
        .target(
            name: "DLSMSHTTP",
            dependencies: [
                "DLSMSEngine",
                "CCrypt",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncAlgorithms", package: "swift-async-algorithms"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            resources: [.copy("openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        // Child processes read line by line with deadlines: the chaos mode's server and the tests'.
        .target(name: "DLSMSProcess", swiftSettings: swiftSettings),
        // `dlsms loadtest`: scenarios over HTTP, latency histograms, the consistency checker, chaos restarts.
        .target(
            name: "DLSMSLoad",
            dependencies: [
                "DLSMSCore",
                "DLSMSProcess",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "dlsms",
            dependencies: [
                "DLSMSEngine",
                "DLSMSStorage",
                "DLSMSHTTP",
                "DLSMSLoad",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "DLSMSCoreTests", dependencies: ["DLSMSCore"], swiftSettings: swiftSettings),
        .testTarget(
            name: "DLSMSEngineTests",
            dependencies: ["DLSMSEngine", "DLSMSTestSupport"],
            swiftSettings: swiftSettings
        ),
        // Child processes with deadlines, for the tests that run `dlsms` for real.
        .target(
            name: "DLSMSTestSupport", dependencies: ["DLSMSProcess", "DLSMSStorage"], path: "Tests/DLSMSTestSupport",
            swiftSettings: swiftSettings),
        .testTarget(
            name: "DLSMSHTTPTests",
            dependencies: [
                "DLSMSHTTP",
                "DLSMSTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DLSMSStorageTests",
            dependencies: ["DLSMSEngine", "DLSMSStorage", "DLSMSTestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DLSMSLoadTests",
            dependencies: ["DLSMSLoad", "DLSMSTestSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
    ]
)

// The benchmark harness (ordo-one/benchmark) is heavy to build, so it is only part of the
// package when DLSMS_BENCHMARKS is set: `DLSMS_BENCHMARKS=1 swift package benchmark`.
if Context.environment["DLSMS_BENCHMARKS"] != nil {
    package.dependencies.append(
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"])
    )
    package.targets.append(.target(name: "CHeapStats", path: "Benchmarks/CHeapStats"))
    package.targets.append(
        .executableTarget(
            name: "EngineBenchmarks",
            dependencies: [
                "DLSMSEngine",
                "CHeapStats",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/EngineBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    )
    package.targets.append(
        .executableTarget(
            name: "DurabilityBenchmarks",
            dependencies: [
                "DLSMSEngine",
                "DLSMSStorage",
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/DurabilityBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    )
}
