import Foundation

/// How a classifier's parameters start: the columns of the paper's Table 1.
public enum TrainingInitialization: Sendable, Equatable {
    /// The checkpoint's encoder (and its pooler when it has one; else a new N(0, 0.02) pooler) with a
    /// new classifier, N(0, 0.02) weights and zero bias.
    case pretrained
    /// Every weight new, as transformers' `BertPreTrainedModel._init_weights`: linear and embedding
    /// weights N(0, 0.02), biases 0, LayerNorm weight 1 and bias 0, the padding row of the word embeddings 0.
    case random
}

/// What a batch is trained against.
public enum TrainingTargets: Sendable, Equatable {
    /// One class index per example, in 0..<numLabels (cross-entropy).
    case classes([Int32])
    /// One real score per example (regression, numLabels == 1: mean squared error).
    case scores([Float])
}

/// Hyper-parameters of one optimizer step; the learning rate comes from the caller's schedule.
/// The defaults are the fine-tuning recipe of transformers' Trainer: torch.optim.AdamW with betas
/// (0.9, 0.999), eps 1e-8, weight decay 0.01 (never on biases and LayerNorm weights), after
/// torch.nn.utils.clip_grad_norm_ at 1.0.
public struct AdamWOptions: Sendable, Equatable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float = 0.01
    /// The largest global 2-norm of the gradients; larger gradients are scaled down to it. `.infinity`: no clipping.
    public var maxGradNorm: Float = 1.0

    /// Creates the options; every default is the recipe's.
    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01,
                maxGradNorm: Float = 1.0) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.maxGradNorm = maxGradNorm
    }
}

/// What one training step measured.
public struct TrainingStepResult: Sendable, Equatable {
    /// The mean loss over the batch, before the update.
    public let loss: Double
    /// The global 2-norm of every gradient, before clipping.
    public let gradNorm: Double

    public init(loss: Double, gradNorm: Double) {
        self.loss = loss
        self.gradNorm = gradNorm
    }
}

/// Everything a trainer needs to continue exactly where it stopped: the optimizer step and, in a
/// stable order, every parameter (its transformers name), then AdamW's first moments
/// (`optimizer.exp_avg.<name>`) and second moments (`optimizer.exp_avg_sq.<name>`).
/// Dropout masks derive from (seed, step, layer, site), so no generator state is needed beyond the
/// step and the seed the trainer was created with.
public struct TrainerState: Sendable {
    public var step: Int
    public var tensors: [(name: String, tensor: Tensor)]

    public init(step: Int, tensors: [(name: String, tensor: Tensor)]) {
        self.step = step
        self.tensors = tensors
    }
}
