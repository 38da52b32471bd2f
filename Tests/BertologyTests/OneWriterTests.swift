import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import BertologyEngine
@testable import BertologyExperiments

/// One writer per output folder: two real processes started at the same instant on one `--out` (a
/// requeued Slurm job whose first copy is still alive, a command launched twice) — exactly one runs,
/// the other is refused at once naming the holder and changes nothing; a SIGKILLed run leaves no lock;
/// and a journal that already holds a repeated record (written before folders were locked) is read
/// once when the copies agree, and named with both lines and a way on when they do not.
@Suite(.serialized) struct OneWriterTests {
    static var defaultModelPresent: Bool {
        FileManager.default.fileExists(atPath: TestPaths.defaultModel.appendingPathComponent("model.safetensors").path)
    }

    static func scratch(_ label: String) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-\(label)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return root
    }

    /// The default model on 16 STS-B pairs, heads of layers 4 and 5: two layer groups of a few seconds
    /// each, long enough that the second process always arrives while the first one writes.
    static func ablateArguments(_ out: URL, _ extra: [String] = []) -> [String] {
        ["ablate", "--model", TestPaths.defaultModel.path, "--task", "STS-B", "--data", TestPaths.glue.path,
         "--limit", "16", "--mode", "uniform", "--heads", "L4,L5", "--layers", "none", "--token-budget", "128",
         "--out", out.path] + extra
    }

    static func analyzeArguments(_ out: URL) -> [String] {
        ["analyze", "--model", TestPaths.defaultModel.path, "--task", "STS-B", "--data", TestPaths.glue.path,
         "--limit", "48", "--out", out.path]
    }

    /// Starts one process per argument list, each held at a barrier (a shell loop waiting for a file)
    /// until all have started, then released together by creating the file; returns their results.
    static func startTogether(_ runs: [[String]], in root: URL) throws -> [(status: Int32, stderr: String)] {
        let barrier = root.appendingPathComponent("go-\(UUID().uuidString)")
        var processes: [(Process, URL)] = []
        for arguments in runs {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "while [ ! -e \"$0\" ]; do sleep 0.002; done; exec \"$@\"",
                                 barrier.path, CommandLineTool.executable.path] + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(["OMP_NUM_THREADS": "2"]) { $1 }
            let stderr = root.appendingPathComponent("stderr-\(UUID().uuidString)")
            _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: stderr)
            process.standardInput = FileHandle.nullDevice
            try process.run()
            processes.append((process, stderr))
        }
        usleep(200_000)  // both shells are in their loop
        _ = FileManager.default.createFile(atPath: barrier.path, contents: nil)
        return try processes.map { process, stderr in
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: try Data(contentsOf: stderr), as: UTF8.self))
        }
    }

    /// Exactly one of two processes ran (exit 0) and the other was refused with the holder's line (exit 1).
    static func expectOneRanOneRefused(_ results: [(status: Int32, stderr: String)], folder: URL) {
        #expect(results.map(\.status).sorted() == [0, 1], "\(results.map(\.stderr))")
        guard let refused = results.first(where: { $0.status == 1 }) else { return }
        #expect(refused.stderr.contains("\(folder.path): in use by another run (pid "), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "one line: \(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent(OutputFolder.lockFileName).path),
                "the winner removed its lock file")
    }

    /// Runs `arguments(out)` alone into `out`, then moves its folder aside (so the later runs write
    /// the same command line into their reports) and returns where it went.
    static func soloRun(_ arguments: [String], out: URL) throws -> URL {
        let solo = try CommandLineTool.run(arguments, environment: ["OMP_NUM_THREADS": "2"])
        #expect(solo.status == 0, "\(solo.stderrText)")
        let aside = out.deletingLastPathComponent().appendingPathComponent("solo-\(UUID().uuidString)")
        try FileManager.default.moveItem(at: out, to: aside)
        return aside
    }

    @Test func twoAblationRunsStartedTogetherOneRunsTheOtherIsRefused() throws {
        guard Self.defaultModelPresent else {
            Issue.record("\(TestPaths.defaultModel.path) is missing: run tools/setup to fetch the default model")
            return
        }
        let root = try Self.scratch("one-writer-ablate")
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("sweep")
        let solo = try Self.soloRun(Self.ablateArguments(out), out: out)

        // Two plain runs, then one plain and one --resume run.
        for extra in [[[], []], [[], ["--resume"]]] as [[[String]]] {
            try? FileManager.default.removeItem(at: out)
            let results = try Self.startTogether(extra.map { Self.ablateArguments(out, $0) }, in: root)
            Self.expectOneRanOneRefused(results, folder: out)
            try AblationResumeShardTests.expectSameReports(solo, out)
            let journal = try AblationJournal.read(out.appendingPathComponent(AblationJournal.fileName))
            #expect(journal.records.count == journal.header.ablations.count && journal.repeatedLines.isEmpty,
                    "one writer's journal, every ablation once")
        }
    }

    @Test func twoAnalysesStartedTogetherOneRunsTheOtherIsRefused() throws {
        guard Self.defaultModelPresent else {
            Issue.record("\(TestPaths.defaultModel.path) is missing: run tools/setup to fetch the default model")
            return
        }
        let root = try Self.scratch("one-writer-analyze")
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("analysis")
        let solo = try Self.soloRun(Self.analyzeArguments(out), out: out)
        let results = try Self.startTogether([Self.analyzeArguments(out), Self.analyzeArguments(out)], in: root)
        Self.expectOneRanOneRefused(results, folder: out)
        let names = try FileManager.default.contentsOfDirectory(atPath: solo.path).filter { $0 != "timing.json" }.sorted()
        #expect(try FileManager.default.contentsOfDirectory(atPath: out.path).filter { $0 != "timing.json" }.sorted() == names)
        // index.html shows the wall time (in timing.json too): that one row is left out of the comparison.
        func withoutWallTime(_ url: URL) throws -> String {
            try String(contentsOf: url, encoding: .utf8).replacingOccurrences(
                of: #"<td class="value">[0-9.]+ s \(forward[^<]*</td>"#, with: "", options: .regularExpression)
        }
        for name in names {
            let (left, right) = (solo.appendingPathComponent(name), out.appendingPathComponent(name))
            if name == "index.html" {
                #expect(try withoutWallTime(left) == withoutWallTime(right), "index.html differs from the solo run's")
            } else {
                #expect(try Data(contentsOf: left) == Data(contentsOf: right), "\(name) differs from the solo run's")
            }
        }
    }

    /// SIGKILL gives a process no chance to clean up: its lock file stays, but the kernel released the
    /// lock with the process, so the next run starts at once.
    @Test func aKilledRunLeavesNoLockBehind() throws {
        guard Self.defaultModelPresent else {
            Issue.record("\(TestPaths.defaultModel.path) is missing: run tools/setup to fetch the default model")
            return
        }
        let root = try Self.scratch("one-writer-kill")
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("sweep")
        let journal = out.appendingPathComponent(AblationJournal.fileName)
        let first = try AblationCommandTests.start(Self.ablateArguments(out), logs: root)
        #expect(AblationCommandTests.wait(for: first) { FileManager.default.fileExists(atPath: journal.path) },
                "the sweep ended before it could be killed")
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        #expect(first.terminationReason == .uncaughtSignal)
        #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(OutputFolder.lockFileName).path),
                "the killed run's lock file is still there")
        let next = try CommandLineTool.run(Self.ablateArguments(out, ["--resume"]), environment: ["OMP_NUM_THREADS": "2"])
        #expect(next.status == 0, "\(next.stderrText)")
        #expect(!next.stderrText.contains("in use"))
        #expect(!FileManager.default.fileExists(atPath: out.appendingPathComponent(OutputFolder.lockFileName).path))
    }

    /// A run killed between a file's bytes and its rename leaves a temporary file; the next writer
    /// that takes the folder's lock removes it, and keeps those of live processes (its own, pid 1).
    @Test func openingAFolderRemovesTheTemporaryFilesOfProcessesThatAreGone() throws {
        let root = try Self.scratch("one-writer-leftovers")
        defer { try? FileManager.default.removeItem(at: root) }
        // Above Linux's largest pid (2^22), so never a live process.
        let gone = "\(AtomicFile.temporaryPrefix)index.html-4194305-12345"
        let live = ["\(AtomicFile.temporaryPrefix)a.json-1-7", "\(AtomicFile.temporaryPrefix)b.json-\(getpid())-7"]
        for name in [gone, "result.json"] + live {
            _ = FileManager.default.createFile(atPath: root.appendingPathComponent(name).path, contents: Data("x".utf8))
        }
        let folder = try OutputFolder(root, acceptingContents: true)
        defer { folder.close() }
        #expect(Set(try folder.contents()) == Set(["result.json"] + live))
    }

    /// Every writing command refuses a folder (or file) another run holds, at once, with exit 1, the
    /// holder's line, and nothing written: here the holder is this test process.
    @Test func everyWritingCommandRefusesAFolderAnotherRunHolds() throws {
        let root = try Self.scratch("one-writer-held")
        defer { try? FileManager.default.removeItem(at: root) }
        let held = root.appendingPathComponent("held")
        let holder = try OutputFolder(held, acceptingContents: true)
        defer { holder.close() }
        let model = TestPaths.fixture("models/tiny-classifier").path
        let data = TestPaths.fixture("glue-format").path
        let predictions = root.appendingPathComponent("predictions.jsonl")
        // The lock `eval --predictions FILE` takes (OutputFile, in the CLI): `.NAME.bertology-lock` beside the file.
        let fileLock = try WriterLock(root.appendingPathComponent(".predictions.jsonl.bertology-lock"), for: predictions.path)
        defer { fileLock.release() }
        let runs: [[String]] = [
            ["finetune", "--model", model, "--task", "MNLI", "--data", data, "--epochs", "1", "--limit", "8", "--out", held.path],
            ["ablate", "--model", model, "--task", "MNLI", "--data", data, "--out", held.path],
            ["analyze", "--model", model, "--task", "MNLI", "--data", data, "--out", held.path, "--force"],
            ["eval", "--model", model, "--task", "MNLI", "--data", data, "--predictions", predictions.path],
        ]
        for arguments in runs {
            let run = try CommandLineTool.run(arguments)
            #expect(run.status == 1, "\(arguments[0]): \(run.stderrText)")
            #expect(run.stderrText.contains("in use by another run (pid \(getpid()) on "), "\(arguments[0]): \(run.stderrText)")
        }
        #expect(try holder.contents().isEmpty, "nothing was written into the held folder")
    }

    // MARK: - Journals with repeated records

    /// Writes a journal of `header` and `records` lines (as a journal holds them) into a new folder.
    static func journalFolder(_ lines: [String]) throws -> URL {
        let folder = AblationResumeShardTests.scratch("ablation-repeats")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try (lines.joined(separator: "\n") + "\n").write(to: folder.appendingPathComponent(AblationJournal.fileName),
                                                          atomically: true, encoding: .utf8)
        return folder
    }

    /// The lines of a finished sweep's journal: the header, then one record per ablation.
    static func finishedJournalLines(_ sweep: AblationSweep) throws -> [String] {
        let folder = AblationResumeShardTests.scratch("ablation-full")
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = try sweep.run(in: folder, resume: false)
        let text = try String(contentsOf: folder.appendingPathComponent(AblationJournal.fileName), encoding: .utf8)
        return text.split(separator: "\n").map(String.init)
    }

    @Test func anIdenticalRepeatedRecordIsReadOnceAndTheSweepFinishesWithTheSameBytes() throws {
        let sweep = try AblationResumeShardTests.sweep()
        let single = try AblationResumeShardTests.singleRun(sweep)
        defer { try? FileManager.default.removeItem(at: single) }
        let lines = try Self.finishedJournalLines(sweep)
        // Header, five records, the second record again with another wall time (what two writers leave).
        var repeated = try JSONDecoder().decode(AblationJournal.Record.self, from: Data(lines[2].utf8))
        repeated = AblationJournal.Record(ablation: repeated.ablation, metrics: repeated.metrics,
                                          predictions: repeated.predictions, seconds: repeated.seconds + 1)
        let folder = try Self.journalFolder(Array(lines[0...5]) + [try JSONOutput.line(repeated)])
        defer { try? FileManager.default.removeItem(at: folder) }
        var ran = 0
        let results = try sweep.run(in: folder, resume: true, recorded: { _ in ran += 1 })
        #expect(ran == lines.count - 6, "only the ablations not in the journal ran")
        try AblationReport.write(results, to: OutputFolder(folder, force: true))
        try AblationResumeShardTests.expectSameReports(single, folder)
        #expect(try AblationJournal.read(folder.appendingPathComponent(AblationJournal.fileName)).repeatedLines == [7])
    }

    @Test func aConflictingRepeatNamesBothLinesAndKeepFirstFinishesWithoutRedoingWork() throws {
        let sweep = try AblationResumeShardTests.sweep()
        let single = try AblationResumeShardTests.singleRun(sweep)
        defer { try? FileManager.default.removeItem(at: single) }
        let lines = try Self.finishedJournalLines(sweep)
        let original = try JSONDecoder().decode(AblationJournal.Record.self, from: Data(lines[2].utf8))
        let conflicting = AblationJournal.Record(ablation: original.ablation,
                                                 metrics: original.metrics.mapValues { $0 + 0.25 },
                                                 predictions: original.predictions.map { $0 + 1 }, seconds: original.seconds)
        let folder = try Self.journalFolder(Array(lines[0...5]) + [try JSONOutput.line(conflicting)])
        defer { try? FileManager.default.removeItem(at: folder) }
        let journal = folder.appendingPathComponent(AblationJournal.fileName)

        #expect {
            _ = try sweep.run(in: folder, resume: true)
        } throws: { error in
            let message = "\(error)"
            return (error as? BertologyError)?.kind == .badInput && message.contains("lines 3 and 7")
                && message.contains("ablation \(original.ablation) is recorded twice with different results")
                && message.contains("`keepFirst`")
        }
        var ran = 0
        let results = try sweep.run(in: folder, resume: true, keepFirst: true, recorded: { _ in ran += 1 })
        #expect(ran == lines.count - 6, "the five recorded ablations were not run again")
        let rewritten = try String(contentsOf: journal, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(Array(rewritten.prefix(6)) == Array(lines[0...5]), "the first record of each ablation is kept as it was")
        try AblationReport.write(results, to: OutputFolder(folder, force: true))
        try AblationResumeShardTests.expectSameReports(single, folder)
    }

    @Test func theCommandLineNamesTheConflictAndTheWayOn() throws {
        let sweep = try AblationResumeShardTests.sweep()
        let lines = try Self.finishedJournalLines(sweep)
        let original = try JSONDecoder().decode(AblationJournal.Record.self, from: Data(lines[1].utf8))
        let conflicting = AblationJournal.Record(ablation: original.ablation, metrics: original.metrics.mapValues { $0 + 1 },
                                                 predictions: original.predictions, seconds: original.seconds)
        let folder = try Self.journalFolder(lines + [try JSONOutput.line(conflicting)])
        defer { try? FileManager.default.removeItem(at: folder) }
        let model = TestPaths.fixture("models/tiny-regression").path
        let data = AblationResumeShardTests.glueFormat.path
        let arguments = ["ablate", "--model", model, "--task", "STS-B", "--data", data, "--token-budget", "100",
                         "--batch-size", "4", "--out", folder.path]
        let refused = try CommandLineTool.run(arguments + ["--resume"])
        #expect(refused.status == 1 && refused.stderrText.contains("lines 2 and \(lines.count + 1)")
                && refused.stderrText.contains("--keep-first"), "\(refused.stderrText)")
        let misused = try CommandLineTool.run(arguments + ["--keep-first"])
        #expect(misused.status == 2 && misused.stderrText.contains("--keep-first applies to --resume"))
        let kept = try CommandLineTool.run(arguments + ["--resume", "--keep-first"])
        #expect(kept.status == 0, "\(kept.stderrText)")
    }
}
