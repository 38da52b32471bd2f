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
        /// JSON keys left out when comparing with `same_stdout_as` (eval's timings and file path).
        let same_stdout_ignoring: [String]?
        /// Files too large to commit (the 10 MB line), written into a copy of the case folder.
        let generate: [String: [Part]]?
        let timeout: Double?
        /// Variables set for the command, and the folder it runs in (`$CASE` expanded in both).
        let env: [String: String]?
        let cwd: String?

        struct Part: Sendable, Decodable {
            let text: String
            let times: Int
        }

        private enum CodingKeys: String, CodingKey {
            case description, args, exit, stderr, same_stdout_as, same_stdout_ignoring, generate, timeout, env, cwd
        }

        var testDescription: String { name }
        var committedFolder: URL { MalformedInputTests.corpus.appendingPathComponent(name) }

        /// `$CASE` and `$CORPUS` made absolute.
        func expand(_ text: String, folder: URL) -> String {
            text.replacingOccurrences(of: "$CASE", with: folder.path)
                .replacingOccurrences(of: "$CORPUS", with: MalformedInputTests.corpus.path)
        }

        /// Runs the case; `check` gets the result and the folder `$CASE` was (a scratch copy when
        /// the case has generated files).
        func run<T>(_ check: (CommandLineTool.Result, URL) throws -> T) throws -> T {
            var folder = committedFolder
            var scratch: URL?
            if let generate {
                let copy = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-case-\(UUID().uuidString)")
                try FileManager.default.copyItem(at: committedFolder, to: copy)
                for (file, parts) in generate {
                    var data = Data()
                    for part in parts {
                        let bytes = Data(part.text.utf8)
                        for _ in 0..<part.times { data.append(bytes) }
                    }
                    let url = copy.appendingPathComponent(file)
                    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                    try data.write(to: url)
                }
                folder = copy
                scratch = copy
            }
            defer { if let scratch { try? FileManager.default.removeItem(at: scratch) } }
            let result = try CommandLineTool.run(args.map { expand($0, folder: folder) },
                                                 environment: (env ?? [:]).mapValues { expand($0, folder: folder) },
                                                 in: cwd.map { URL(fileURLWithPath: expand($0, folder: folder)) },
                                                 timeout: timeout ?? 60)
            return try check(result, folder)
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
        #expect(Self.cases.count >= 100, "the corpus has \(Self.cases.count) cases; run tools/make-malformed-corpus")
        #expect(FileManager.default.isExecutableFile(atPath: CommandLineTool.executable.path),
                "no bertology executable at \(CommandLineTool.executable.path)")
    }

    @Test(arguments: cases)
    func caseGivesItsExitStatusAndMessage(_ entry: Case) throws {
        let before = try Self.listing(entry.committedFolder)
        let stdout = try entry.run { result, folder in
            #expect(!result.timedOut, "\(entry.name) did not finish in \(Int(entry.timeout ?? 60)) s")
            #expect(result.signal == nil, "\(entry.name) ended by signal \(result.signal ?? 0): \(result.stderrText)")
            #expect(result.status == entry.exit, "\(entry.name): exit \(String(describing: result.status)), stderr: \(result.stderrText)")
            let expected = entry.stderr.isEmpty ? "" : entry.expand(entry.stderr, folder: folder) + "\n"
            #expect(result.stderrText == expected, "\(entry.name)")
            if entry.exit != 0 {
                #expect(result.stdout.isEmpty, "\(entry.name) failed but wrote to stdout: \(result.stdoutText)")
            }
            return result.stdout
        }
        // Nothing is written into the case folder (analyze --out there is refused before it is made).
        #expect(try Self.listing(entry.committedFolder) == before, "\(entry.name) left files in its folder")
        if let other = entry.same_stdout_as {
            let reference = try #require(Self.cases.first { $0.name == other }, "no case \(other)")
            let expected = try reference.run { result, _ in result.stdout }
            let ignoring = entry.same_stdout_ignoring ?? []
            #expect(try Self.dropping(ignoring, from: stdout) == Self.dropping(ignoring, from: expected),
                    "\(entry.name) and \(other) differ on stdout")
        }
    }

    static func listing(_ folder: URL) throws -> [String] {
        (FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String } ?? []).sorted()
    }

    /// stdout with the given keys removed from its JSON object (stdout itself when `keys` is empty).
    static func dropping(_ keys: [String], from stdout: Data) throws -> Data {
        guard !keys.isEmpty else { return stdout }
        guard var object = try JSONSerialization.jsonObject(with: stdout) as? [String: Any] else { return stdout }
        for key in keys { object.removeValue(forKey: key) }
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// analyze reads GLUE files too: texts over the model's positions give the same single warning as
    /// eval (tsv/far-over-512-tokens), then the report line. Not a corpus case: it writes a folder.
    @Test func analyzeWarnsOnceForTextsOverTheModelsPositions() throws {
        let folder = Self.corpus.appendingPathComponent("tsv/far-over-512-tokens")
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-analyze-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let result = try CommandLineTool.run(["analyze", "--model", folder.path, "--task", "SST-2", "--data", folder.path,
                                              "--only", "entropy", "--out", out.path], timeout: 300)
        #expect(result.status == 0, "\(result.stderrText)")
        let lines = result.stderrText.split(separator: "\n").map(String.init)
        #expect(lines.first == "bertology: warning: \(folder.path)/SST-2/dev.tsv: 2 of 3 examples are longer than the model's 512 "
                + "positions (max_position_embeddings): truncated to 512 tokens, longest first (--max-length sets the length)")
        #expect(lines.count == 2 && lines.last?.hasPrefix("analyze: wrote ") == true, "\(lines)")
    }
}
