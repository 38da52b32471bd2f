import BertologyEngine
import Foundation

/// What one example was predicted.
public struct ExamplePrediction: Sendable, Equatable {
    /// 0-based position among the file's examples.
    public let index: Int
    /// 1-based line in the file.
    public let line: Int
    /// The gold label; nil on test splits.
    public let label: GLUELabel?
    /// A task class (classifier on a classification task), or a score (STS-B regression output,
    /// or the cosine).
    public let prediction: GLUELabel
    /// The classifier's outputs, in the model's order (nil for cosine).
    public let logits: [Float]?
    /// Whether truncation removed tokens from this example.
    public let truncated: Bool
}

/// The head interventions of a run, grouped by mode in the paper's notation, whole layers
/// written `L3`: `{"uniform": "L2-H12,L4-H1", "zero": "L6"}`. Each value parses back with
/// `HeadSelection(parsing:)`.
public struct AblationSummary: Sendable, Equatable, Codable {
    /// The changed heads by mode name (`zero`, `uniform`), each in the paper's 1-based notation, for example `L2-H12,L4-H1` or `L6`.
    public let modes: [String: String]
    /// Number of heads changed.
    public let changedHeads: Int

    /// Summarises the interventions; nil when no head is changed.
    public init?(_ interventions: HeadInterventions) {
        let changed = interventions.changedHeads
        guard !changed.isEmpty else { return nil }
        var modes: [String: String] = [:]
        for mode in HeadIntervention.allCases where mode != .keep {
            let heads = changed.filter { $0.mode == mode }.map(\.head)
            guard !heads.isEmpty else { continue }
            let layers = Set(heads.map(\.layer)).filter { layer in
                (0..<interventions.headCount).allSatisfy { heads.contains(HeadID(layer: layer, head: $0)) }
            }
            let selection = HeadSelection(heads: heads.filter { !layers.contains($0.layer) }, layers: layers.sorted())
            modes[mode.rawValue] = selection.description
        }
        self.modes = modes
        self.changedHeads = changed.count
    }

    /// `zero L1-H1,L4-H7; uniform L3`.
    public var description: String {
        modes.sorted { $0.key > $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: "; ")
    }

    /// Encodes as one object: each mode's selection under the mode's name, and `changed_heads`.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: DynamicKey.self)
        for (mode, spec) in modes { try container.encode(spec, forKey: DynamicKey(mode)) }
        try container.encode(changedHeads, forKey: DynamicKey("changed_heads"))
    }

    /// Decodes what ``encode(to:)`` writes.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: DynamicKey.self)
        var modes: [String: String] = [:]
        for key in container.allKeys where key.stringValue != "changed_heads" {
            modes[key.stringValue] = try container.decode(String.self, forKey: key)
        }
        self.modes = modes
        self.changedHeads = try container.decode(Int.self, forKey: DynamicKey("changed_heads"))
    }
}

/// The result of evaluating a checkpoint on a GLUE split. Its JSON (`JSONOutput`, what `bertology eval`
/// prints as JSON) is everything but the per-example predictions, which can be many (QQP dev has
/// 40,430); `PredictionsFile` writes those.
public struct EvaluationResult: Sendable, Codable {
    /// The task evaluated.
    public let task: GLUETask
    /// The split evaluated.
    public let split: GLUESplit
    /// Examples evaluated.
    public let n: Int
    /// By `GLUEMetric` name (`accuracy`, `f1`, `mcc`, `pearson`, `spearman`, `corr`); empty on
    /// test splits (no labels). Undefined values are NaN (see `Metrics`).
    public let metrics: [String: Double]
    /// The metric a table shows first (`GLUETask.headlineMetric`); nil without metrics.
    public let headlineMetric: String?
    /// The checkpoint folder.
    public let model: String
    /// The precision the model ran in (docs/PRECISION.md); fp32 in results written before it existed.
    public let precision: Precision
    /// How predictions were made: the checkpoint's classifier, or the cosine of two mean-pooled embeddings.
    public let scorer: EvaluationScorer
    /// Which task label each classifier output predicts; nil for STS-B and the cosine scorer.
    public let labelMapping: LabelMapping?
    /// nil: no head changed.
    public let ablation: AblationSummary?
    /// The truncation length (specials included).
    public let maxLength: Int
    /// Examples that truncation shortened.
    public let truncated: Int
    /// Set when the examples are a seeded sample of the file.
    public let sampling: GLUESampling?
    /// The data file read.
    public let file: String
    /// Wall time: the forward passes and metrics, plus preparation when `Checkpoint.evaluate` did it.
    public internal(set) var seconds: Double
    /// Wall time of tokenizing and batching.
    public let preparationSeconds: Double
    /// One per example, in file order. Not part of the JSON.
    public let predictions: [ExamplePrediction]

    /// The headline metric's value.
    public var headlineValue: Double? { headlineMetric.flatMap { metrics[$0] } }

    /// The value of `metric`; nil when it was not computed (test splits, or a metric of another task), NaN when undefined.
    public func value(_ metric: GLUEMetric) -> Double? { metrics[metric.rawValue] }

    enum CodingKeys: String, CodingKey {
        case task, split, n, metrics, model, precision, scorer, ablation, truncated, sampling, file, seconds
        case headlineMetric = "headline_metric"
        case labelMapping = "label_mapping"
        case maxLength = "max_length"
        case preparationSeconds = "preparation_seconds"
    }

