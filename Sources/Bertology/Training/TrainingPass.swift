import CKernels
import Foundation

/// Activation buffers of a trainer (skeleton: filled in once the training kernels land).
final class TrainingActivations {
    func reserve(batch: Int, sequenceLength: Int, config: BertConfig) {}
}

extension SequenceClassifierTrainer {
    /// Forward (+ backward) pass; returns the mean loss. Skeleton: not implemented yet.
    func computeGradients(_ batch: Batch, targets: TrainingTargets, step: Int, dropout: Bool,
                          backward: Bool = true) throws -> Double {
        throw BertologyError.usage("training is not implemented yet (skeleton)")
    }
    func gradientSquares() -> Double { 0 }
    func clipGradients(norm: Double, maxNorm: Float) {}
    func applyAdamW(learningRate: Float, options: AdamWOptions) {}
}
