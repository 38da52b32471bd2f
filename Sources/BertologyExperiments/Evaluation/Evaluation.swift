import BertologyEngine
import Foundation

/// How an example is turned into a prediction.
public enum EvaluationScorer: String, Sendable, Codable, CaseIterable, CustomStringConvertible {
    /// The checkpoint's classifier on `[CLS] A [SEP] B [SEP]`: the argmax class (mapped to the
    /// task's labels by `LabelMapping`), or the regression output for STS-B.
    case classifier
    /// For sentence-embedding models (no classifier): each text alone, mean-pooled over its real
    /// tokens; the prediction is the cosine of the two embeddings. Scored on STS-B only.
    case cosine

    /// The scorer's name: `classifier` or `cosine`.
    public var description: String { rawValue }

    /// The scorer to use: `requested`, or the classifier when the checkpoint has one and cosine
    /// otherwise. Errors (usage) say why a scorer cannot score the task.
    /// - Parameters:
    ///   - requested: the scorer asked for; nil to choose from the checkpoint.
    ///   - task: the task to score.
    ///   - model: the checkpoint's model (whether it has a classifier and a pooler).
    /// - Throws: `BertologyError` `.usage` when the scorer cannot score `task` with this model.
    public static func resolve(_ requested: EvaluationScorer?, task: GLUETask, model: BertModel) throws -> EvaluationScorer {
        let scorer = requested ?? (model.hasClassifier ? .classifier : .cosine)
        switch scorer {
        case .classifier:
            guard model.hasClassifier else {
                throw BertologyError.usage("the checkpoint has no classifier head (it is an encoder only); use `scorer` cosine for STS-B, or a checkpoint fine-tuned on \(task)")
            }
            guard model.hasPooler else {
                throw BertologyError.usage("the checkpoint has a classifier but no pooler, so its classifier cannot run")
            }
        case .cosine:
            if requested == nil && !(task.isPair && task.isRegression) {
                throw BertologyError.usage("the checkpoint has no classifier head, so only the cosine scorer can run it, and that scores STS-B alone (the cosine of a pair's two texts); \(task) needs a checkpoint fine-tuned with a classifier")
            }
            guard task.isPair else {
                throw BertologyError.usage("the cosine scorer compares the two texts of a pair, and \(task) has one text per example; it needs a checkpoint with a classifier")
            }
            guard task.isRegression else {
                throw BertologyError.usage("the cosine scorer gives a similarity, which GLUE scores only on STS-B (Pearson, Spearman); \(task) is scored on classes, so it needs a checkpoint with a classifier")
            }
        }
        return scorer
    }
}

/// Choices of an evaluation other than the data and the interventions.
public struct EvaluationOptions: Sendable {
    /// nil: the classifier when the checkpoint has one, else cosine.
    public var scorer: EvaluationScorer?
    /// Truncate longest-first to this many tokens, specials included; nil or anything larger
    /// means the model's `max_position_embeddings`.
    public var maxLength: Int?
    /// How sequences are grouped into batches (token budget and maximum batch size); only speed and memory depend on it.
    public var batcher: Batcher
    /// The task label each classifier output predicts, by name (overrides config.json).
    public var labels: [String]?

    /// Creates options; each default is described on its property.
    /// - Parameters:
    ///   - scorer: the scorer; nil chooses from the checkpoint.
    ///   - maxLength: truncation length in tokens, specials included; nil for the model's limit.
    ///   - batcher: the batching of sequences (speed and memory only).
    ///   - labels: the task label of each classifier output, by name; nil to read config.json `id2label`.
    public init(scorer: EvaluationScorer? = nil, maxLength: Int? = nil, batcher: Batcher = Batcher(),
                labels: [String]? = nil) {
        self.scorer = scorer
        self.maxLength = maxLength
        self.batcher = batcher
        self.labels = labels
    }
}

/// A dataset tokenized and batched for one checkpoint and scorer, ready to be run any number of
/// times: with different head interventions (ablation sweeps), with observers (analyses).
///
/// Preparing reads nothing more from disk; `run` does the forward passes and the metrics.
public struct PreparedEvaluation: Sendable {
    /// The model evaluated.
    public let checkpoint: Checkpoint
    /// The examples evaluated.
    public let dataset: GLUEDataset
    /// The scorer resolved from the options and the checkpoint.
    public let scorer: EvaluationScorer
    /// For the classifier scorer on a classification task.
    public let labelMapping: LabelMapping?
    /// The truncation length used (specials included).
    public let maxLength: Int
    /// The forward-pass rows: one per example for the classifier; two for cosine (row 2i is
    /// example i's text A, row 2i+1 its text B).
    public let sequences: BatchedSequences
    /// Per example: whether truncation removed tokens from one of its texts.
    public let truncated: [Bool]
    /// Wall time of tokenizing and batching.
    public let preparationSeconds: Double

