import BertologyEngine
import Foundation

/// Gradient head importance (Michel et al. 2019, "Are Sixteen Heads Really Better than One?") over a dataset.
///
/// For every head h: I_h = (1/N) Σ_x |∂L(x)/∂ξ_h|, with ξ_h a gate multiplying the head's context (ξ = 1), L(x) the
/// example's loss with its gold label (cross-entropy; squared error for STS-B's regression head). The absolute value
/// is taken per example, so the result does not depend on the batch size (Michel et al.'s script took it per batch
/// and divided by the number of tokens). For every layer: I_l = (1/N) Σ_x |∂L(x)/∂ξ_l|, ξ_l one gate on all the
/// layer's heads (what switching the whole layer off removes; per example the sum of its heads' gradients). One
/// forward and one backward pass per batch (``HeadGateGradients``): no per-head passes.
public enum HeadImportance {
    /// Computes the importance of every head and layer of a fine-tuned classifier on `dataset`.
    /// - Parameters:
    ///   - checkpoint: a model with a classification head (fp32 weights are used whatever its precision).
    ///   - dataset: examples with gold labels (the loss needs them).
    ///   - options: truncation, batching and label names (the scorer is always the classifier).
    ///   - removed: heads already removed (gate 0: the pruned model of an iterative pruning step); their importance is 0.
    ///   - progress: called after each batch with the examples done.
    /// - Throws: `BertologyError` `.usage` when the model has no classifier, the task's labels do not fit it or an
    ///   example has no label; `.cancelled` when the current task is cancelled (checked between batches).
    public static func compute(checkpoint: Checkpoint, dataset: GLUEDataset, options: EvaluationOptions = EvaluationOptions(),
                               removed: Set<HeadID> = [], progress: ProgressHandler? = nil) throws -> HeadImportanceResult {
        let start = DispatchTime.now().uptimeNanoseconds
        guard checkpoint.model.hasClassifier else {
            throw BertologyError.usage("head importance needs the task's loss, so a checkpoint with a classification head (a classifier fine-tuned on \(dataset.task): `bertology finetune` makes one); \(checkpoint.name) has none")
        }
        var evaluation = options
        evaluation.scorer = .classifier
        let prepared = try PreparedEvaluation(checkpoint: checkpoint, dataset: dataset, options: evaluation)
        return try compute(prepared, gates: try HeadGateGradients(model: checkpoint.model), removed: removed,
                           progress: progress, start: start)
    }

