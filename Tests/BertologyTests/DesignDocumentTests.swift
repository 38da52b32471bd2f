import Foundation
import Testing

/// docs/DESIGN.md states facts about the code that drift when nobody checks them: the number of
/// public types (by the rule the page gives), the modules of its table, and that no comment cites an
/// issue number instead of saying its reason. Whoever changes the code changes the page with it.
@Suite struct DesignDocumentTests {
    static let root = TestPaths.repositoryRoot

    static func text(_ path: String) throws -> String {
        try String(contentsOf: root.appendingPathComponent(path), encoding: .utf8)
    }

    static func swiftFiles(under folder: String) -> [URL] {
        let url = root.appendingPathComponent(folder)
        guard let files = FileManager.default.enumerator(at: url, includingPropertiesForKeys: nil) else { return [] }
        return files.compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
    }

    /// DESIGN.md's rule: a line that declares a top-level public struct, class, enum, protocol,
    /// typealias or actor (attributes before it allowed), not `@_spi`.
    static func publicTypes(in module: String) throws -> Int {
        let declaration = #/^(@[A-Za-z_]+(\([A-Za-z]+\))? )*public (final )?(struct|class|enum|protocol|typealias|actor) /#
        var count = 0
        for file in swiftFiles(under: "Sources/\(module)") {
            for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            where line.firstMatch(of: declaration) != nil && !line.contains("@_spi") {
                count += 1
            }
        }
        return count
    }

    @Test func publicTypeCountIsTheOneTheDesignPageStates() throws {
        let design = try Self.text("docs/DESIGN.md")
        let stated = #/Public types: (\d+) \(engine (\d+), experiments (\d+), umbrella (\d+)\)/#
        let match = try #require(design.firstMatch(of: stated), "docs/DESIGN.md states no \"Public types: N (engine E, experiments X, umbrella U)\"")
        let engine = try Self.publicTypes(in: "BertologyEngine")
        let experiments = try Self.publicTypes(in: "BertologyExperiments")
        let umbrella = try Self.publicTypes(in: "Bertology")
        let counted = "Public types: \(engine + experiments + umbrella) (engine \(engine), experiments \(experiments), umbrella \(umbrella))"
        #expect(String(match.output.0) == counted, "docs/DESIGN.md says \"\(match.output.0)\"; the code has \"\(counted)\": update the page")
    }

    /// The module table (the code block of "## Modules": lines `Name (path)`) against the targets of
    /// Package.swift that are not tests.
    @Test func moduleTableListsThePackagesTargets() throws {
        let design = try Self.text("docs/DESIGN.md")
        let section = try #require(design.firstRange(of: "## Modules").map { design[$0.upperBound...] })
        let block = section.split(separator: "```", omittingEmptySubsequences: false)[1]
        let row = #/^([A-Za-z][A-Za-z0-9]*) \(([^)]+)\)/#
        var documented: [String: String] = [:]
        for line in block.split(separator: "\n") {
            if let match = line.firstMatch(of: row) { documented[String(match.output.1)] = Self.normalised(String(match.output.2)) }
        }

        let manifest = try Self.text("Package.swift")
        var targets: [String: String] = [:]
        for chunk in manifest.split(separator: ".target(").dropFirst() + manifest.split(separator: ".executableTarget(").dropFirst() {
            guard let name = chunk.firstMatch(of: #/name: "([^"]+)"/#), let path = chunk.firstMatch(of: #/path: "([^"]+)"/#) else { continue }
            let folder = Self.normalised(String(path.output.1))
            if !folder.hasPrefix("Benchmarks") { targets[String(name.output.1)] = folder }
        }
        #expect(!targets.isEmpty)
        #expect(documented == targets, "docs/DESIGN.md's module table \(documented.sorted { $0.key < $1.key }) vs Package.swift \(targets.sorted { $0.key < $1.key })")
    }

    static func normalised(_ path: String) -> String {
        path.hasSuffix("/") ? String(path.dropLast()) : path
    }

    /// A comment says why, in its own words: an issue's number (the word and a number, or a number
    /// after a hash in parentheses) points at a tracker a reader of the repository may not have.
    @Test func noCommentCitesAnIssueNumber() throws {
        let citation = #/[Ii]ssues? #?[0-9]+|\(#[0-9]+\)|PR #?[0-9]+/#
        var offenders: [String] = []
        for folder in ["Sources", "CKernels", "Tests/BertologyTests", "tools", "Benchmarks", "Fuzz", ".ci", "Examples"] {
            guard let files = FileManager.default.enumerator(at: Self.root.appendingPathComponent(folder), includingPropertiesForKeys: nil) else { continue }
            for case let file as URL in files {
                guard !file.path.contains("/Fixtures/"), !file.path.contains("/.build"),
                      (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                      let text = try? String(contentsOf: file, encoding: .utf8) else { continue }
                for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
                where line.firstMatch(of: citation) != nil {
                    offenders.append("\(file.path.replacingOccurrences(of: Self.root.path + "/", with: "")):\(index + 1)")
                }
            }
        }
        #expect(offenders == [], "comments citing an issue: \(offenders)")
    }
}
