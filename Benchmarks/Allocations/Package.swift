// swift-tools-version: 6.1
// Allocation and wall-time benchmarks of a steady-state forward pass and training step (ordo-one/benchmark with its
// malloc interposer). A package of its own so the root `swift test` never builds it (about 3 minutes
// for the first release build). Run from this folder: `swift package --scratch-path ../../.build-allocations benchmark` (the scratch path keeps the
// dependencies' checkouts out of the source tree, in a git-ignored folder at the top).
import PackageDescription

let package = Package(
    name: "BertologyAllocations",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        // Named explicitly: CI clones the repository into a folder with another name.
        .package(name: "Bertology", path: "../.."),
    ],
    targets: [
        .executableTarget(
            name: "ForwardAllocations",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Bertology", package: "Bertology"),
            ],
            path: "Benchmarks/ForwardAllocations",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "TrainingAllocations",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Bertology", package: "Bertology"),
            ],
            path: "Benchmarks/TrainingAllocations",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
