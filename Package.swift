// swift-tools-version:6.0
import PackageDescription

// F16C conversions and AVX2 loops: `haswell` is the portable choice (see shared notes, PLATFORM §1.5).
let fastMath: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]

let package = Package(
    name: "bayeval",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "bayeval", targets: ["bayeval"]),
        .library(name: "Loaders", targets: ["Loaders"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
    ],
    targets: [
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLAPACKE", pkgConfig: "lapacke", providers: [.apt(["liblapacke-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CMalloc"),
        // SHA-256's block function, optimised in debug builds too (every run hashes the model it reads).
        .target(name: "CSHA256", cSettings: [.unsafeFlags(["-O3"])]),
        .target(name: "Loaders", dependencies: ["CZstd", "CSHA256"], swiftSettings: fastMath),
        // Models, LoRA, gradients and training, written against `ComputeBackend` only.
        .target(name: "Runtime", dependencies: ["Loaders"], swiftSettings: fastMath),
        // The CPU backend: OpenBLAS products, threaded host kernels. A GPU backend is a sibling target.
        .target(name: "RuntimeCPU", dependencies: ["Runtime", "Loaders", "CBLAS", "CMalloc"], swiftSettings: fastMath),
        // `Device`: the one place that knows every backend (the `--device` factory).
        .target(name: "Backends", dependencies: ["Runtime", "RuntimeCPU"]),
        .target(name: "Metrics", swiftSettings: fastMath),
        .target(name: "Posthoc", dependencies: ["Runtime", "Loaders", "CBLAS", "CLAPACKE"], swiftSettings: fastMath),
        // run.json: the versioned record every command writes and the report reads.
        .target(name: "Records", dependencies: ["Loaders", "Metrics"]),
        // Tree jobs: plan files, running one job (skip, resume, stamp, status), Slurm array scripts.
        .target(name: "Jobs", dependencies: ["Loaders", "Metrics", "Records"]),
        .executableTarget(
            name: "bayeval",
            dependencies: [
                "Loaders", "Runtime", "Backends", "Metrics", "Posthoc", "Records", "Jobs",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // Where the tests find the real models, and whether a missing one is a skip or a failure.
        .target(name: "TestModels", path: "Tests/TestModels"),
        .testTarget(name: "LoadersTests", dependencies: ["Loaders", "TestModels"]),
        .testTarget(name: "RuntimeTests", dependencies: ["Runtime", "RuntimeCPU", "TestModels"]),
        .testTarget(name: "MetricsTests", dependencies: ["Metrics"]),
        .testTarget(name: "RecordsTests", dependencies: ["Records", "Metrics", "Loaders"]),
        .testTarget(name: "JobsTests", dependencies: ["Jobs", "Records", "Loaders"]),
        .testTarget(
            name: "PosthocTests",
            dependencies: ["Posthoc", "Runtime", "RuntimeCPU", "Loaders", "Records", "TestModels"]),
        // End-to-end: runs the built `bayeval` binary as a user would.
        .testTarget(name: "CLITests", dependencies: ["bayeval", "Records", "Jobs", "TestModels"]),
    ]
)
