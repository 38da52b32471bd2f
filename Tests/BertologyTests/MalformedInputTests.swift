import Foundation
import Testing

/// The malformed-input corpus (Tests/MalformedInputs/, written by tools/make-malformed-corpus):
/// the built `bertology` on every case ends with the case's exit status, never a signal, and prints
/// exactly the case's one line on stderr (nothing on stdout when it fails). docs/RELIABILITY.md
/// lists the cases.
@Suite struct MalformedInputTests {
    static let corpus = TestPaths.repositoryRoot.appendingPathComponent("Tests/MalformedInputs")

    struct Case: Sendable, CustomTestStringConvertible, Decodable {
        var name = ""
        let description: String
        let args: [String]
        let exit: Int32
        let stderr: String
        let same_stdout_as: String?

        private enum CodingKeys: String, CodingKey { case description, args, exit, stderr, same_stdout_as }

        var testDescription: String { name }
        var folder: URL { MalformedInputTests.corpus.appendingPathComponent(name) }

        /// `$CASE` and `$CORPUS` made absolute.
        func expand(_ text: String) -> String {
            text.replacingOccurrences(of: "$CASE", with: folder.path)
                .replacingOccurrences(of: "$CORPUS", with: MalformedInputTests.corpus.path)
        }

        func run() throws -> CommandLineTool.Result {
            try CommandLineTool.run(args.map(expand), timeout: 60)
        }
    }

    /// Every case.json under the corpus, named by its folder.
    static let cases: [Case] = {
        guard let walker = FileManager.default.enumerator(at: corpus, includingPropertiesForKeys: nil) else { return [] }
        var cases: [Case] = []
        for case let url as URL in walker where url.lastPathComponent == "case.json" {
            guard let data = try? Data(contentsOf: url), var entry = try? JSONDecoder().decode(Case.self, from: data) else {
                continue  // reported by corpusIsComplete
            }
            entry.name = String(url.deletingLastPathComponent().path.dropFirst(corpus.path.count + 1))
            cases.append(entry)
        }
        return cases.sorted { $0.name < $1.name }
    }()

    @Test func corpusIsComplete() throws {
        let files = FileManager.default.enumerator(atPath: Self.corpus.path)?.compactMap { $0 as? String } ?? []
        let manifests = files.filter { $0.hasSuffix("case.json") }
        #expect(manifests.count == Self.cases.count, "a case.json did not decode")
        #expect(Self.cases.count >= 80, "the corpus has \(Self.cases.count) cases; run tools/make-malformed-corpus")
        #expect(FileManager.default.isExecutableFile(atPath: CommandLineTool.executable.path),
                "no bertology executable at \(CommandLineTool.executable.path)")
    }

    @Test(arguments: cases)
    func caseGivesItsExitStatusAndMessage(_ entry: Case) throws {
        let result = try entry.run()
        #expect(!result.timedOut, "\(entry.name) did not finish in 60 s")
        #expect(result.signal == nil, "\(entry.name) ended by signal \(result.signal ?? 0): \(result.stderrText)")
        #expect(result.status == entry.exit, "\(entry.name): exit \(String(describing: result.status)), stderr: \(result.stderrText)")
        let expected = entry.stderr.isEmpty ? "" : entry.expand(entry.stderr) + "\n"
        #expect(result.stderrText == expected, "\(entry.name)")
        if entry.exit != 0 {
            #expect(result.stdout.isEmpty, "\(entry.name) failed but wrote to stdout: \(result.stdoutText)")
        }
        if let other = entry.same_stdout_as {
            let reference = try #require(Self.cases.first { $0.name == other }, "no case \(other)")
            #expect(result.stdout == (try reference.run()).stdout, "\(entry.name) and \(other) differ on stdout")
        }
    }
}
