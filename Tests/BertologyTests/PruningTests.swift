import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// `bertology prune` as a user runs it on a tiny classifier: every order's curve, the step sizes and the rule that a
/// layer keeps a head, the ablation order read from an `ablate --mode zero` run equal to the one it sweeps itself, a
/// resumed run (journal cut mid-line) equal to an uninterrupted one byte for byte, and the refusals.
@Suite(.serialized) struct PruningTests {
    static let glue = TestPaths.fixture("glue-format").path
    static let classifier = TestPaths.fixture("models/tiny-classifier").path
    static let sample = ["--task", "MNLI", "--data", glue, "--limit", "20"]

    static func run(_ arguments: [String]) throws -> CommandLineTool.Result {
        try CommandLineTool.run(arguments, environment: ["OMP_NUM_THREADS": "2"], timeout: 180)
    }

    static func scratch() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-prune-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return root
    }

    static func result(_ folder: URL) throws -> PruningResult {
        try JSONDecoder().decode(PruningResult.self, from: Data(contentsOf: folder.appendingPathComponent("pruning.json")))
    }

    @Test func everyOrderPrunesUntilOneHeadPerLayerAndAResumedRunWritesTheSameFiles() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let whole = root.appendingPathComponent("whole")
        let options = ["--step", "0.3", "--random-seeds", "2"]
        let first = try Self.run(["prune", "--model", Self.classifier] + Self.sample + options + ["--out", whole.path])
        #expect(first.status == 0, "prune: \(first.stderrText)")
        let result = try Self.result(whole)
        #expect(result.layers == 2 && result.heads == 3 && result.metric == "accuracy")
        for order in PruningOrder.allCases {
            for seed in order == .random ? [1, 2] : [nil] {
                let curve = result.curve(order, seed: seed)
                // 6 heads: ⌊0.3 x 6⌋ = 1 per step until one head per layer is left (4 removed).
                #expect(curve.map(\.removed.count) == [0, 1, 2, 3, 4], "\(order) \(seed ?? 0): \(curve.map(\.removed))")
                let last = try #require(curve.last).removed.map { try HeadID(parsingName: $0) }
                #expect(Set(last.map(\.layer)).count == 2 && last.filter { $0.layer == 0 }.count == 2, "each layer keeps a head")
                for (a, b) in zip(curve, curve.dropFirst()) { #expect(Array(b.removed.prefix(a.removed.count)) == a.removed) }
            }
        }

        // The ablation order from a zero-mode sweep's file is the order the run swept itself.
        let ablation = root.appendingPathComponent("ablation"), fromFile = root.appendingPathComponent("from-file")
        let ablate = try Self.run(["ablate", "--model", Self.classifier] + Self.sample + ["--mode", "zero", "--layers", "none", "--out", ablation.path])
        #expect(ablate.status == 0, "ablate: \(ablate.stderrText)")
        let second = try Self.run(["prune", "--model", Self.classifier] + Self.sample
                                  + ["--step", "0.3", "--orders", "ablation", "--ablation", ablation.appendingPathComponent("ablation.json").path,
                                     "--out", fromFile.path])
        #expect(second.status == 0, "prune --ablation: \(second.stderrText)")
        #expect(try Self.result(fromFile).curve(.ablation).map(\.removed) == result.curve(.ablation).map(\.removed))

        // Cut the journal after a few points, mid-line, and resume: the same files as the whole run.
        let resumed = root.appendingPathComponent("resumed")
        try FileManager.default.createDirectory(at: resumed, withIntermediateDirectories: true)
        let journal = try String(contentsOf: whole.appendingPathComponent(PruningJournal.fileName), encoding: .utf8)
        let lines = journal.split(separator: "\n", omittingEmptySubsequences: false)
        let cut = lines.prefix(6).joined(separator: "\n") + "\n" + lines[6].prefix(20)
        try cut.write(to: resumed.appendingPathComponent(PruningJournal.fileName), atomically: true, encoding: .utf8)
        let third = try Self.run(["prune", "--model", Self.classifier] + Self.sample + options + ["--resume", "--out", resumed.path])
        #expect(third.status == 0, "prune --resume: \(third.stderrText)")
        for name in ["pruning.json", "pruning.csv", "pruning.svg", "index.html", PruningJournal.fileName] {
            let a = try Data(contentsOf: whole.appendingPathComponent(name)), b = try Data(contentsOf: resumed.appendingPathComponent(name))
            #expect(a == b, "\(name) differs after resuming")
        }

        // Resuming with other options is refused, and the journal is left as it was.
        let before = try Data(contentsOf: resumed.appendingPathComponent(PruningJournal.fileName))
        let other = try Self.run(["prune", "--model", Self.classifier] + Self.sample + ["--step", "0.5", "--resume", "--out", resumed.path])
        #expect(other.status == 2 && other.stderrText.contains("other inputs"), "status \(other.status): \(other.stderrText)")
        #expect(try Data(contentsOf: resumed.appendingPathComponent(PruningJournal.fileName)) == before)
    }

    @Test(arguments: [
        (["--step", "1.5"], "--step"),
        (["--until", "0"], "--until"),
        (["--orders", "best"], "unknown pruning order"),
        (["--orders", "random", "--ablation", "x.json"], "--ablation"),
        (["--random-seeds", "0"], "--random-seeds"),
    ])
    func badOptionsAreRefusedWithNothingWritten(arguments: [String], message: String) throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out")
        let run = try Self.run(["prune", "--model", Self.classifier] + Self.sample + arguments + ["--out", out.path])
        #expect(run.status == 2, "status \(run.status): \(run.stderrText)")
        #expect(run.stderrText.contains(message), "\(run.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test func aModelWithoutAClassifierIsRefused() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out")
        let run = try Self.run(["prune", "--model", TestPaths.fixture("models/tiny-encoder-bf16").path, "--task", "STS-B",
                                "--data", Self.glue, "--out", out.path])
        #expect(run.status == 2 && run.stderrText.contains("classification head"), "status \(run.status): \(run.stderrText)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