    init(task: GLUETask, split: GLUESplit, n: Int, metrics: [String: Double], headlineMetric: String?, model: String,
         precision: Precision, scorer: EvaluationScorer, labelMapping: LabelMapping?, ablation: AblationSummary?, maxLength: Int,
         truncated: Int, sampling: GLUESampling?, file: String, seconds: Double, preparationSeconds: Double,
         predictions: [ExamplePrediction]) {
        self.task = task
        self.split = split
        self.n = n
        self.metrics = metrics
        self.headlineMetric = headlineMetric
        self.model = model
        self.precision = precision
        self.scorer = scorer
        self.labelMapping = labelMapping
        self.ablation = ablation
        self.maxLength = maxLength
        self.truncated = truncated
        self.sampling = sampling
        self.file = file
        self.seconds = seconds
        self.preparationSeconds = preparationSeconds
        self.predictions = predictions
    }

    /// Decodes the JSON of ``encode(to:)``; ``predictions`` is empty (they are not part of the JSON).
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        task = try container.decode(GLUETask.self, forKey: .task)
        split = try container.decode(GLUESplit.self, forKey: .split)
        n = try container.decode(Int.self, forKey: .n)
        metrics = try container.decode([String: Double].self, forKey: .metrics)
        headlineMetric = try container.decodeIfPresent(String.self, forKey: .headlineMetric)
        model = try container.decode(String.self, forKey: .model)
        precision = try container.decodeIfPresent(Precision.self, forKey: .precision) ?? .fp32
        scorer = try container.decode(EvaluationScorer.self, forKey: .scorer)
        labelMapping = try container.decodeIfPresent(LabelMapping.self, forKey: .labelMapping)
        ablation = try container.decodeIfPresent(AblationSummary.self, forKey: .ablation)
        maxLength = try container.decode(Int.self, forKey: .maxLength)
        truncated = try container.decode(Int.self, forKey: .truncated)
        sampling = try container.decodeIfPresent(GLUESampling.self, forKey: .sampling)
        file = try container.decode(String.self, forKey: .file)
        seconds = try container.decode(Double.self, forKey: .seconds)
        preparationSeconds = try container.decode(Double.self, forKey: .preparationSeconds)
        predictions = []
    }

    /// Encodes everything but ``predictions``, writing null for absent values so every result has the same keys.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(task, forKey: .task)
        try container.encode(split, forKey: .split)
        try container.encode(n, forKey: .n)
        try container.encode(metrics, forKey: .metrics)
        // Keys with no value are written as null, so every result has the same keys.
        try container.encode(headlineMetric, forKey: .headlineMetric)
        try container.encode(model, forKey: .model)
        try container.encode(precision, forKey: .precision)
        try container.encode(scorer, forKey: .scorer)
        try container.encode(labelMapping, forKey: .labelMapping)
        try container.encode(ablation, forKey: .ablation)
        try container.encode(maxLength, forKey: .maxLength)
        try container.encode(truncated, forKey: .truncated)
        try container.encode(sampling, forKey: .sampling)
        try container.encode(file, forKey: .file)
        try container.encode(seconds, forKey: .seconds)
        try container.encode(preparationSeconds, forKey: .preparationSeconds)
    }
}

/// The predictions file (`eval`'s option of that name): JSON Lines, one object per example in file order, keys sorted:
/// `{"index": 0, "label": "entailment", "line": 2, "logits": [..], "prediction": "neutral", "truncated": false}`.
/// `prediction` and `label` are the task's label names for classification and numbers for STS-B
/// (the regression output or the cosine); `label` is null on test splits; `logits` (the
/// classifier's raw outputs in the model's order) is present for classification only.
package enum PredictionsFile {
    struct Line: Encodable {
        let index: Int
        let line: Int
        let label: Value?
        let prediction: Value
        let logits: [Float]?
        let truncated: Bool

        enum Value: Encodable {
            case name(String), number(Double)
            func encode(to encoder: Encoder) throws {
                var container = encoder.singleValueContainer()
                switch self {
                case .name(let text): try container.encode(text)
                case .number(let value): try container.encode(value)
                }
            }
        }

        enum CodingKeys: String, CodingKey { case index, line, label, prediction, logits, truncated }

        func encode(to encoder: Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(index, forKey: .index)
            try container.encode(line, forKey: .line)
            try container.encode(label, forKey: .label)
            try container.encode(prediction, forKey: .prediction)
            try container.encodeIfPresent(logits, forKey: .logits)
            try container.encode(truncated, forKey: .truncated)
        }
    }

    /// The file's text.
    public static func text(_ result: EvaluationResult) throws -> String {
        let names = result.task.labels
        func value(_ label: GLUELabel) -> Line.Value {
            switch label {
            case .classIndex(let index): .name(names.map { $0[index] } ?? String(index))
            case .score(let score): .number(score)
            }
        }
        var text = ""
        for prediction in result.predictions {
            let line = Line(index: prediction.index, line: prediction.line, label: prediction.label.map(value),
                            prediction: value(prediction.prediction),
                            logits: prediction.prediction.classIndex == nil ? nil : prediction.logits,
                            truncated: prediction.truncated)
            text += try JSONOutput.line(line) + "\n"
        }
        return text
    }

    /// Writes the file atomically (a reader never sees half of it).
    public static func write(_ result: EvaluationResult, to url: URL) throws {
        try AtomicFile.write(try text(result), to: url)
    }
}

struct DynamicKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