    /// The same on data already tokenized and batched for the classifier (`prepared`), with `gates` made for its
    /// model: a pruning run computes importance at every step without preparing either again.
    static func compute(_ prepared: PreparedEvaluation, gates: HeadGateGradients, removed: Set<HeadID>,
                        progress: ProgressHandler? = nil,
                        start: UInt64 = DispatchTime.now().uptimeNanoseconds) throws -> HeadImportanceResult {
        let (checkpoint, dataset) = (prepared.checkpoint, prepared.dataset)
        let targets = try Self.targets(prepared)
        let (layers, heads) = (gates.layerCount, gates.headCount)
        var headSums = [Double](repeating: 0, count: layers * heads), layerSums = [Double](repeating: 0, count: layers)
        var perExample = [Float](repeating: 0, count: dataset.examples.count * layers * heads)
        var lossSum = 0.0
        let (task, split, total) = (dataset.task, dataset.split, dataset.examples.count)
        var runner = BatchRunner(phase: "\(task) \(split) importance", total: total, progress: progress) { done in
            "head importance on \(task) \(split) cancelled after \(done) of \(total) examples"
        }
        try runner.run(prepared.sequences.batches, units: \.rows.count) { prepared in
            let batchTargets: TrainingTargets
            switch targets {
            case .classes(let all): batchTargets = .classes(prepared.rows.map { all[$0] })
            case .scores(let all): batchTargets = .scores(prepared.rows.map { all[$0] })
            }
            let result = try gates.gradients(prepared.batch, targets: batchTargets, removed: removed)
            lossSum += result.loss * Double(prepared.rows.count)
            for (b, row) in prepared.rows.enumerated() {
                let slice = result.values[(b * layers * heads)..<((b + 1) * layers * heads)]
                perExample.replaceSubrange((row * layers * heads)..<((row + 1) * layers * heads), with: slice)
            }
        }
        // Sums in example order (the same bits whatever the batching).
        for example in 0..<total {
            let base = example * layers * heads
            for layer in 0..<layers {
                var layerGradient = 0.0
                for head in 0..<heads {
                    let g = Double(perExample[base + layer * heads + head])
                    headSums[layer * heads + head] += abs(g)
                    layerGradient += g
                }
                layerSums[layer] += abs(layerGradient)
            }
        }
        let n = Double(total)
        return HeadImportanceResult(
            model: checkpoint.name, task: task, split: split, examples: total, sampling: dataset.sampling,
            layers: layers, heads: heads, loss: lossSum / n,
            headImportance: HeadGrid(layerCount: layers, headCount: heads, values: headSums.map { $0 / n }).rows,
            layerImportance: layerSums.map { $0 / n }, removed: removed.sorted().map(\.description),
            seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// The gold target of every example: the model's output index of its class, or its score (STS-B).
    static func targets(_ prepared: PreparedEvaluation) throws -> TrainingTargets {
        let examples = prepared.dataset.examples
        if let unlabelled = examples.first(where: { $0.label == nil }) {
            throw BertologyError.usage("head importance needs gold labels (the loss uses them); example \(unlabelled.index + 1) of \(prepared.dataset.file.path) has none (a test split?)")
        }
        guard let mapping = prepared.labelMapping else {
            return .scores(examples.map { Float($0.label!.score ?? 0) })
        }
        var output = [Int: Int32]()
        for (index, taskLabel) in mapping.taskLabels.enumerated() where output[taskLabel] == nil { output[taskLabel] = Int32(index) }
        return .classes(try examples.map { example in
            let label = example.label!.classIndex ?? -1
            guard let index = output[label] else {
                throw BertologyError.usage("the classifier has no output for \(prepared.task)'s label \(label) (its outputs: \(mapping.modelLabels.joined(separator: ", ")))")
            }
            return index
        })
    }
}

/// What ``HeadImportance/compute(checkpoint:dataset:options:removed:progress:)`` found, as `importance.json` holds it.
public struct HeadImportanceResult: Sendable, Equatable, Codable {
    /// The version of `importance.json`'s format.
    public static let currentFormatVersion = 1
    public var formatVersion = HeadImportanceResult.currentFormatVersion
    /// The checkpoint's folder name.
    public let model: String
    public let task: GLUETask
    public let split: GLUESplit
    /// Examples the importance averages over.
    public let examples: Int
    /// How the examples were sampled (nil: the whole split).
    public let sampling: GLUESampling?
    public let layers: Int
    public let heads: Int
    /// The mean loss over the examples, with every head that is not removed.
    public let loss: Double
    /// I_h, [layer][head] (0-based).
    public let headImportance: [[Double]]
    /// I_l per layer.
    public let layerImportance: [Double]
    /// Heads removed before the gradients were taken (1-based names), empty for the whole model.
    public let removed: [String]
    /// Wall time of preparing the data and the passes.
    public var seconds: Double

    public init(model: String, task: GLUETask, split: GLUESplit, examples: Int, sampling: GLUESampling?, layers: Int,
                heads: Int, loss: Double, headImportance: [[Double]], layerImportance: [Double], removed: [String],
                seconds: Double) {
        self.model = model
        self.task = task
        self.split = split
        self.examples = examples
        self.sampling = sampling
        self.layers = layers
        self.heads = heads
        self.loss = loss
        self.headImportance = headImportance
        self.layerImportance = layerImportance
        self.removed = removed
        self.seconds = seconds
    }

    /// Michel et al.'s normalisation: each layer's scores divided by their L2 norm over the layer's heads (a layer
    /// whose scores are all 0 stays 0).
    public var normalizedHeadImportance: HeadGrid {
        var grid = importanceGrid
        for layer in 0..<layers {
            let row = headImportance[layer]
            let norm = row.map { $0 * $0 }.reduce(0, +).squareRoot()
            for head in 0..<heads { grid[layer, head] = norm > 0 ? row[head] / norm : 0 }
        }
        return grid
    }

    /// I_h as a grid.
    public var importanceGrid: HeadGrid {
        HeadGrid(layerCount: layers, headCount: heads, values: headImportance.flatMap { $0 })
    }

    /// Every head that is not removed, from the most to the least important by the layer-normalised score (the order
    /// Michel et al. prune in, least important first from the end); ties by layer, then head.
    public var ranking: [HeadID] {
        let normalized = normalizedHeadImportance
        let gone = Set(removed)
        return (0..<layers).flatMap { layer in (0..<heads).map { HeadID(layer: layer, head: $0) } }
            .filter { !gone.contains($0.description) }
            .sorted { a, b in
                let (x, y) = (normalized[a.layer, a.head], normalized[b.layer, b.head])
                return x != y ? x > y : a < b
            }
    }

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", model, task, split, examples, sampling, layers, heads, loss
        case headImportance = "head_importance", layerImportance = "layer_importance", removed, seconds
    }
}
