import Foundation
import Testing
import Bertology
@testable import BertologyEngine
@testable import BertologyExperiments

/// `evaluate` against transformers + SciPy/scikit-learn (Fixtures/eval/*.json, written by
/// tools/reference/eval_reference.py): the tiny models on the project's GLUE-format files, and the
/// default model on the whole of GLUE STS-B dev with the cosine scorer, with and without interventions.
@Suite struct EvaluationTests {
    struct Reference: Decodable {
        let model: String
        let task: String
        let split: String
        let scorer: String
        let cases: [Case]
    }

    struct Case: Decodable {
        let name: String
        let mode: String?
        let spec: String?
        let metrics: [String: Double]
        let logits: [[Float]]?
        let predicted: [Int]?
        let cosines: [Double]?
        /// Per example for the classifier files, a count for the cosine files.
        let truncated: TruncationRecord
    }

    enum TruncationRecord: Decodable {
        case perExample([Bool]), count(Int)
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flags = try? container.decode([Bool].self) { self = .perExample(flags) } else {
                self = .count(try container.decode(Int.self))
            }
        }
        var count: Int {
            switch self {
            case .perExample(let flags): flags.filter { $0 }.count
            case .count(let count): count
            }
        }
    }

    static func reference(_ name: String) throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: TestPaths.fixture("eval/\(name)")))
    }

    static func interventions(_ testCase: Case, model: BertModel) throws -> HeadInterventions? {
        guard let spec = testCase.spec, let mode = testCase.mode.flatMap(HeadIntervention.init(rawValue:)) else { return nil }
        let selection = try HeadSelection(parsing: spec, layerCount: model.layerCount, headCount: model.headCount)
        return HeadInterventions(selection, mode: mode, layerCount: model.layerCount, headCount: model.headCount)
    }

    static let glueFormat = TestPaths.fixture("glue-format")

    // MARK: - Tiny models: identical predictions

    /// Logits within 1e-5 (the parity bound of the forward pass on the tiny models), so identical
    /// argmax; the reference's metrics recomputed from our predictions.
    @Test func tinyClassifierPredictionsOnMNLIEqualTransformers() throws {
        let reference = try Self.reference("tiny-classifier.MNLI-dev.json")
        let checkpoint = try Checkpoint.load(TestPaths.fixture("models/tiny-classifier"))
        let dataset = try GLUEDataset.load(task: .mnli, split: .dev, folder: Self.glueFormat)
        // A small budget: several batches of mixed lengths, results gathered back in file order.
        let prepared = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset,
                                              options: EvaluationOptions(batcher: Batcher(tokenBudget: 120, maxBatchSize: 5)))
        #expect(prepared.sequences.batches.count > 3)
        #expect(prepared.labelMapping?.rule == .names)
        for testCase in reference.cases {
            let result = try prepared.run(interventions: try Self.interventions(testCase, model: checkpoint.model))
            let logits = try #require(testCase.logits)
            #expect(result.predictions.map { $0.prediction.classIndex! } == testCase.predicted, "\(testCase.name)")
            let difference = zip(result.predictions.flatMap { $0.logits! }, logits.flatMap { $0 }).map { abs($0 - $1) }.max()!
            #expect(difference <= 1e-5, "\(testCase.name): logits differ by \(difference)")
            #expect(result.metrics == testCase.metrics, "\(testCase.name)")
            #expect(result.truncated == testCase.truncated.count && result.truncated > 0, "\(testCase.name)")
            if case .perExample(let flags) = testCase.truncated {
                #expect(result.predictions.map(\.truncated) == flags)
            }
        }
    }

    @Test func tinyRegressionValuesOnSTSBEqualTransformers() throws {
        let reference = try Self.reference("tiny-regression.STS-B-dev.json")
        let checkpoint = try Checkpoint.load(TestPaths.fixture("models/tiny-regression"))
        let dataset = try GLUEDataset.load(task: .stsb, split: .dev, folder: Self.glueFormat)
        let prepared = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset)
        #expect(prepared.scorer == .classifier && prepared.maxLength == 29)
        for testCase in reference.cases {
            let result = try prepared.run(interventions: try Self.interventions(testCase, model: checkpoint.model))
            let values = result.predictions.map { $0.prediction.score! }
            let expected = try #require(testCase.logits).map { Double($0[0]) }
            let difference = zip(values, expected).map { abs($0 - $1) }.max()!
            #expect(difference <= 1e-5, "\(testCase.name): values differ by \(difference)")
            for metric in ["pearson", "spearman", "corr"] {
                #expect(abs(result.metrics[metric]! - testCase.metrics[metric]!) <= 1e-5, "\(testCase.name) \(metric)")
            }
            #expect(result.truncated == testCase.truncated.count && result.truncated > 0)
        }
    }

    @Test func tinyEncoderCosinesOnSTSBEqualTransformers() throws {
        let reference = try Self.reference("tiny-encoder-bf16.STS-B-dev.json")
        let checkpoint = try Checkpoint.load(TestPaths.fixture("models/tiny-encoder-bf16"))
        let dataset = try GLUEDataset.load(task: .stsb, split: .dev, folder: Self.glueFormat)
        let prepared = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset)
        #expect(prepared.scorer == .cosine && prepared.rowsPerExample == 2)
        for testCase in reference.cases {
            let result = try prepared.run(interventions: try Self.interventions(testCase, model: checkpoint.model))
            let difference = zip(result.predictions.map { $0.prediction.score! }, try #require(testCase.cosines)).map { abs($0 - $1) }.max()!
            #expect(difference <= 1e-5, "\(testCase.name): cosines differ by \(difference)")
            #expect(abs(result.metrics["pearson"]! - testCase.metrics["pearson"]!) <= 1e-5)
            #expect(abs(result.metrics["spearman"]! - testCase.metrics["spearman"]!) <= 1e-5)
            #expect(result.truncated == testCase.truncated.count)
        }
    }

    // MARK: - Default model, whole STS-B dev

    /// The issue's bound: Pearson and Spearman within 1e-4 of transformers + SciPy. All 1500 pairs
    /// (3000 forward rows) for each case, prepared once. The reference holds five cases; the test
    /// runs three (no intervention, one zero, one uniform) to keep the debug-build test time
    /// reasonable; `bertology eval` runs the others in seconds (docs/EVAL.md).
    @Test func defaultModelSTSBCosineCorrelationsEqualTransformers() throws {
        let reference = try Self.reference("all-MiniLM-L6-v2.STS-B-dev.json")
        guard FileManager.default.fileExists(atPath: TestPaths.defaultModel.appendingPathComponent("model.safetensors").path) else {
            Issue.record("\(TestPaths.defaultModel.path) is missing: run tools/setup to fetch the default model")
            return
        }
        let checkpoint = try Checkpoint.load(TestPaths.defaultModel)
        let dataset = try GLUEDataset.load(task: .stsb, split: .dev, folder: TestPaths.glue)
        let prepared = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset, options: EvaluationOptions(scorer: .cosine))
        let session = InferenceSession(model: checkpoint.model)
        var report: [String] = []
        for name in ["none", "zero L1-H1,L4-H7", "uniform L2-H12,L4-H1"] {
            let testCase = try #require(reference.cases.first { $0.name == name })
            let result = try prepared.run(interventions: try Self.interventions(testCase, model: checkpoint.model), session: session)
            let pearson = abs(result.metrics["pearson"]! - testCase.metrics["pearson"]!)
            let spearman = abs(result.metrics["spearman"]! - testCase.metrics["spearman"]!)
            let cosine = zip(result.predictions.map { $0.prediction.score! }, try #require(testCase.cosines)).map { abs($0 - $1) }.max()!
            #expect(result.n == 1500 && result.truncated == 0)
            #expect(pearson <= 1e-4 && spearman <= 1e-4, "\(name): Pearson diff \(pearson), Spearman diff \(spearman)")
            #expect(cosine <= 1e-5, "\(name): cosines differ by up to \(cosine)")
            report.append("\(name): pearson \(result.metrics["pearson"]!) (diff \(pearson)), spearman diff \(spearman), max cosine diff \(cosine), \(String(format: "%.1f", result.seconds)) s")
        }
        print("STS-B dev cosine parity, all-MiniLM-L6-v2:\n  " + report.joined(separator: "\n  "))
    }

    // MARK: - Scorers and label mapping

    @Test func scorerChoiceFollowsTheCheckpointAndTheTask() throws {
        let classifier = try Checkpoint.load(TestPaths.fixture("models/tiny-classifier"))
        let encoder = try Checkpoint.load(TestPaths.fixture("models/tiny-encoder-bf16"))
        #expect(try EvaluationScorer.resolve(nil, task: .mnli, model: classifier.model) == .classifier)
        #expect(try EvaluationScorer.resolve(nil, task: .stsb, model: encoder.model) == .cosine)
        #expect(try EvaluationScorer.resolve(.cosine, task: .stsb, model: classifier.model) == .cosine)
        for (scorer, task, model) in [(EvaluationScorer?.none, GLUETask.sst2, encoder.model), (.cosine, .sst2, classifier.model),
                                      (.cosine, .mrpc, encoder.model), (.classifier, .stsb, encoder.model)] {
            let error = try #require(throws: BertologyError.self) { try EvaluationScorer.resolve(scorer, task: task, model: model) }
            #expect(error.kind == .usage, "\(String(describing: scorer)) \(task)")
        }
        // A 3-class classifier cannot score STS-B, nor the regression head MNLI.
        let stsb = try GLUEDataset.load(task: .stsb, split: .dev, folder: Self.glueFormat)
        #expect(throws: BertologyError.self) { try PreparedEvaluation(checkpoint: classifier, dataset: stsb, options: .init(scorer: .classifier)) }
        let regression = try Checkpoint.load(TestPaths.fixture("models/tiny-regression"))
        let mnli = try GLUEDataset.load(task: .mnli, split: .dev, folder: Self.glueFormat)
        #expect(throws: BertologyError.self) { try PreparedEvaluation(checkpoint: regression, dataset: mnli) }
    }

    static func config(labels: Int, id2label: [Int: String] = [:], label2id: [String: Int] = [:]) -> BertConfig {
        var config = BertConfig(hiddenSize: 8, numHiddenLayers: 1, numAttentionHeads: 2, intermediateSize: 8,
                                numLabels: labels, id2label: id2label)
        config.label2id = label2id
        return config
    }

    @Test func labelMappingRules() throws {
        // Generic LABEL_i (what transformers writes without names) or no names: the task's order.
        let generic = try LabelMapping.resolve(task: .mnli, config: Self.config(labels: 3, id2label: [0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"]))
        #expect(generic.taskLabels == [0, 1, 2] && generic.rule == .taskOrder)
        #expect(try LabelMapping.resolve(task: .rte, config: Self.config(labels: 2)).taskLabels == [0, 1])
        // Named in another order (Hugging Face datasets' MNLI order): mapped by name.
        let named = try LabelMapping.resolve(task: .mnli, config: Self.config(labels: 3, id2label: [0: "entailment", 1: "neutral", 2: "contradiction"]))
        #expect(named.taskLabels == [1, 2, 0] && named.rule == .names)
        // Case, spaces and hyphens; dataset names of the binary labels.
        #expect(try LabelMapping.resolve(task: .qnli, config: Self.config(labels: 2, id2label: [0: "Not Entailment", 1: "ENTAILMENT"])).taskLabels == [1, 0])
        #expect(try LabelMapping.resolve(task: .sst2, config: Self.config(labels: 2, id2label: [0: "negative", 1: "positive"])).taskLabels == [0, 1])
        #expect(try LabelMapping.resolve(task: .wnli, config: Self.config(labels: 2, id2label: [0: "entailment", 1: "not_entailment"])).taskLabels == [1, 0])
        #expect(try LabelMapping.resolve(task: .mrpc, config: Self.config(labels: 2, id2label: [0: "1", 1: "0"])).taskLabels == [1, 0])
        // label2id alone is read inverted.
        #expect(try LabelMapping.resolve(task: .rte, config: Self.config(labels: 2, label2id: ["not_entailment": 0, "entailment": 1])).taskLabels == [1, 0])
        // --labels overrides config.json.
        let given = try LabelMapping.resolve(task: .mnli, config: Self.config(labels: 3, id2label: [0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"]),
                                             given: ["neutral", "contradiction", "entailment"])
        #expect(given.taskLabels == [2, 0, 1] && given.rule == .given)

        let failures: [(GLUETask, BertConfig, [String]?)] = [
            (.mnli, Self.config(labels: 2), nil),                                                         // wrong count
            (.sst2, Self.config(labels: 2, id2label: [0: "negative", 1: "great"]), nil),                  // unknown name
            (.sst2, Self.config(labels: 2, id2label: [0: "positive", 1: "positive"]), nil),               // twice
            (.sst2, Self.config(labels: 2, id2label: [0: "LABEL_0", 1: "positive"]), nil),                // mixed
            (.rte, Self.config(labels: 2, id2label: [0: "entailment", 1: "not_entailment"],
                               label2id: ["entailment": 1, "not_entailment": 0]), nil),                    // disagree
            (.sst2, Self.config(labels: 1), nil),                                                         // regression head
            (.mnli, Self.config(labels: 3), ["entailment", "neutral"]),                                   // too few given
        ]
        for (task, config, given) in failures {
            let error = try #require(throws: BertologyError.self) { try LabelMapping.resolve(task: task, config: config, given: given) }
            #expect(error.kind == .usage)
        }
    }

    // MARK: - Results, predictions file, progress, cancellation

    @Test func resultJSONHasTheSummaryAndThePredictionsFileOneLinePerExample() throws {
        let checkpoint = try Checkpoint.load(TestPaths.fixture("models/tiny-classifier"))
        let dataset = try GLUEDataset.load(task: .mnli, split: .dev, folder: Self.glueFormat).sampled(limit: 6, seed: 3)
        let model = checkpoint.model
        var interventions = HeadInterventions(layerCount: model.layerCount, headCount: model.headCount)
        interventions.set(.zero, for: HeadID(layer: 0, head: 1))
        interventions.set(.uniform, forLayer: 1)
        let result = try checkpoint.evaluate(dataset, interventions: interventions)
        #expect(result.n == 6 && result.predictions.map(\.index) == dataset.examples.map(\.index))
        #expect(result.ablation?.modes == ["zero": "L1-H2", "uniform": "L2"] && result.ablation?.changedHeads == 4)
        #expect(result.seconds >= result.preparationSeconds)

        let json = try JSONSerialization.jsonObject(with: JSONOutput.encode(result)) as! [String: Any]
        #expect(Set(json.keys) == ["task", "split", "n", "metrics", "headline_metric", "model", "precision", "scorer", "label_mapping", "ablation",
                                   "max_length", "truncated", "sampling", "file", "seconds", "preparation_seconds"])
        #expect(json["task"] as? String == "MNLI" && json["split"] as? String == "dev" && json["headline_metric"] as? String == "accuracy")
        #expect((json["sampling"] as? [String: Any])?["population"] as? Int == 20)
        let decoded = try JSONDecoder().decode(EvaluationResult.self, from: JSONOutput.encode(result))
        #expect(decoded.metrics == result.metrics && decoded.ablation == result.ablation && decoded.predictions.isEmpty)

        let lines = try PredictionsFile.text(result).split(separator: "\n")
        #expect(lines.count == 6)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as! [String: Any]
        #expect(Set(first.keys) == ["index", "line", "label", "prediction", "logits", "truncated"])
        #expect(first["index"] as? Int == result.predictions[0].index && first["line"] as? Int == result.predictions[0].index + 2)
        #expect(["contradiction", "entailment", "neutral"].contains(first["prediction"] as? String ?? ""))
        #expect((first["logits"] as? [Double])?.count == 3)

        // Test splits: no labels, no metrics, null labels in the file.
        let test = try checkpoint.evaluate(try GLUEDataset.load(task: .mnli, split: .testMismatched, folder: Self.glueFormat))
        #expect(test.metrics.isEmpty && test.headlineMetric == nil)
        let line = try JSONSerialization.jsonObject(with: Data(try PredictionsFile.text(test).split(separator: "\n")[0].utf8)) as! [String: Any]
        #expect(line["label"] is NSNull)
        // STS-B: numbers, no logits.
        let stsb = try Checkpoint.load(TestPaths.fixture("models/tiny-encoder-bf16"))
            .evaluate(try GLUEDataset.load(task: .stsb, split: .dev, folder: Self.glueFormat))
        let score = try JSONSerialization.jsonObject(with: Data(try PredictionsFile.text(stsb).split(separator: "\n")[0].utf8)) as! [String: Any]
        #expect(score["prediction"] is Double && score["label"] as? Double == 4.8 && score["logits"] == nil)
    }

    @Test func undefinedCorrelationsAreNaNInJSONAndSaidInTheTable() throws {
        let checkpoint = try Checkpoint.load(TestPaths.fixture("models/tiny-regression"))
        let one = try GLUEDataset.load(task: .stsb, split: .dev, folder: Self.glueFormat).sampled(limit: 1, seed: 0)
        let result = try checkpoint.evaluate(one)
        #expect(result.n == 1 && result.metrics["pearson"]!.isNaN && result.metrics["spearman"]!.isNaN)
        let json = try JSONSerialization.jsonObject(with: JSONOutput.encode(result)) as! [String: Any]
        #expect((json["metrics"] as? [String: Any])?["pearson"] as? String == "NaN")
        // The table is the CLI's (EvaluationSummary, in Sources/bertology): the same run through the binary.
        let run = try CommandLineTool.run(["eval", "--model", TestPaths.fixture("models/tiny-regression").path, "--task", "STS-B",
                                           "--data", Self.glueFormat.path, "--limit", "1", "--seed", "0"])
        #expect(run.status == 0, "\(run.stderrText)")
        let table = run.stdoutText
        #expect(table.contains("pearson   undefined"))
        #expect(table.contains("1 of 18 examples (seeded sample, seed 0)"))
        #expect(table.contains("truncated: 0 of 1 examples (longest first, to 29 tokens)"))
    }

    @Test func progressReachesTheTotalAndCancellationStopsBetweenBatches() async throws {
        let checkpoint = try Checkpoint.load(TestPaths.fixture("models/tiny-classifier"))
        let dataset = try GLUEDataset.load(task: .mnli, split: .dev, folder: Self.glueFormat)
        let prepared = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset,
                                              options: EvaluationOptions(batcher: Batcher(tokenBudget: 64, maxBatchSize: 2)))
        final class Seen: @unchecked Sendable {
            let lock = NSLock()
            var values: [Bertology.Progress] = []
            func add(_ progress: Bertology.Progress) { lock.lock(); values.append(progress); lock.unlock() }
        }
        let seen = Seen()
        _ = try prepared.run(progress: { seen.add($0) })
        #expect(seen.values.first?.completed == 0 && seen.values.last?.completed == 20 && seen.values.allSatisfy { $0.total == 20 })
        #expect(seen.values.count == prepared.sequences.batches.count + 1)

        let task = Task.detached { () throws -> EvaluationResult in
            while !Task.isCancelled { await Task.yield() }
            return try prepared.run()
        }
        task.cancel()
        do {
            _ = try await task.value
            Issue.record("a cancelled evaluation returned a result")
        } catch let error as BertologyError {
            #expect(error.kind == .cancelled && error.exitStatus == 130)
        }
    }

    @Test func runsOfOnePreparationAreIdenticalAndSessionsReusable() throws {
        let checkpoint = try Checkpoint.load(TestPaths.fixture("models/tiny-classifier"))
        let dataset = try GLUEDataset.load(task: .mnli, split: .dev, folder: Self.glueFormat)
        let prepared = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset)
        let session = InferenceSession(model: checkpoint.model)
        let first = try prepared.run(session: session)
        let second = try prepared.run(session: session)
        #expect(first.predictions == second.predictions)
        let other = try Checkpoint.load(TestPaths.fixture("models/tiny-classifier"))
        #expect(throws: BertologyError.self) { try prepared.run(session: InferenceSession(model: other.model)) }
        // --max-length below the specials is a usage error; a short one truncates more.
        #expect(throws: BertologyError.self) { try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset, options: .init(maxLength: 3)) }
        let short = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset, options: .init(maxLength: 12))
        #expect(short.maxLength == 12 && short.truncatedCount > prepared.truncatedCount)
        #expect(short.sequences.lengths.allSatisfy { $0 <= 12 })
    }
}
