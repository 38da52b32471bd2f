import BertologyEngine
import Foundation

/// What the interactive attention viewer (`AttentionViewer`) shows: a seeded sample of a task's
/// examples, every attention map of the pre-trained model (and of a fine-tuned one) on each, the
/// §4.1 pattern type the classifier gives each map, and optionally a head-ablation sweep's scores.
///
/// Maps are stored compactly: each probability quantised to 8 bits (`q = round(255 p)`, so a
/// value read back as `q / 255` is within 1/510 of the original), one byte string per example
/// and model holding layers x heads x L x L bytes (layer-major, then head, then query row, then
/// key), base64 in JSON. Inputs are truncated longest-first to ``maxTokens`` tokens (specials
/// included), so L <= ``maxTokens`` and the maps, pattern types and tokens are those of the
/// truncated input (``Example/truncated`` says which were cut). Sizes: docs/VIEWER.md.
public struct AttentionViewerData: Codable, Sendable, Equatable {
    /// A head-ablation sweep's result: the score with each head switched off, and without any.
    public struct HeadScores: Codable, Sendable, Equatable {
        /// The metric's name, for example "accuracy" or "pearson".
        public var metric: String
        /// The score with every head on.
        public var baseline: Double
        /// `[layer][head]`: the score with that one head switched off.
        public var scores: [[Double]]

        /// Creates the scores of a sweep.
        /// - Parameters:
        ///   - metric: the metric's name.
        ///   - baseline: the score with every head on.
        ///   - scores: `[layer][head]` scores with that head switched off.
        public init(metric: String, baseline: Double, scores: [[Double]]) {
            self.metric = metric
            self.baseline = baseline
            self.scores = scores
        }
    }

    /// One example of the sample.
    public struct Example: Codable, Sendable, Equatable {
        /// The example's index in its data file (0-based, `GLUEExample.index`).
        public var index: Int
        /// The first sentence.
        public var textA: String
        /// The second sentence of a pair; nil for single-sentence tasks.
        public var textB: String?
        /// The gold label as text (a class name or an STS-B score); nil when the file has none.
        public var label: String?
        /// The word pieces the maps are over, specials included (L of them).
        public var tokens: [String]
        /// First token of the second sentence; L for a single sentence.
        public var segmentStart: Int
        /// Whether the input was longer than ``AttentionViewerData/maxTokens`` and cut.
        public var truncated: Bool

        enum CodingKeys: String, CodingKey {
            case index, textA = "text_a", textB = "text_b", label, tokens, segmentStart = "segment_start", truncated
        }
    }

    /// Every map of one model on every example of the sample.
    public struct Maps: Codable, Sendable, Equatable {
        /// The model's folder name.
        public var model: String
        /// Per example: layers x heads x L x L bytes, `round(255 p)`, layer-major, rows = queries.
        public var maps: [Data]
        /// Per example: layers x heads pattern types, layer-major (`[layer * heads + head]`).
        public var patterns: [[AttentionPattern]]
    }

    /// Inputs are cut to this many tokens by default (maps of 64 x 64 bytes at most).
    public static let defaultMaxTokens = 64
    /// The sample size `bertology analyze --viewer` uses by default.
    public static let defaultExamples = 8
    /// The seed of the sample by default.
    public static let defaultSeed: UInt64 = 42

    /// The GLUE task's name.
    public var task: String
    /// The split the examples come from (`dev`, ...).
    public var split: String
    /// Transformer layers.
    public var layerCount: Int
    /// Attention heads per layer.
    public var headCount: Int
    /// Most tokens per example (inputs are truncated longest-first to it).
    public var maxTokens: Int
    /// Seed of the sample.
    public var seed: UInt64
    /// Examples in the dataset the sample was drawn from.
    public var population: Int
    /// The sample, in file order.
    public var examples: [Example]
    /// The pre-trained model's maps.
    public var pretrained: Maps
    /// The fine-tuned model's maps on the same tokens; nil when only one model was given.
    public var finetuned: Maps?
    /// The fine-tuned model's head-ablation scores; nil when no sweep was given.
    public var headScores: HeadScores?
    /// Names of the pattern types by raw value (`vertical`, `diagonal`, `vertical+diagonal`, `block`, `heterogeneous`).
    public var patternNames: [String]

    enum CodingKeys: String, CodingKey {
        case task, split, layerCount = "layers", headCount = "heads", maxTokens = "max_tokens", seed, population
        case examples, pretrained, finetuned, headScores = "head_scores", patternNames = "pattern_names"
    }