    /// The dataset's task.
    public var task: GLUETask { dataset.task }
    /// The dataset's split.
    public var split: GLUESplit { dataset.split }
    /// Forward-pass rows per example: 1 for the classifier, 2 for cosine (one per text).
    public var rowsPerExample: Int { scorer == .cosine ? 2 : 1 }
    /// Examples with at least one text truncated.
    public var truncatedCount: Int { truncated.reduce(0) { $0 + ($1 ? 1 : 0) } }

    /// Resolves the scorer and label mapping, then tokenizes and batches every example (on all cores).
    /// - Parameters:
    ///   - checkpoint: the model to evaluate.
    ///   - dataset: the examples; must not be empty.
    ///   - options: scorer, truncation, batching and label names.
    /// - Throws: `BertologyError` `.usage` when the scorer cannot score the task, the labels cannot be
    ///   mapped, the length leaves no room for text, or the dataset is empty.
    public init(checkpoint: Checkpoint, dataset: GLUEDataset, options: EvaluationOptions = EvaluationOptions()) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        let model = checkpoint.model
        let scorer = try EvaluationScorer.resolve(options.scorer, task: dataset.task, model: model)
        if scorer == .classifier {
            if dataset.task.isRegression {
                guard model.config.isRegression else {
                    throw BertologyError.usage("STS-B is a regression task: the classifier scorer needs a regression head (num_labels 1); this checkpoint's classifier has \(model.config.numLabels) outputs")
                }
                labelMapping = nil
            } else {
                labelMapping = try LabelMapping.resolve(task: dataset.task, config: model.config, given: options.labels)
            }
        } else {
            guard options.labels == nil else {
                throw BertologyError.usage("`labels` names classifier outputs; the cosine scorer uses none")
            }
            labelMapping = nil
        }
        let positions = model.config.maxSequenceLength
        let maxLength = min(options.maxLength ?? positions, positions)
        let specials = scorer == .classifier && dataset.task.isPair ? 3 : 2
        guard maxLength > specials else {
            throw BertologyError.usage("`maxLength` \(maxLength) leaves no room for text (the specials take \(specials) tokens)")
        }
        guard !dataset.examples.isEmpty else {
            throw BertologyError.usage("no examples to evaluate in \(dataset.file.path)")
        }

