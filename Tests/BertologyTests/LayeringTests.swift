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

    /// The library's lines of code (not comments) in the engine and the experiments, with their file names.
    static func libraryCodeLines() throws -> [(file: String, line: String)] {
        var lines: [(file: String, line: String)] = []
        for module in ["BertologyEngine", "BertologyExperiments"] {
            let folder = TestPaths.repositoryRoot.appendingPathComponent("Sources/\(module)")
            let files = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: nil)!
                .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
            for file in files {
                for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n")
                where !line.trimmingCharacters(in: .whitespaces).hasPrefix("//") {
                    lines.append((file.lastPathComponent, String(line)))
                }
            }
        }
        return lines
    }

    /// Library errors say what is wrong in the library's words: no command-line flag in the engine's
    /// or the experiments' code (the reports' "seeded sample: --limit N --seed S" lines are result
    /// files, kept byte for byte; "tools/setup --model" is the setup script's option, which the
    /// missing-default-model message names); a setting is named in backticks (`` `maxLength` ``) and the CLI
    /// must know its flag (`optionOfSetting` in Sources/bertology/BertologyCommand.swift).
    @Test func libraryMessagesNameSettingsTheCLIMapsToFlags() throws {
        let lines = try Self.libraryCodeLines()
        #expect(!lines.isEmpty)
        let flag = try Regex("--[a-z]")
        let flagged = lines.filter { $0.line.contains(flag) && !$0.line.contains("seeded sample: --limit")
            && !$0.line.contains("tools/setup --model") }
        #expect(flagged.isEmpty, "library code quotes a flag: \(flagged.map { "\($0.file): \($0.line)" })")

        let cli = try String(contentsOf: TestPaths.repositoryRoot.appendingPathComponent("Sources/bertology/BertologyCommand.swift"),
                             encoding: .utf8)
        let known = Set(cli.matches(of: try Regex("\"([A-Za-z]+)\": \"--")).compactMap { $0.output[1].substring.map(String.init) })
        #expect(known.contains("maxLength"), "optionOfSetting was not found in the CLI's source")
        let setting = try Regex("`([A-Za-z]+)`")
        var unknown: [String] = []
        for (file, line) in lines {
            for match in line.matches(of: setting) {
                if let name = match.output[1].substring.map(String.init), !known.contains(name) { unknown.append("\(file): `\(name)`") }
            }
        }
        #expect(unknown.isEmpty, "settings named in library messages without a flag in optionOfSetting: \(unknown)")
    }
}
