import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import BertologyEngine
@testable import BertologyExperiments

/// `bertology ablate` and `bertology merge` as a user runs them: three parts and a merge write the
/// single run's files byte for byte; bad usage exits 2.
@Suite struct AblationCommandTests {
    static let model = TestPaths.fixture("models/tiny-classifier").path
    static let data = TestPaths.fixture("glue-format").path

    static func ablate(_ extra: [String]) throws -> CommandLineTool.Result {
        try CommandLineTool.run(["ablate", "--model", model, "--task", "MNLI", "--data", data, "--mode", "zero"] + extra, timeout: 60)
    }

    @Test func shardedRunsMergedEqualOneRunThroughTheCommandLine() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-ablate-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let single = root.appendingPathComponent("single")
        let run = try Self.ablate(["--out", single.path])
        #expect(run.status == 0, "\(run.stderrText)")
        #expect(run.stdoutText.contains("baseline: accuracy"))
        for index in 1...3 {
            let part = try Self.ablate(["--shard", "\(index)/3", "--out", root.appendingPathComponent("part\(index)").path])
            #expect(part.status == 0, "\(part.stderrText)")
            #expect(part.stderrText.contains("part \(index)/3 done"))
        }
        let merged = root.appendingPathComponent("merged")
        let merge = try CommandLineTool.run(["merge"] + (1...3).map { root.appendingPathComponent("part\($0)").path } + ["--out", merged.path])
        #expect(merge.status == 0, "\(merge.stderrText)")
        #expect(merge.stdoutText == run.stdoutText, "merge prints the single run's summary")
        try AblationResumeShardTests.expectSameReports(single, merged)

        // Usage errors exit 2: an existing journal without --resume, a bad shard, both --resume and --force,
        // a missing part.
        let again = try Self.ablate(["--out", single.path])
        #expect(again.status == 2 && again.stderrText.contains("--resume"))
        #expect(try Self.ablate(["--shard", "0/3", "--out", root.appendingPathComponent("x").path]).status == 2)
        #expect(try Self.ablate(["--resume", "--force", "--out", single.path]).status == 2)
        let incomplete = try CommandLineTool.run(["merge", root.appendingPathComponent("part1").path, "--out", root.appendingPathComponent("y").path])
        #expect(incomplete.status == 2 && incomplete.stderrText.contains("missing"))
        // Resuming the finished run rewrites the same files.
        let resumed = try Self.ablate(["--resume", "--out", single.path])
        #expect(resumed.status == 0 && resumed.stdoutText == run.stdoutText)
    }

    // MARK: - Signals

    /// Starts `bertology arguments...` without waiting; stdout and stderr go to files in `folder`.
    static func start(_ arguments: [String], logs folder: URL) throws -> Process {
        let process = Process()
        process.executableURL = CommandLineTool.executable
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(["OMP_NUM_THREADS": "2"]) { $1 }
        let stdout = folder.appendingPathComponent("stdout-\(UUID().uuidString)")
        let stderr = folder.appendingPathComponent("stderr-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: stdout)
        process.standardError = try FileHandle(forWritingTo: stderr)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Polls until `condition` holds or the process ends; true when it held while the process ran.
    static func wait(for process: Process, timeout: TimeInterval = 120, until condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline {
            if condition() { return true }
            usleep(5_000)
        }
        return false
    }

    static func records(_ journal: URL) -> Int {
        (try? AblationJournal.read(journal).records.count) ?? 0
    }

    /// A real process stopped twice: SIGTERM once the sweep has started (exit 130 after the current
    /// batch, with the --resume hint), then SIGKILL, with no chance to clean up, once a layer group
    /// is in the journal. Resumed, it writes the uninterrupted run's files byte for byte. The default
    /// model on 16 STS-B pairs, heads of layers 4 and 5 (two layer groups, a few seconds each).
    @Test func killedAndResumedCommandWritesTheUninterruptedBytes() throws {
        guard FileManager.default.fileExists(atPath: TestPaths.defaultModel.appendingPathComponent("model.safetensors").path) else {
            Issue.record("\(TestPaths.defaultModel.path) is missing: run tools/setup to fetch the default model")
            return
        }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-ablate-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        func arguments(_ out: URL, _ extra: [String] = []) -> [String] {
            ["ablate", "--model", TestPaths.defaultModel.path, "--task", "STS-B", "--data", TestPaths.glue.path,
             "--limit", "16", "--mode", "uniform", "--heads", "L4,L5", "--layers", "none", "--token-budget", "128",
             "--out", out.path] + extra
        }
        let single = root.appendingPathComponent("single")
        let whole = try CommandLineTool.run(arguments(single), environment: ["OMP_NUM_THREADS": "2"])
        #expect(whole.status == 0, "\(whole.stderrText)")

        let out = root.appendingPathComponent("interrupted")
        let journal = out.appendingPathComponent(AblationJournal.fileName)
        // 1. SIGTERM as soon as the journal exists (the sweep is running and handles signals).
        let first = try Self.start(arguments(out), logs: root)
        #expect(Self.wait(for: first) { FileManager.default.fileExists(atPath: journal.path) }, "the sweep ended before it could be stopped")
        kill(first.processIdentifier, SIGTERM)
        first.waitUntilExit()
        #expect(first.terminationReason == .exit && first.terminationStatus == 130)
        let afterTerm = Self.records(journal)
        #expect(afterTerm < 24)

        // 2. Resumed, then SIGKILL once layer 4's group (12 heads) is in the journal.
        let second = try Self.start(arguments(out, ["--resume"]), logs: root)
        #expect(Self.wait(for: second) { Self.records(journal) >= 12 }, "the sweep ended before it could be killed")
        kill(second.processIdentifier, SIGKILL)
        second.waitUntilExit()
        #expect(second.terminationReason == .uncaughtSignal)
        let afterKill = Self.records(journal)
        #expect(afterKill >= 12 && afterKill < 24, "\(afterKill) of 24 recorded")
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent("ablation.json").path))

        // 3. Resumed to the end.
        let last = try CommandLineTool.run(arguments(out, ["--resume"]), environment: ["OMP_NUM_THREADS": "2"])
        #expect(last.status == 0, "\(last.stderrText)")
        #expect(last.stdoutText == whole.stdoutText)
        try AblationResumeShardTests.expectSameReports(single, out)
    }
}
