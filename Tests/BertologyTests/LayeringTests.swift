import Foundation
import Testing

/// The module layering of docs/DESIGN.md that the compiler cannot check by itself: SwiftPM lets any
/// target import a C module anywhere in its dependency graph, so `import CKernels` in
/// BertologyExperiments or the CLI would build. The engine imports it `internal`, so no C type
/// reaches its public interface; this test keeps every other library and CLI file off it.
@Suite struct LayeringTests {
    @Test func onlyTheEngineImportsTheCKernels() throws {
        let sources = TestPaths.repositoryRoot.appendingPathComponent("Sources")
        let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)!
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
        #expect(!files.isEmpty)
        var offenders: [String] = []
        for file in files where !file.path.contains("/Sources/BertologyEngine/") {
            let text = try String(contentsOf: file, encoding: .utf8)
            let imports = text.split(separator: "\n").contains { line in
                line.split(separator: " ").contains("CKernels") && line.contains("import")
            }
            if imports { offenders.append(file.lastPathComponent) }
        }
        #expect(offenders == [], "only Sources/BertologyEngine may import CKernels")
    }
}
