import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// `bertology importance` as a user runs it: the files it writes (importance.json read back as its type), the
/// comparison with an `ablate` run of the same model, and the refusals (no classifier, another model's
/// ablation.json), each one line with nothing written. The numbers are checked against transformers by
/// HeadImportanceTests and tools/reference/importance_reference.py --model.
@Suite(.serialized) struct ImportanceCommandTests {
    static let glue = TestPaths.fixture("glue-format").path
    static let classifier = TestPaths.fixture("models/tiny-classifier").path
    static let sample = ["--task", "MNLI", "--data", glue, "--limit", "24"]

    static func run(_ arguments: [String]) throws -> CommandLineTool.Result {
        try CommandLineTool.run(arguments, environment: ["OMP_NUM_THREADS": "2"], timeout: 120)
    }

    static func scratch() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-importance-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return root
    }

    @Test func importanceWritesItsFilesAndComparesWithAnAblationRun() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let ablation = root.appendingPathComponent("ablation"), out = root.appendingPathComponent("importance")
        let ablate = try Self.run(["ablate", "--model", Self.classifier] + Self.sample + ["--mode", "zero", "--out", ablation.path])
        #expect(ablate.status == 0, "ablate: \(ablate.stderrText)")
        let run = try Self.run(["importance", "--model", Self.classifier] + Self.sample
                               + ["--ablation", ablation.appendingPathComponent("ablation.json").path, "--out", out.path])
        #expect(run.status == 0, "importance: \(run.stderrText)")
        for name in ["importance.json", "heads.csv", "heads.npy", "heads.svg", "heads-normalized.csv", "heads-normalized.npy",
                     "heads-normalized.svg", "layers.csv", "layers.npy", "layers.svg", "index.html"] {
            #expect(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), "\(name) missing")
        }
        let examples = try GLUEDataset.load(task: .mnli, split: .dev, folder: URL(fileURLWithPath: Self.glue)).count
        let file = try JSONDecoder().decode(ImportanceFile.self, from: Data(contentsOf: out.appendingPathComponent("importance.json")))
        #expect(file.formatVersion == 1 && file.importance.layers == 2 && file.importance.heads == 3)
        #expect(file.importance.examples == min(24, examples) && file.ranking.count == 6)
        #expect(file.importance.headImportance.allSatisfy { $0.count == 3 && $0.allSatisfy { $0 > 0 && $0.isFinite } })
        for row in file.headImportanceNormalized {
            #expect(abs(row.map { $0 * $0 }.reduce(0, +) - 1) < 1e-12, "a layer's normalised scores have norm 1")
        }
        let against = try #require(file.againstAblation)
        #expect(against.heads == 6 && against.mode == "zero" && against.spearman.isFinite)
        #expect(run.stdoutText.contains("Spearman"))
    }

    @Test func aModelWithoutAClassifierIsRefusedAndNothingIsWritten() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let out = root.appendingPathComponent("out")
        let run = try Self.run(["importance", "--model", TestPaths.fixture("models/tiny-encoder-bf16").path, "--task", "STS-B",
                                "--data", Self.glue, "--out", out.path])
        #expect(run.status == 2, "status \(run.status): \(run.stderrText)")
        #expect(run.stderrText.contains("classification head"))
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test func anAblationFileOfAnotherModelIsRefusedAndNothingIsWritten() throws {
        let root = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: root) }
        let ablation = root.appendingPathComponent("ablation"), out = root.appendingPathComponent("out")
        let ablate = try Self.run(["ablate", "--model", TestPaths.fixture("models/tiny-regression").path, "--task", "STS-B",
                                   "--data", Self.glue, "--limit", "8", "--layers", "none", "--out", ablation.path])
        #expect(ablate.status == 0, "ablate: \(ablate.stderrText)")
        let file = ablation.appendingPathComponent("ablation.json").path
        let run = try Self.run(["importance", "--model", Self.classifier] + Self.sample + ["--ablation", file, "--out", out.path])
        #expect(run.status == 1, "status \(run.status): \(run.stderrText)")
        #expect(run.stderrText.contains(file) && run.stderrText.contains("not this checkpoint"))
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }
}