    /// The map of one example, layer and head as probabilities (`q / 255`), L x L, rows = queries.
    /// - Parameter finetuned: read the fine-tuned model's map instead of the pre-trained one.
    public func map(example: Int, layer: Int, head: Int, finetuned: Bool = false) -> [Float] {
        let n = examples[example].tokens.count
        let bytes = (finetuned ? self.finetuned! : pretrained).maps[example]
        let start = (layer * headCount + head) * n * n
        return bytes[(bytes.startIndex + start)..<(bytes.startIndex + start + n * n)].map { Float($0) / 255 }
    }

    /// Bytes of quantised maps over every example and model (before base64, which adds a third).
    public var mapBytes: Int {
        ([pretrained] + (finetuned.map { [$0] } ?? [])).reduce(0) { $0 + $1.maps.reduce(0) { $0 + $1.count } }
    }

    /// Runs the model(s) on a seeded sample of `examples` examples of `dataset` and keeps every map.
    ///
    /// - Parameters:
    ///   - pretrained: the pre-trained model.
    ///   - finetuned: a fine-tuned model with the same tokenizer, layers and heads; nil for one model.
    ///   - dataset: the task's examples (usually dev); the sample is drawn from them.
    ///   - examples: sample size (all of the dataset when it has no more).
    ///   - headScores: the fine-tuned model's head-ablation sweep (`[layer][head]`); nil for none.
    ///   - maxTokens: inputs are truncated longest-first to this many tokens, specials included.
    ///   - seed: seed of the sample (`GLUEDataset.sampled(limit:seed:)`).
    ///   - thresholds: the pattern classifier's thresholds.
    ///   - progress: called after each batch.
    /// - Throws: `BertologyError` `.usage` when the sample would be empty, the two models cannot be
    ///   compared, the head scores do not match the model's shape, or `maxTokens` leaves no room for text;
    ///   `.cancelled` when the current task is cancelled.
    public static func build(pretrained: Checkpoint, finetuned: Checkpoint?, dataset: GLUEDataset, examples: Int,
                             headScores: HeadScores?, maxTokens: Int = defaultMaxTokens, seed: UInt64 = defaultSeed,
                             thresholds: PatternThresholds = .standard,
                             progress: ProgressHandler? = nil) throws -> AttentionViewerData {
        let model = pretrained.model
        let (layers, heads) = (model.layerCount, model.headCount)
        guard examples >= 1, !dataset.examples.isEmpty else {
            throw BertologyError.usage("the attention viewer needs at least one example (\(dataset.file.path) has \(dataset.examples.count), \(examples) asked for)")
        }
        if let finetuned { try AttentionAnalysis.checkComparable(pretrained, finetuned) }
        if let headScores {
            guard headScores.scores.count == layers, headScores.scores.allSatisfy({ $0.count == heads }) else {
                throw BertologyError.usage("the head scores are \(headScores.scores.count) layers x \(headScores.scores.first?.count ?? 0) heads, the model \(layers) x \(heads)")
            }
        }
        var positions = model.config.maxSequenceLength
        if let finetuned { positions = min(positions, finetuned.model.config.maxSequenceLength) }
        let length = min(maxTokens, positions)
        let specials = dataset.task.isPair ? 3 : 2
        guard length > specials else {
            throw BertologyError.usage("the viewer's \(length) tokens leave no room for text (the specials take \(specials))")
        }

        let sample = dataset.sampled(limit: examples, seed: seed)
        let tokenizer = pretrained.tokenizer
        let encodings = sample.examples.map {
            tokenizer.encode($0.textA, pair: dataset.task.isPair ? $0.textB : nil, maxLength: length)
        }
        let labels = dataset.task.labels
        let items = zip(sample.examples, encodings).map { example, encoding in
            let segmentStart = encoding.tokenTypeIds.firstIndex { $0 != 0 } ?? encoding.count
            let label: String? = switch example.label {
            case .classIndex(let k): labels.flatMap { k < $0.count ? $0[k] : nil } ?? String(k)
            case .score(let value): XMLText.format(value, digits: 2)
            case nil: nil
            }
            return Example(index: example.index, textA: example.textA, textB: example.textB, label: label,
                           tokens: encoding.tokens, segmentStart: segmentStart, truncated: encoding.truncated)
        }
        let sequences = BatchedSequences(encodings: encodings, padId: tokenizer.padId,
                                         batcher: Batcher(tokenBudget: AnalysisOptions.defaultTokenBudget))
        func capture(_ checkpoint: Checkpoint) throws -> Maps {
            let classes = TokenClasses(tokenizer: checkpoint.tokenizer)
            let capture = ViewerCapture(layerCount: layers, headCount: heads, lengths: encodings.map(\.count), thresholds: thresholds)
            let group = AnalyzerGroup([capture], tokenClasses: classes)
            let session = InferenceSession(model: checkpoint.model)
            let phase = "viewer \(dataset.task) \(dataset.split), \(checkpoint.name)"
            var runner = BatchRunner(phase: phase, total: encodings.count, progress: progress) { done in
                "attention viewer (\(phase)) cancelled after \(done) of \(encodings.count) examples"
            }
            try runner.forward(sequences.batches, session: session, observer: group,
                               before: { group.beginBatch(rows: $0.rows, batch: $0.batch) })
            return Maps(model: checkpoint.name, maps: capture.maps, patterns: capture.patterns)
        }
        return AttentionViewerData(
            task: dataset.task.name, split: dataset.split.rawValue, layerCount: layers, headCount: heads,
            maxTokens: length, seed: seed, population: dataset.examples.count, examples: items,
            pretrained: try capture(pretrained), finetuned: try finetuned.map(capture), headScores: headScores,
            patternNames: AttentionPattern.allCases.map(\.name))
    }
}

