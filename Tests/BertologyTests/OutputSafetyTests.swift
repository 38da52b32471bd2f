import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Output safety through the built `bertology` (docs/RELIABILITY.md): SIGINT or SIGTERM during a
/// run stops it with exit status 130, leaves no partial or temporary file, and says how to go on;
/// every command that writes files refuses to replace existing output without `--force`.
@Suite(.serialized) struct OutputSafetyTests {
    static let corpus = TestPaths.repositoryRoot.appendingPathComponent("Tests/MalformedInputs")
    /// The tiny classifier of the corpus, and a three-example SST-2 file in the glue_data layout.
    static let tinyModel = corpus.appendingPathComponent("valid").path
    static let tinyData = corpus.appendingPathComponent("tsv/plain").path

    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-output-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func listing(_ folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
    }

    // MARK: - Interrupting a long run

    /// A `bertology` process whose stderr the test reads while it runs.
    final class Running {
        let process = Process()
        let stderrURL: URL
        let stdoutURL: URL
        private let finished = DispatchSemaphore(value: 0)

        init(_ arguments: [String], in folder: URL) throws {
            stderrURL = folder.appendingPathComponent("stderr.txt")
            stdoutURL = folder.appendingPathComponent("stdout.txt")
            _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
            _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
            process.executableURL = CommandLineTool.executable
            process.arguments = arguments
            // Plain progress lines on stderr: the test signals once the first one shows the run has begun.
            process.environment = ProcessInfo.processInfo.environment.merging(["BERTOLOGY_PROGRESS": "lines"]) { $1 }
            process.standardOutput = try FileHandle(forWritingTo: stdoutURL)
            process.standardError = try FileHandle(forWritingTo: stderrURL)
            process.standardInput = FileHandle.nullDevice
            process.terminationHandler = { [finished] _ in finished.signal() }
            try process.run()
        }

        var stderr: String { (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? "" }

        /// Waits (polling stderr) until `text` appears or the process ends; false on timeout or exit.
        func wait(for text: String, timeout: TimeInterval) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if stderr.contains(text) { return true }
                if !process.isRunning { return stderr.contains(text) }
                usleep(50_000)
            }
            return false
        }