        let tokenizer = checkpoint.tokenizer
        let examples = dataset.examples
        let rowsPerExample = scorer == .cosine ? 2 : 1
        let encodings: [Encoding] = concurrentMap(count: examples.count) { index in
            let example = examples[index]
            if scorer == .cosine {
                return [tokenizer.encode(example.textA, maxLength: maxLength),
                        tokenizer.encode(example.textB ?? "", maxLength: maxLength)]
            }
            return [tokenizer.encode(example.textA, pair: example.textB, maxLength: maxLength)]
        }.flatMap { $0 }
        self.truncated = (0..<examples.count).map { index in
            (0..<rowsPerExample).contains { encodings[index * rowsPerExample + $0].truncated }
        }
        self.sequences = BatchedSequences(encodings: encodings, padId: tokenizer.padId, batcher: options.batcher)
        self.checkpoint = checkpoint
        self.dataset = dataset
        self.scorer = scorer
        self.maxLength = maxLength
        self.preparationSeconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Runs every batch (with `interventions` and `observer` when given), then scores.
    ///
    /// - Parameters:
    ///   - interventions: head changes applied during every pass; nil keeps every head.
    ///   - observer: receives each layer's attention probabilities of every batch.
    ///   - session: reuse one session across runs (a sweep) so its buffers are allocated once;
    ///     a new one otherwise. It must run this checkpoint's model.
    ///   - progress: called after each batch with the sequences done so far.
    /// - Throws: `BertologyError` `.cancelled` when the current task is cancelled (checked
    ///   between batches).
    public func run(interventions: HeadInterventions? = nil, observer: (any AttentionObserver)? = nil,
                    session: InferenceSession? = nil, progress: ProgressHandler? = nil) throws -> EvaluationResult {
        let start = DispatchTime.now().uptimeNanoseconds
        let model = checkpoint.model
        let session = session ?? InferenceSession(model: model)
        guard session.model === model else {
            throw BertologyError.usage("the session runs another model than the prepared evaluation")
        }
        let width = outputWidth
        var outputs = [Float](repeating: 0, count: sequences.count * width)
        let (task, split, total) = (self.task, self.split, sequences.count)
        var runner = BatchRunner(phase: "\(task) \(split)", total: total, progress: progress) { done in
            "evaluation of \(task) \(split) cancelled after \(done) of \(total) sequences"
        }
        try runner.forward(sequences.batches, session: session, interventions: interventions, observer: observer,
                           after: { prepared in
            for (b, row) in prepared.rows.enumerated() {
                let values = scorer == .cosine ? session.sentenceEmbedding(example: b) : session.logits(example: b)!
                outputs.replaceSubrange((row * width)..<((row + 1) * width), with: values)
            }
        })

        return result(outputs: outputs, interventions: interventions,
                      seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// Floats per forward-pass row that `result(outputs:...)` reads: the hidden size (sentence
    /// embeddings) for the cosine scorer, the classifier's outputs otherwise.
    var outputWidth: Int {
        scorer == .cosine ? checkpoint.model.config.hiddenSize : checkpoint.model.config.numLabels
    }

    /// Predictions and metrics from the model's outputs for every row (`outputWidth` floats per
    /// row, rows in the original order): the scoring half of `run`, shared with ablation sweeps so
    /// both score the same numbers the same way.
    func result(outputs: [Float], interventions: HeadInterventions?, seconds: Double) -> EvaluationResult {
        let width = outputWidth
        let examples = dataset.examples
        let predictions: [ExamplePrediction] = examples.indices.map { index in
            let example = examples[index]
            let prediction: GLUELabel
            var logits: [Float]?
            switch scorer {
            case .cosine:
                let a = outputs[(2 * index * width)..<((2 * index + 1) * width)]
                let b = outputs[((2 * index + 1) * width)..<((2 * index + 2) * width)]
                prediction = .score(Metrics.cosine(a, b))
            case .classifier:
                let row = Array(outputs[(index * width)..<((index + 1) * width)])
                logits = row
                if let labelMapping {
                    // First maximum on ties, as numpy's argmax.
                    let best = row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }!
                    prediction = .classIndex(labelMapping.taskLabels[best])
                } else {
                    prediction = .score(Double(row[0]))
                }
            }
            return ExamplePrediction(index: example.index, line: example.line, label: example.label,
                                     prediction: prediction, logits: logits, truncated: truncated[index])
        }
        var metrics: [GLUEMetric: Double] = [:]
        if examples.allSatisfy({ $0.label != nil }) {
            metrics = Metrics.glue(task, predictions: predictions.map(\.prediction), labels: examples.map { $0.label! })
        }
        return EvaluationResult(
            task: task, split: split, n: examples.count,
            metrics: Dictionary(uniqueKeysWithValues: metrics.map { ($0.key.rawValue, $0.value) }),
            headlineMetric: metrics.isEmpty ? nil : task.headlineMetric.rawValue,
            model: checkpoint.folder.path, precision: checkpoint.model.precision, scorer: scorer, labelMapping: labelMapping,
            ablation: interventions.flatMap(AblationSummary.init), maxLength: maxLength,
            truncated: truncatedCount, sampling: dataset.sampling, file: dataset.file.path,
            seconds: seconds,
            preparationSeconds: preparationSeconds, predictions: predictions)
    }
}

extension Checkpoint {
    /// Prepares and runs an evaluation in one call: `seconds` in the result covers both.
    /// - Parameters:
    ///   - dataset: the examples to evaluate.
    ///   - options: scorer, truncation, batching and label names.
    ///   - interventions: head changes applied during every pass; nil keeps every head.
    ///   - observer: receives each layer's attention probabilities of every batch.
    ///   - progress: called after each batch with the sequences done so far.
    /// - Throws: the errors of ``PreparedEvaluation/init(checkpoint:dataset:options:)`` and ``PreparedEvaluation/run(interventions:observer:session:progress:)``.
    public func evaluate(_ dataset: GLUEDataset, options: EvaluationOptions = EvaluationOptions(),
                         interventions: HeadInterventions? = nil, observer: (any AttentionObserver)? = nil,
                         progress: ProgressHandler? = nil) throws -> EvaluationResult {
        let prepared = try PreparedEvaluation(checkpoint: self, dataset: dataset, options: options)
        var result = try prepared.run(interventions: interventions, observer: observer, progress: progress)
        result.seconds += prepared.preparationSeconds
        return result
    }
}

/// Maps `transform` over 0..<count on all cores, in chunks; results in order.
func concurrentMap<T: Sendable>(count: Int, _ transform: @Sendable (Int) -> T) -> [T] {
    let chunks = min(count, max(1, ProcessInfo.processInfo.activeProcessorCount) * 4)
    guard chunks > 1 else { return (0..<count).map(transform) }
    let slots = ChunkSlots<T>(chunks)
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let range = (count * chunk / chunks)..<(count * (chunk + 1) / chunks)
        slots.set(chunk, range.map(transform))
    }
    return slots.joined()
}

/// The results of `concurrentMap`'s chunks, filled from several threads under a lock.
private final class ChunkSlots<T: Sendable>: @unchecked Sendable {
    private var parts: [[T]]
    private let lock = NSLock()

    init(_ count: Int) { parts = Array(repeating: [], count: count) }

    func set(_ chunk: Int, _ values: [T]) {
        lock.lock()
        parts[chunk] = values
        lock.unlock()
    }

    func joined() -> [T] {
        lock.lock()
        defer { lock.unlock() }
        return parts.flatMap { $0 }
    }
}
