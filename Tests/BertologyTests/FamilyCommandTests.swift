import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The commands as a user runs them on models of the other families (the DistilBERT, ELECTRA and ALBERT
/// fixtures, which carry a WordPiece vocab.txt): `eval`, `analyze`, `finetune` (whose folder names the family's
/// classifier class and its weights as transformers does), then `eval` and `ablate` on the fine-tuned folder.
/// The numbers themselves are checked against transformers by FamilyParityTests and FamilyTrainingTests.
@Suite(.serialized) struct FamilyCommandTests {
    static let models = ["tiny-distilbert", "tiny-electra", "tiny-albert"]
    static let glue = TestPaths.glue.path

    static func run(_ arguments: [String]) throws -> CommandLineTool.Result {
        try CommandLineTool.run(arguments, environment: ["OMP_NUM_THREADS": "2"], timeout: 120)
    }

    @Test(arguments: models)
    func everyCommandRunsOnTheFamily(name: String) throws {
        let model = TestPaths.fixture("models/\(name)").path
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-family-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        let sample = ["--task", "MRPC", "--data", Self.glue, "--limit", "16"]

        let analyze = try Self.run(["analyze", "--model", model] + sample + ["--out", root.appendingPathComponent("analysis").path])
        #expect(analyze.status == 0, "\(name) analyze: \(analyze.stderrText)")

        let tuned = root.appendingPathComponent("mrpc")
        let finetune = try Self.run(["finetune", "--model", model] + sample + ["--epochs", "1", "--batch-size", "8",
                                    "--max-length", "40", "--out", tuned.path])
        #expect(finetune.status == 0, "\(name) finetune: \(finetune.stderrText)")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: tuned.appendingPathComponent("config.json"))) as? [String: Any])
        let family = try BertModel.load(folder: URL(fileURLWithPath: model)).config.family
        #expect(config["architectures"] as? [String] == [family.sequenceClassifierName])
        #expect(config["model_type"] as? String == family.rawValue)
        let reloaded = try BertModel.load(folder: tuned)
        #expect(reloaded.config.family == family && reloaded.hasClassifier && reloaded.config.numLabels == 2)

        let eval = try Self.run(["eval", "--model", tuned.path] + sample + ["--json"])
        #expect(eval.status == 0, "\(name) eval: \(eval.stderrText)")
        let ablate = try Self.run(["ablate", "--model", tuned.path] + sample + ["--heads", "L1-H1,L2-H2", "--layers", "L3",
                                  "--out", root.appendingPathComponent("ablation").path])
        #expect(ablate.status == 0, "\(name) ablate: \(ablate.stderrText)")
    }
}