        /// Waits for the end; SIGKILL after `timeout`. Returns (exit status or nil, signal or nil).
        func end(timeout: TimeInterval) -> (status: Int32?, signal: Int32?) {
            if finished.wait(timeout: .now() + timeout) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                finished.wait()
                return (nil, nil)
            }
            return process.terminationReason == .uncaughtSignal ? (nil, process.terminationStatus) : (process.terminationStatus, nil)
        }
    }

    static var defaultModelPresent: Bool {
        FileManager.default.fileExists(atPath: TestPaths.defaultModel.appendingPathComponent("model.safetensors").path)
    }

    /// Starts `arguments`, sends `signal` after the first progress line, and checks: exit status 130
    /// (not a crash, not a kill), the last stderr line `bertology: interrupted: ...; <advice>`, and no
    /// file or temporary left in `scratch` besides the logs and `keep`. Returns stderr.
    @discardableResult
    static func interrupt(_ arguments: [String], with signal: Int32, in scratch: URL, advice: String,
                          keep: [String] = []) throws -> String {
        let run = try Running(arguments, in: scratch)
        // Generous: model loading and tokenizing on a loaded 2-core machine, under ASan in tools/sanitize.
        let started = run.wait(for: "bertology: progress:", timeout: 600)
        #expect(started, "no progress line: \(run.stderr)")
        kill(run.process.processIdentifier, signal)
        let (status, bySignal) = run.end(timeout: 600)
        let stderr = run.stderr
        #expect(bySignal == nil, "ended by signal \(bySignal ?? 0): \(stderr)")
        #expect(status == 130, "exit \(String(describing: status)): \(stderr)")
        #expect(stderr.contains("bertology: stopping after the current batch (again to quit now)"), "\(stderr)")
        let last = stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("bertology: interrupted: ") && last.hasSuffix("; " + advice), "last line: \(last)")
        #expect(listing(scratch) == (["stderr.txt", "stdout.txt"] + keep).sorted(), "left behind: \(listing(scratch))")
        #expect(try Data(contentsOf: run.stdoutURL).isEmpty, "an interrupted run printed results")
        return stderr
    }

    /// eval with a predictions file: SIGINT after the first batch writes nothing, says so, and the
    /// same command then runs to the end.
    @Test func sigintDuringEvalLeavesNoFileAndTheSameCommandThenFinishes() throws {
        guard Self.defaultModelPresent else {
            Issue.record("\(TestPaths.defaultModel.path) is missing: run tools/setup to fetch the default model")
            return
        }
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let predictions = scratch.appendingPathComponent("predictions.jsonl")
        // 48 pairs (96 sequences) in batches of 4: 24 batches, so the signal lands well before the end.
        let arguments = ["eval", "--model", TestPaths.defaultModel.path, "--task", "STS-B", "--data", TestPaths.glue.path,
                         "--limit", "48", "--batch-size", "4", "--predictions", predictions.path]
        let stderr = try Self.interrupt(arguments, with: SIGINT, in: scratch,
                                        advice: "nothing was written; rerun the same command to start again")
        #expect(stderr.contains("evaluation of STS-B dev cancelled after"), "\(stderr)")

        // The advice holds: the same command, again, finishes and writes the whole file.
        let rerun = try CommandLineTool.run(arguments, timeout: 900)
        #expect(rerun.status == 0, "rerun: \(rerun.stderrText)")
        let lines = try String(contentsOf: predictions, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 48)
        #expect(!Self.listing(scratch).contains { $0.hasPrefix(".bertology-tmp-") })
    }

    /// analyze into a new folder: SIGTERM after the first batch removes the folder it created.
    @Test func sigtermDuringAnalyzeRemovesTheFolderItCreated() throws {
        guard Self.defaultModelPresent else {
            Issue.record("\(TestPaths.defaultModel.path) is missing: run tools/setup to fetch the default model")
            return
        }
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out")
        let stderr = try Self.interrupt(
            ["analyze", "--model", TestPaths.defaultModel.path, "--task", "SST-2", "--data", TestPaths.glue.path,
             "--limit", "64", "--batch-size", "4", "--only", "special-tokens,entropy", "--out", out.path],
            with: SIGTERM, in: scratch,
            advice: "nothing was written to \(out.path); rerun the same command to start again")
        #expect(stderr.contains("cancelled after"), "\(stderr)")
    }

    /// analyze --force into a folder holding an earlier file: SIGINT leaves exactly that file.
    @Test func sigintDuringAnalyzeWithForceLeavesTheFolderAsItWas() throws {
        guard Self.defaultModelPresent else {
            Issue.record("\(TestPaths.defaultModel.path) is missing: run tools/setup to fetch the default model")
            return
        }
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        try Data("earlier\n".utf8).write(to: out.appendingPathComponent("earlier.txt"))
        try Self.interrupt(
            ["analyze", "--model", TestPaths.defaultModel.path, "--task", "SST-2", "--data", TestPaths.glue.path,
             "--limit", "64", "--batch-size", "4", "--only", "special-tokens,entropy", "--out", out.path, "--force"],
            with: SIGINT, in: scratch,
            advice: "nothing was written to \(out.path); rerun the same command to start again", keep: ["out"])
        #expect(Self.listing(out) == ["earlier.txt"])
        #expect(try String(contentsOf: out.appendingPathComponent("earlier.txt"), encoding: .utf8) == "earlier\n")
    }

    /// Two signals in a row: the second quits at once (or the first has already stopped the run);
    /// either way exit 130, the advice, and no file or temporary.
    @Test func aSecondSignalQuitsAtOnceAndLeavesNothing() throws {
        guard Self.defaultModelPresent else {
            Issue.record("\(TestPaths.defaultModel.path) is missing: run tools/setup to fetch the default model")
            return
        }
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let out = scratch.appendingPathComponent("out")
        let run = try Running(["analyze", "--model", TestPaths.defaultModel.path, "--task", "SST-2", "--data", TestPaths.glue.path,
                               "--limit", "64", "--batch-size", "32", "--only", "special-tokens,entropy", "--out", out.path],
                              in: scratch)
        #expect(run.wait(for: "bertology: progress:", timeout: 600), "no progress line: \(run.stderr)")
        kill(run.process.processIdentifier, SIGINT)
        _ = run.wait(for: "again to quit now", timeout: 60)
        kill(run.process.processIdentifier, SIGINT)
        let (status, bySignal) = run.end(timeout: 600)
        let stderr = run.stderr
        #expect(bySignal == nil && status == 130, "exit \(String(describing: status)), signal \(String(describing: bySignal)): \(stderr)")
        let last = stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(last.hasPrefix("bertology: interrupted") && last.hasSuffix("nothing was written to \(out.path); rerun the same command to start again"),
                "last line: \(last)")
        #expect(Self.listing(scratch) == ["stderr.txt", "stdout.txt"], "left behind: \(Self.listing(scratch))")
    }

    // MARK: - --force

    @Test func analyzeRefusesANonEmptyFolderWithoutForce() throws {
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        try Data("earlier\n".utf8).write(to: scratch.appendingPathComponent("earlier.txt"))
        let arguments = ["analyze", "--model", Self.tinyModel, "--task", "SST-2", "--data", Self.tinyData,
                         "--only", "entropy", "--out", scratch.path]
        let refused = try CommandLineTool.run(arguments, timeout: 300)
        #expect(refused.status == 2)
        #expect(refused.stderrText == "bertology: \(scratch.path) exists and is not empty (1 entries); choose another --out folder, or add --force to write into it\n")
        #expect(Self.listing(scratch) == ["earlier.txt"])

        let forced = try CommandLineTool.run(arguments + ["--force"], timeout: 300)
        #expect(forced.status == 0, "\(forced.stderrText)")
        let files = Self.listing(scratch)
        #expect(files.contains("earlier.txt") && files.contains("index.html") && files.contains("entropy.json"), "\(files)")
        #expect(!files.contains { $0.hasPrefix(".bertology-tmp-") })
    }

    @Test func evalRefusesToReplaceAPredictionsFileWithoutForce() throws {
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let predictions = scratch.appendingPathComponent("predictions.jsonl")
        try Data("earlier\n".utf8).write(to: predictions)
        let arguments = ["eval", "--model", Self.tinyModel, "--task", "SST-2", "--data", Self.tinyData,
                         "--predictions", predictions.path]
        let refused = try CommandLineTool.run(arguments, timeout: 300)
        #expect(refused.status == 2)
        #expect(refused.stderrText == "bertology: \(predictions.path) exists; choose another --predictions file, or add --force to replace it\n")
        #expect(try String(contentsOf: predictions, encoding: .utf8) == "earlier\n")

        let forced = try CommandLineTool.run(arguments + ["--force"], timeout: 300)
        #expect(forced.status == 0, "\(forced.stderrText)")
        #expect(try String(contentsOf: predictions, encoding: .utf8).split(separator: "\n").count == 3)
        #expect(Self.listing(scratch) == ["predictions.jsonl"])

        // A predictions path in a folder that does not exist fails before the run.
        let missing = scratch.appendingPathComponent("no-such-folder/predictions.jsonl").path
        let early = try CommandLineTool.run(["eval", "--model", Self.tinyModel, "--task", "SST-2", "--data", Self.tinyData,
                                             "--predictions", missing], timeout: 300)
        #expect(early.status == 1)
        #expect(early.stderrText == "bertology: \(missing): cannot write: the folder \(scratch.path)/no-such-folder does not exist\n")
    }

    @Test func inspectRefusesToReplaceAnNPYFileWithoutForce() throws {
        let scratch = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: scratch) }
        let npy = scratch.appendingPathComponent("attentions.npy")
        try Data("earlier\n".utf8).write(to: npy)
        let arguments = ["inspect", "--model", Self.tinyModel, "--npy", npy.path, "the man plays"]
        let refused = try CommandLineTool.run(arguments, timeout: 300)
        #expect(refused.status == 2)
        #expect(refused.stderrText == "bertology: \(npy.path) exists; choose another --npy file, or add --force to replace it\n")
        #expect(try String(contentsOf: npy, encoding: .utf8) == "earlier\n")

        let forced = try CommandLineTool.run(arguments + ["--force"], timeout: 300)
        #expect(forced.status == 0, "\(forced.stderrText)")
        #expect(try Data(contentsOf: npy).starts(with: [0x93] + Array("NUMPY".utf8)))
        #expect(Self.listing(scratch) == ["attentions.npy"])
    }
}
