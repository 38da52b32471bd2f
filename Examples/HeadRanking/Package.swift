// swift-tools-version: 6.1
// An app that embeds Bertology the way any outside package would: by git URL and branch (or
// revision). SwiftPM refuses Bertology's C target flags (-fopenmp) in a dependency named by version
// (`from:`/`exact:`), so name a branch or a revision.
//
// CI points it at the checkout under test: BERTOLOGY_GIT_URL=file:///.../bertology.git and
// BERTOLOGY_REVISION=<commit> (see .ci/run). The URL's last path component must be "bertology"
// (it is the package's identity, used in `.product(... package: "bertology")` below).
import Foundation
import PackageDescription

let environment = ProcessInfo.processInfo.environment
let bertologyURL = environment["BERTOLOGY_GIT_URL"] ?? "https://github.com/bertology/bertology.git"
let bertology: Package.Dependency = if let revision = environment["BERTOLOGY_REVISION"] {
    .package(url: bertologyURL, revision: revision)
} else {
    .package(url: bertologyURL, branch: environment["BERTOLOGY_BRANCH"] ?? "main")
}

let package = Package(
    name: "HeadRanking",
    platforms: [.macOS(.v14)],
    dependencies: [bertology],
    targets: [
        .executableTarget(
            name: "head-ranking",
            dependencies: [.product(name: "Bertology", package: "bertology")],
            path: "Sources/HeadRanking"
        ),
    ],
    swiftLanguageModes: [.v6]
)
