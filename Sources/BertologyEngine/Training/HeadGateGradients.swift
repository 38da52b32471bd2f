import Foundation

/// The gradient of a classifier's loss with respect to a gate on each attention head: Michel et al.'s (2019)
/// head importance, from one forward and one backward pass per batch.
///
/// A gate ξ multiplies a head's context (its share of the attention output, before the output projection); at
/// ξ = 1 the model is unchanged, at ξ = 0 the head is removed (exactly what `--mode zero` ablation does). For each
/// example x, layer and head this computes ∂L(x)/∂ξ with L(x) the example's own loss with its gold label
/// (cross-entropy, or squared error for a regression head), in eval mode (no dropout). The backward computes no
/// parameter gradient and stops at the first layer's context. Removed heads (gate 0) can be given, so the
/// gradients of a pruned model come from the same pass.
///
/// Not Sendable: one instance belongs to one task (it owns the activations of its largest batch).
///
/// ```swift
/// let gates = try HeadGateGradients(model: checkpoint.model)
/// let batch = try gates.gradients(batch, targets: .classes(labels))   // (B, L, NH)
/// ```
public final class HeadGateGradients {
    /// The model's architecture.
    public let config: BertConfig
    private let trainer: SequenceClassifierTrainer
    private var scratch: [Float] = []

    /// Prepares `model` (fp32 weights; a bf16 model's are read back as fp32).
    /// - Throws: `BertologyError` `.usage` when the model has no classification head (the loss needs one).
    public init(model: BertModel) throws {
        guard model.hasClassifier, model.hasPooler else {
            throw BertologyError.usage("head importance needs the task's loss, so a checkpoint with a classification head (a fine-tuned classifier: `bertology finetune` makes one); this one has \(model.hasClassifier ? "a classifier but no pooler" : "no classifier")")
        }
        config = model.config
        trainer = try SequenceClassifierTrainer(model: model, numLabels: model.config.numLabels,
                                                initialization: .pretrained, seed: 0)
        try trainer.adoptClassifier(of: model)
    }

    /// Layers x heads.
    public var layerCount: Int { config.numHiddenLayers }
    public var headCount: Int { config.numAttentionHeads }

    /// One batch's gate gradients.
    public struct BatchGradients: Sendable {
        /// (B, L, NH): ∂L(x)/∂ξ for example x (the batch's order), layer and head; 0 for a removed head.
        public let values: [Float]
        /// The mean loss over the batch.
        public let loss: Double
    }

    /// ∂L(x)/∂ξ for every example of `batch`, layer and head.
    /// - Parameters:
    ///   - targets: the gold class per example, or the score (regression heads).
    ///   - removed: heads already removed (gate 0); nil or empty: none.
    /// - Throws: `BertologyError` `.usage` when the batch or the targets do not fit the model.
    public func gradients(_ batch: Batch, targets: TrainingTargets, removed: Set<HeadID>? = nil) throws -> BatchGradients {
        var gates: [Float]?
        if let removed, !removed.isEmpty {
            var values = [Float](repeating: 1, count: layerCount * headCount)
            for head in removed {
                guard (0..<layerCount).contains(head.layer), (0..<headCount).contains(head.head) else {
                    throw BertologyError.usage("head \(head) is outside the model's \(layerCount) layers x \(headCount) heads")
                }
                values[head.layer * headCount + head.head] = 0
            }
            gates = values
        }
        let loss = try trainer.headGateGradients(batch, targets: targets, gates: gates, into: &scratch)
        return BatchGradients(values: scratch, loss: loss)
    }
}
