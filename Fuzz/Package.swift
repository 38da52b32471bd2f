// swift-tools-version: 6.1
import Foundation
import PackageDescription

// Fuzz targets for the readers of untrusted input (docs/RELIABILITY.md). A separate package, so the
// fuzzer and sanitizer flags never reach the main build: tools/fuzz builds it with
//   swift build -c release -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
//
// Every folder Sources/fuzz-<name>/ is a fuzz target (an executable whose one file defines
// LLVMFuzzerTestOneInput), found here by listing the folder: adding a target is adding one file.
let targetNames = ((try? FileManager.default.contentsOfDirectory(atPath: Context.packageDirectory + "/Sources")) ?? [])
    .filter { $0.hasPrefix("fuzz-") }
    .sorted()

let package = Package(
    name: "BertologyFuzz",
    platforms: [.macOS(.v14)],
    products: targetNames.map { .executable(name: $0, targets: [$0]) },
    dependencies: [
        // Named explicitly: CI may clone into a folder with another name (docs/BUILD.md).
        .package(name: "Bertology", path: ".."),
    ],
    targets: [
        .target(
            name: "FuzzSupport",
            dependencies: [.product(name: "Bertology", package: "Bertology")],
            path: "Sources/FuzzSupport"
        ),
    ] + targetNames.map { name in
        .executableTarget(
            name: name,
            dependencies: ["FuzzSupport", .product(name: "Bertology", package: "Bertology")],
            path: "Sources/\(name)",
            // SwiftPM links an executable with `--defsym main=<module>_main`; with libFuzzer's own main
            // also linked in (-sanitize=fuzzer), GNU gold stops with "internal error in
            // format_file_lineno". lld (shipped with Swift) lets the --defsym win: the target's
            // main.swift runs and calls LLVMFuzzerRunDriver.
            linkerSettings: [.unsafeFlags(["-use-ld=lld"], .when(platforms: [.linux]))]
        )
    },
    swiftLanguageModes: [.v6]
)
