import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// Ablation sweeps against transformers (Fixtures/reference/ablation/*.json, written by
/// tools/reference/ablation_reference.py: every ablation a from-scratch transformers run with the
/// eager-attention hook of interventions.py). The sweep runs through the public API
/// (`AblationSweep.run`, journal included), with prefix reuse, in both modes.
@Suite struct AblationReferenceTests {
    struct Reference: Decodable {
        let model: String
        let task: String
        let scorer: String
        let limit: Int?
        let seed: UInt64?
        let examples: Int
        let heads: String
        let layers: String
        let cases: [Case]
    }

    struct Case: Decodable {
        let ablation: String
        let mode: String?
        let metrics: [String: Double]
        /// Scores (regression, cosine) or task label indices (classifier).
        let predictions: [Double]
    }

    static func reference(_ name: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: TestPaths.fixture("reference/ablation/\(name)")))
    }

    static func scratchFolder(_ label: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("bertology-ablation-\(label)-\(UUID().uuidString)")
    }

    /// Runs the reference's sweep in both modes and compares every ablation; returns the largest
    /// differences (metric, prediction) for the log.
    static func compare(_ reference: Reference, checkpoint: Checkpoint, dataset: GLUEDataset, scorer: EvaluationScorer?,
                        metricTolerance: Double, predictionTolerance: Double) throws -> (metric: Double, prediction: Double) {
        var largest = (metric: 0.0, prediction: 0.0)
        for mode in [HeadIntervention.zero, .uniform] {
            let sweep = try AblationSweep(checkpoint: checkpoint, dataset: dataset,
                                          options: AblationSweepOptions(mode: mode, heads: try .init(parsing: reference.heads, layerCount: checkpoint.model.layerCount,
                                                                                                     headCount: checkpoint.model.headCount),
                                                                        layers: try .init(parsing: reference.layers, layerCount: checkpoint.model.layerCount,
                                                                                          headCount: checkpoint.model.headCount),
                                                                        evaluation: EvaluationOptions(scorer: scorer)))
            let folder = scratchFolder(mode.rawValue)
            defer { try? FileManager.default.removeItem(at: folder) }
            let results = try sweep.run(in: folder, resume: false)
            #expect(results.isComplete)
            let cases = reference.cases.filter { $0.mode == nil || $0.mode == mode.rawValue }
            #expect(cases.count == results.plan.ablations.count, "the reference and the plan list the same ablations")
            for testCase in cases {
                let ablation = try Ablation(parsing: testCase.ablation, layerCount: checkpoint.model.layerCount,
                                            headCount: checkpoint.model.headCount)
                let outcome = try #require(results.outcomes[ablation], "\(mode) \(ablation) missing")
                #expect(outcome.predictions.count == testCase.predictions.count)
                let prediction = zip(outcome.predictions, testCase.predictions).map { abs($0 - $1) }.max() ?? 0
                #expect(prediction <= predictionTolerance, "\(mode) \(ablation): predictions differ by \(prediction)")
                for (name, expected) in testCase.metrics where name != "corr" {
                    let value = try #require(outcome.metrics[name], "\(mode) \(ablation): no \(name)")
                    let difference = abs(value - expected)
                    #expect(difference <= metricTolerance, "\(mode) \(ablation) \(name): \(value) vs transformers \(expected)")
                    largest.metric = max(largest.metric, difference)
                }
                largest.prediction = max(largest.prediction, prediction)
            }
        }
        return largest
    }

    static let glueFormat = TestPaths.fixture("glue-format")

    // MARK: - Tiny models, every head and every layer

    /// Predictions within 1e-5: the forward pass's parity bound on the tiny models (logits and
    /// cosines, EvaluationTests); classifier predictions are class indices and must be equal
    /// (tolerance 0). Metrics within 1e-5: they are computed from those predictions in float64.
    @Test(arguments: [("tiny-classifier", GLUETask.mnli, "tiny-classifier.MNLI-dev.json"),
                      ("tiny-regression", .stsb, "tiny-regression.STS-B-dev.json"),
                      ("tiny-encoder-bf16", .stsb, "tiny-encoder-bf16.STS-B-dev.json")])
    func everyHeadAndLayerOfTinyModelsEqualsTransformers(model: String, task: GLUETask, file: String) throws {
        let reference = try Self.reference(file)
        let checkpoint = try Checkpoint.load(TestPaths.fixture("models/\(model)"))
        let dataset = try GLUEDataset.load(task: task, split: .dev, folder: Self.glueFormat)
        #expect(dataset.count == reference.examples)
        let classifier = model == "tiny-classifier"
        let largest = try Self.compare(reference, checkpoint: checkpoint, dataset: dataset,
                                       scorer: reference.scorer == "cosine" ? .cosine : .classifier,
                                       metricTolerance: 1e-5, predictionTolerance: classifier ? 0 : 1e-5)
        print("ablation parity, \(model): largest metric difference \(largest.metric), prediction \(largest.prediction)")
    }

    // MARK: - Default model, STS-B dev sample

    /// all-MiniLM-L6-v2, cosine scorer, 64 STS-B dev pairs (--limit 64 --seed 42, the sample the
    /// Python script draws with the same splitmix64 shuffle), five heads and two layers in both
    /// modes. Cosines within 1e-5 (the bound EvaluationTests holds on all 1500 pairs); Pearson and
    /// Spearman within 1e-5: on 64 pairs no two cosines are closer than the float32 error, so the
    /// ranks are the reference's and the correlations differ only by the cosines' error (measured below 1e-7).
    @Test func defaultModelSTSBSampleEqualsTransformers() throws {
        let reference = try Self.reference("all-MiniLM-L6-v2.STS-B-dev.json")
        guard FileManager.default.fileExists(atPath: TestPaths.defaultModel.appendingPathComponent("model.safetensors").path) else {
            Issue.record("\(TestPaths.defaultModel.path) is missing: run tools/setup to fetch the default model")
            return
        }
        let checkpoint = try Checkpoint.load(TestPaths.defaultModel)
        let dataset = try GLUEDataset.load(task: .stsb, split: .dev, folder: TestPaths.glue)
            .sampled(limit: try #require(reference.limit), seed: try #require(reference.seed))
        #expect(dataset.count == reference.examples)
        let largest = try Self.compare(reference, checkpoint: checkpoint, dataset: dataset, scorer: .cosine,
                                       metricTolerance: 1e-5, predictionTolerance: 1e-5)
        print("ablation parity, all-MiniLM-L6-v2 STS-B dev (64 pairs): largest metric difference \(largest.metric), cosine \(largest.prediction)")
    }
}