/// Keeps every map of every example, quantised to bytes, and each map's pattern type from the
/// classifier on the same per-map sums the analyses use (`AnalyzerGroup`), so the types equal
/// those `AttentionPatternTypes` counts.
final class ViewerCapture: AttentionAnalyzer, ContextFolding {
    let layerCount: Int, headCount: Int
    let thresholds: PatternThresholds
    private(set) var maps: [Data]
    private(set) var patterns: [[AttentionPattern]]

    /// - Parameter lengths: tokens of each example (rows are indices into it).
    init(layerCount: Int, headCount: Int, lengths: [Int], thresholds: PatternThresholds) {
        self.layerCount = layerCount
        self.headCount = headCount
        self.thresholds = thresholds
        maps = lengths.map { Data(count: layerCount * headCount * $0 * $0) }
        patterns = lengths.map { _ in Array(repeating: .heterogeneous, count: layerCount * headCount) }
    }

    func beginBatch(rows: [Int], batch: Batch) {}

    func observe(_ attention: LayerAttention) {
        preconditionFailure("ViewerCapture runs in an AnalyzerGroup")
    }

    func fold(_ attention: LayerAttention, _ context: LayerContext) {
        let roles = context.roles, statistics = context.statistics
        let t = attention.sequenceLength, layer = attention.layer
        let base = attention.probabilities.baseAddress!
        roles.special.withUnsafeBufferPointer { special in
            statistics.columnSums.withUnsafeBufferPointer { columns in
                for b in 0..<roles.size {
                    let row = context.rows[b]
                    let n = Int(roles.lengths[b]), split = Int(roles.segmentStarts[b])
                    precondition(maps[row].count == layerCount * headCount * n * n, "the example's length")
                    for h in 0..<headCount {
                        let map = base + (b * headCount + h) * t * t
                        let features = PatternClassifier.features(
                            map: map, stride: t, length: n, segmentStart: split, special: special.baseAddress! + b * t,
                            columnSums: columns.baseAddress! + (b * headCount + h) * 2 * t, columnStride: t)
                        patterns[row][layer * headCount + h] = PatternClassifier.classify(features, thresholds: thresholds)
                        let start = (layer * headCount + h) * n * n
                        maps[row].withUnsafeMutableBytes { (bytes: UnsafeMutableRawBufferPointer) in
                            for i in 0..<n {
                                for j in 0..<n {
                                    let p = max(0, min(1, map[i * t + j]))
                                    bytes[start + i * n + j] = UInt8((p * 255).rounded())
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

extension AttentionViewerData.HeadScores {
    /// The head scores of a `bertology ablate` run: its `ablation.json`'s primary metric, baseline
    /// and `heads` grid (a head not ablated reads as NaN).
    /// - Throws: `BertologyError` `.io` when the file cannot be read, `.badInput` when it lacks those fields.
    public static func load(ablationFile url: URL) throws -> AttentionViewerData.HeadScores {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw BertologyError.io(url.path, "cannot read the file: \(error.localizedDescription)")
        }
        let root = try JSONValue.parse(data, file: url.path).object
        func number(_ value: JSONValue?) -> Double? {
            if let string = value?.string { return Double(string) }  // "NaN", "Infinity"
            return value?.double
        }
        guard let metric = root?["primary_metric"]?.string,
              let baseline = number(root?["baseline"]?.object?[metric]),
              let rows = root?["heads"]?.object?[metric]?.array else {
            throw BertologyError.badInput(url.path, "not a head-ablation result (an ablation.json with primary_metric, baseline and heads)")
        }
        let scores = rows.map { ($0.array ?? []).map { number($0) ?? .nan } }
        return AttentionViewerData.HeadScores(metric: metric, baseline: baseline, scores: scores)
    }
}
