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
        // One import for an app (`import Bertology`); the two modules it re-exports are in the product
        // so that tools needing their SPI (fuzzers, the benchmarks' package in Benchmarks/) can name them.
        .library(name: "Bertology", targets: ["Bertology", "BertologyEngine", "BertologyExperiments"]),
        .executable(name: "bertology", targets: ["bertology"]),
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
        // MARK: - Swift library (docs/DESIGN.md, "Modules")
        // The engine: checkpoint, tokenizer, tensor, model, partial forward, kernel settings. The only
        // library target that may import CKernels.
        // SHA-256 for the engine's file fingerprints: C at -O2 so debug builds hash a model fast;
        // not a kernel, so not in CKernels (docs/BUILD.md, "SHA-256").
        .target(
            name: "CSHA256",
            path: "Sources/CSHA256",
            cSettings: [.unsafeFlags(["-O2"])]
        ),
        .target(
            name: "BertologyEngine",
            dependencies: ["CKernels", "CSHA256"],
            path: "Sources/BertologyEngine"
        ),
        // The experiments: GLUE data, evaluation, analyses, ablation, reports; built on the engine's
        // public API only (and `package` declarations of this package), never on CKernels.
        // Its web files (Resources/web: the report's CSS, the attention viewer's JavaScript, the page
        // templates) are compiled in as strings by the plugin below, not bundled (docs/DESIGN.md).
        .target(
            name: "BertologyExperiments",
            dependencies: ["BertologyEngine"],
            path: "Sources/BertologyExperiments",
            exclude: ["Resources"],
            plugins: ["EmbedWebResourcesPlugin"]
        ),
        // The umbrella an app imports: `import Bertology` re-exports both.
        .target(
            name: "Bertology",
            dependencies: ["BertologyEngine", "BertologyExperiments"],
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
        // MARK: - Build tools
        // Writes a target's Resources/web files into a Swift file of string constants at build time
        // (a shell command: no executable to build, so no build flags can break it).
        .plugin(
            name: "EmbedWebResourcesPlugin",
            capability: .buildTool(),
            path: "Plugins/EmbedWebResourcesPlugin"
        ),
        // MARK: - Tests
        .testTarget(
            name: "BertologyTests",
            dependencies: ["Bertology", "BertologyEngine", "BertologyExperiments", "CKernels"],
            path: "Tests/BertologyTests",
            // Reference values read from disk via TestPaths (#filePath), not bundled as resources.
            exclude: ["Fixtures"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
