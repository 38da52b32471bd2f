// swift-tools-version: 6.1
// The benchmarks: a package of their own that depends on the root package by path, so that the
// root's `swift build` and `swift test` never compile them. Run from the repository's top:
//   swift run --package-path Benchmarks -c release kernel-bench [--json]
//   swift run --package-path Benchmarks -c release model-bench --config bert-base --batch 32 --seq 128
//   swift test --package-path Benchmarks     (the FMA probe's own test)
// The allocation benchmarks (ordo-one/benchmark) are a further package in Allocations/.
import PackageDescription

// As the root package builds CKernels (see its Package.swift): OpenMP from libomp-19-dev, -O2 in
// debug, -O3 in release, never -ffast-math or -march=native.
let openMPCFlags = ["-fopenmp", "-isystem", "/usr/lib/llvm-19/lib/clang/19/include"]
let kernelCFlags: [CSetting] = [
    .unsafeFlags(openMPCFlags, .when(platforms: [.linux])),
    .unsafeFlags(["-O2"], .when(configuration: .debug)),
    .unsafeFlags(["-O3"], .when(configuration: .release)),
]
let kernelLinkerSettings: [LinkerSetting] = [
    .linkedLibrary("omp5", .when(platforms: [.linux])),
    .linkedLibrary("m"),
]

let bertology: Target.Dependency = .product(name: "Bertology", package: "Bertology")

let package = Package(
    name: "BertologyBenchmarks",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kernel-bench", targets: ["kernel-bench"]),
        .executable(name: "model-bench", targets: ["model-bench"]),
        .executable(name: "tokenizer-bench", targets: ["tokenizer-bench"]),
        .executable(name: "analysis-bench", targets: ["analysis-bench"]),
    ],
    dependencies: [
        // Named explicitly: CI clones the repository into a folder with another name.
        .package(name: "Bertology", path: ".."),
    ],
    targets: [
        // The FMA peak probe (a benchmark tool, not a kernel): C for the vector FMA chains, on
        // CKernels' public header (the active ISA, the CPU probe).
        .target(
            name: "FMAProbe",
            dependencies: [bertology],
            path: "FMAProbe",
            cSettings: kernelCFlags,
            linkerSettings: kernelLinkerSettings
        ),
        .executableTarget(name: "kernel-bench", dependencies: [bertology, "FMAProbe"], path: "KernelBench"),
        .executableTarget(name: "model-bench", dependencies: [bertology], path: "ModelBench"),
        .executableTarget(name: "tokenizer-bench", dependencies: [bertology], path: "TokenizerBench"),
        .executableTarget(name: "analysis-bench", dependencies: [bertology], path: "AnalysisBench"),
        .testTarget(
            name: "BenchmarkTests",
            dependencies: [bertology, "FMAProbe"],
            path: "Tests/BenchmarkTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
