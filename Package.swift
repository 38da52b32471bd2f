// swift-tools-version: 6.1
import PackageDescription

// MARK: - Build settings

// omp.h comes from libomp-19-dev; Swift's bundled clang ships neither omp.h nor libomp
// (see docs/BUILD.md). `libomp-dev` (LLVM 14) would fail to link `__kmpc_dispatch_deinit`.
let openMPCFlags = ["-fopenmp", "-isystem", "/usr/lib/llvm-19/lib/clang/19/include"]

// `swift test` builds debug, where C would be -O0: kernels that slow make the parity tests crawl.
// -O2 always, -O3 in release. Never -ffast-math (masked softmax relies on -INFINITY) and never
// -march=native (the runtime ISA dispatch picks AVX-512 / AVX2 / scalar per function instead).
let kernelCFlags: [CSetting] = [
    .unsafeFlags(openMPCFlags, .when(platforms: [.linux])),
    .unsafeFlags(["-O2"], .when(configuration: .debug)),
    .unsafeFlags(["-O3"], .when(configuration: .release)),
]
let kernelLinkerSettings: [LinkerSetting] = [
    .linkedLibrary("omp5", .when(platforms: [.linux])),
    .linkedLibrary("m"),
]

let package = Package(
    name: "Bertology",
    platforms: [.macOS(.v14)],
    // MARK: - Public API
    products: [
        .library(name: "Bertology", targets: ["Bertology"]),
        .executable(name: "bertology", targets: ["bertology"]),
        .executable(name: "kernel-bench", targets: ["kernel-bench"]),
        .executable(name: "model-bench", targets: ["model-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation --target Bertology` (DocC); a plugin, never linked.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        // MARK: - C core
        .target(
            name: "CKernels",
            path: "CKernels",
            cSettings: kernelCFlags,
            linkerSettings: kernelLinkerSettings
        ),
        // MARK: - Swift library
        .target(
            name: "Bertology",
            dependencies: ["CKernels"],
            path: "Sources/Bertology"
        ),
        // MARK: - Command-line tool (argument parsing only)
        .executableTarget(
            name: "bertology",
            dependencies: [
                "Bertology",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/bertology"
        ),
        // MARK: - Benchmarks (dependency-free; the ordo-one allocation benchmark is its own package
        // in Benchmarks/Allocations, so `swift test` never builds it)
        .executableTarget(
            name: "kernel-bench",
            dependencies: ["Bertology", "CKernels"],
            path: "Benchmarks/KernelBench"
        ),
        .executableTarget(
            name: "model-bench",
            dependencies: ["Bertology", "CKernels"],
            path: "Benchmarks/ModelBench"
        ),
        .executableTarget(
            name: "tokenizer-bench",
            dependencies: ["Bertology"],
            path: "Benchmarks/TokenizerBench"
        ),
        .executableTarget(
            name: "analysis-bench",
            dependencies: ["Bertology"],
            path: "Benchmarks/AnalysisBench"
        ),
        // MARK: - Tests
        .testTarget(
            name: "BertologyTests",
            dependencies: ["Bertology", "CKernels"],
            path: "Tests/BertologyTests",
            // Reference values read from disk via TestPaths (#filePath), not bundled as resources.
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
