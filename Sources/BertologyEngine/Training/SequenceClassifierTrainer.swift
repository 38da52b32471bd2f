internal import CKernels
import Foundation

/// A BertForSequenceClassification being fine-tuned on the CPU: the training forward pass (saving
/// what the backward needs), the backward pass, global gradient-norm clipping and AdamW, all on the
/// C kernels.
///
/// Every parameter, gradient and AdamW moment lives in one arena each, allocated once; activations
/// are sized to the largest batch seen (or to ``reserve(batchSize:sequenceLength:)``) and reused, so
/// a steady-state ``trainStep(_:targets:learningRate:options:)`` allocates nothing. Results are the
/// same bits on any thread count: dropout masks come from a counter-based generator keyed by
/// (seed, step, layer, site, position), and every reduction of the backward kernels has a fixed order.
///
/// Not Sendable: one trainer belongs to one task.
///
/// ```swift
/// let trainer = try SequenceClassifierTrainer(checkpoint: checkpoint, numLabels: 2,
///                                             initialization: .pretrained, seed: 42)
/// let result = try trainer.trainStep(batch, targets: .classes(labels), learningRate: 2e-5,
///                                    options: AdamWOptions())
/// let model = try trainer.inferenceModel()   // evaluate with an InferenceSession
/// ```
public final class SequenceClassifierTrainer {
    /// The architecture being trained; `numLabels` and `problemType` describe the new head.
    public let config: BertConfig
    /// The seed of the initialisation and of every dropout mask.
    public let seed: UInt64
    /// Dropout probabilities: hidden states (after the embeddings, the attention output and the
    /// feed-forward output), attention probabilities, and the pooled output before the classifier.
    public let hiddenDropout: Float, attentionDropout: Float, classifierDropout: Float

    let layout: ParameterLayout
    let packedLayout: PackedLayout
    /// The four arenas of `layout.floatCount` floats: parameters, gradients, AdamW exp_avg and exp_avg_sq.
    let parameters: TensorStorage, gradients: TensorStorage, firstMoments: TensorStorage, secondMoments: TensorStorage
    /// The encoder's projections packed for ck_linear_packed_forward, refreshed after every update.
    let packed: TensorStorage
    let activations = TrainingActivations()
    /// The last options converted to doubles (see `hyperparameters(_:)`).
    var adamWCache: (options: AdamWOptions, values: AdamWHyperparameters)?

    /// Optimizer steps taken.
    public private(set) var step: Int = 0

    /// The classifier's outputs (1: regression).
    public var numLabels: Int { config.numLabels }

    /// The standard deviation of every new weight (BERT's `initializer_range` for bert-base and MiniLM).
    public static let initializerRange: Float = 0.02

    /// Creates a trainer from a checkpoint's architecture (and, for `.pretrained`, its weights).
    /// - Parameters:
    ///   - checkpoint: the model to start from.
    ///   - numLabels: outputs of the new classifier; 1 means regression (mean squared error).
    ///   - initialization: `.pretrained` keeps the checkpoint's encoder and pooler (a checkpoint with
    ///     no pooler gets a new one, N(0, 0.02) weight and zero bias); `.random` draws every weight anew.
    ///     The classifier is always new: N(0, 0.02) weight, zero bias.
    ///   - seed: seeds the new weights (splitmix64 + Box-Muller, in parameter order) and the dropout masks.
    ///   - hiddenDropout: nil takes config.json's `hidden_dropout_prob`.
    ///   - attentionDropout: nil takes config.json's `attention_probs_dropout_prob`.
    ///   The dropout before the classifier is `classifier_dropout` when config.json sets it, else the hidden dropout.
    /// - Throws: `BertologyError` `.usage` when `numLabels` or a dropout probability is out of range.
    public convenience init(checkpoint: Checkpoint, numLabels: Int, initialization: TrainingInitialization,
                            seed: UInt64, hiddenDropout: Float? = nil, attentionDropout: Float? = nil) throws {
        try self.init(model: checkpoint.model, numLabels: numLabels, initialization: initialization, seed: seed,
                      hiddenDropout: hiddenDropout, attentionDropout: attentionDropout)
    }

    /// Creates a trainer from a model's architecture (and, for `.pretrained`, its encoder and pooler);
    /// the same as ``init(checkpoint:numLabels:initialization:seed:hiddenDropout:attentionDropout:)``
    /// for a model with no tokenizer (benchmarks, tests, ``BertModel/random(config:seed:initializerRange:pooler:classifier:)``).
    public init(model: BertModel, numLabels: Int, initialization: TrainingInitialization,
                seed: UInt64, hiddenDropout: Float? = nil, attentionDropout: Float? = nil) throws {
        let source = model.config
        guard (1...100_000).contains(numLabels) else {
            throw BertologyError.usage("numLabels \(numLabels) is outside 1...100000")
        }
        let hidden = hiddenDropout ?? source.hiddenDropoutProb
        let attention = attentionDropout ?? source.attentionProbsDropoutProb
        for (name, p) in [("hidden dropout", hidden), ("attention dropout", attention)] where !(p >= 0 && p < 1) {
            throw BertologyError.usage("\(name) \(p) is outside [0, 1)")
        }
        var config = source
        config.numLabels = numLabels
        config.problemType = numLabels == 1 ? "regression" : "single_label_classification"
        if config.id2label.count != numLabels { config.id2label = [:]; config.label2id = [:] }
        self.config = config
        self.seed = seed
        self.hiddenDropout = hidden
        self.attentionDropout = attention
        self.classifierDropout = hiddenDropout == nil ? (source.classifierDropout ?? hidden) : hidden
        layout = ParameterLayout(config: config, numLabels: numLabels)
        packedLayout = PackedLayout(config: config)
        parameters = TensorStorage(capacity: layout.floatCount)
        gradients = TensorStorage(capacity: layout.floatCount)
        firstMoments = TensorStorage(capacity: layout.floatCount)
        secondMoments = TensorStorage(capacity: layout.floatCount)
        packed = TensorStorage(capacity: packedLayout.floatCount)
        initialize(from: model, initialization)
        repack()
    }

    // MARK: - Initialisation

    private func initialize(from model: BertModel, _ initialization: TrainingInitialization) {
        var generator = SeededGenerator(seed: seed)
        let named = config.family == .bert ? model.weights.namedTensors().map { ("bert." + $0.name, $0.tensor) }
            : model.weights.familyNamedTensors(config: config)
        let pretrained: [String: Tensor] = initialization == .pretrained
            ? Dictionary(named, uniquingKeysWith: { a, _ in a }) : [:]
        let range = Self.initializerRange
        for entry in layout.entries {
            let destination = parameters.pointer + entry.offset
            if let tensor = pretrained[entry.name], tensor.count == entry.count {
                destination.update(from: tensor.pointer, count: entry.count)
            } else if entry.name.hasSuffix("LayerNorm.weight") {
                destination.update(repeating: 1, count: entry.count)
            } else if entry.name.hasSuffix("bias") {
                destination.update(repeating: 0, count: entry.count)
            } else {
                for index in 0..<entry.count { destination[index] = range * generator.nextNormal() }
            }
        }
        if initialization == .random {
            // transformers zeroes the padding_idx row of nn.Embedding(padding_idx = pad_token_id): the word
            // embeddings', and RoBERTa's position embeddings' too.
            let e = config.embeddingSize
            (parameters.pointer + layout.wordEmbeddings + config.padTokenId * e).update(repeating: 0, count: e)
            if config.family.positionOffset(padTokenId: config.padTokenId) != nil {
                (parameters.pointer + layout.positionEmbeddings + config.padTokenId * e).update(repeating: 0, count: e)
            }
        }
    }

    /// Refreshes the packed projections from the parameters.
    func repack() {
        let (c, i) = (Int32(config.hiddenSize), Int32(config.intermediateSize))
        if let projection = layout.embeddingProjection, let packedProjection = packedLayout.embeddingProjection {
            ck_pack_weight(packed.pointer + packedProjection, parameters.pointer + projection.weight, c,
                           Int32(config.embeddingSize))
        }
        for (weights, packedLayer) in zip(layout.groups, packedLayout.groups) {
            ck_pack_weight(packed.pointer + packedLayer.qkv, parameters.pointer + weights.qkvWeight, 3 * c, c)
            ck_pack_weight(packed.pointer + packedLayer.attentionOutput, parameters.pointer + weights.attentionOutputWeight, c, c)
            ck_pack_weight(packed.pointer + packedLayer.intermediate, parameters.pointer + weights.intermediateWeight, i, c)
            ck_pack_weight(packed.pointer + packedLayer.output, parameters.pointer + weights.outputWeight, c, i)
        }
    }

    // MARK: - Reading and writing the parameters

    private func copy(_ arena: TensorStorage, _ entry: ParameterLayout.Entry) -> Tensor {
        let tensor = Tensor(zeros: entry.shape)
        tensor.mutablePointer.update(from: arena.pointer + entry.offset, count: entry.count)
        return tensor
    }

    /// Every parameter under transformers' BertForSequenceClassification names, in its
    /// `named_parameters()` order (copies).
    public func namedParameters() -> [(name: String, tensor: Tensor)] {
        layout.entries.map { ($0.name, copy(parameters, $0)) }
    }

    /// Every gradient of the last backward pass, named and ordered as ``namedParameters()`` (copies;
    /// after ``trainStep(_:targets:learningRate:options:)`` they are the clipped gradients).
    public func namedGradients() -> [(name: String, tensor: Tensor)] {
        layout.entries.map { ($0.name, copy(gradients, $0)) }
    }

    /// Replaces one parameter's values (for example a classifier given by a test or a script).
    /// - Throws: `BertologyError` `.usage` naming the parameter when it does not exist or the count differs.
    public func setParameter(_ name: String, values: [Float]) throws {
        guard let entry = layout.entry(named: name) else { throw BertologyError.usage("no parameter named \(name)") }
        guard values.count == entry.count else {
            throw BertologyError.usage("parameter \(name) has \(entry.count) values (shape \(entry.shape)), got \(values.count)")
        }
        values.withUnsafeBufferPointer { (parameters.pointer + entry.offset).update(from: $0.baseAddress!, count: entry.count) }
        repack()
    }

    /// Takes `model`'s classifier (the head's last linear layer) instead of the new one, so the trainer computes the
    /// loss of the fine-tuned model as it is (head importance).
    /// - Throws: `BertologyError` `.usage` when the model has no classifier or its outputs differ from `numLabels`.
    func adoptClassifier(of model: BertModel) throws {
        guard let classifier = model.weights.classifier else { throw BertologyError.usage("the model has no classifier") }
        let weight = classifier.weight.unpacked()
        guard weight.count == numLabels * config.hiddenSize, classifier.bias.count == numLabels else {
            throw BertologyError.usage("the classifier has \(classifier.bias.count) outputs, the trainer \(numLabels)")
        }
        (parameters.pointer + layout.classifierWeight).update(from: weight.pointer, count: weight.count)
        (parameters.pointer + layout.classifierBias).update(from: classifier.bias.pointer, count: numLabels)
    }

    /// Element `index` (row-major) of parameter `entry`, read or written (a write repacks the projections).
    subscript(entry: ParameterLayout.Entry, index: Int) -> Float {
        get { parameters.pointer[entry.offset + index] }
        set {
            precondition(index >= 0 && index < entry.count, "index \(index) outside \(entry.name)")
            parameters.pointer[entry.offset + index] = newValue
            repack()
        }
    }

    /// The current weights as an inference model (for dev evaluation): copies, sharing nothing mutable.
    public func inferenceModel() throws -> BertModel {
        let (c, i) = (config.hiddenSize, config.intermediateSize)
        func tensor(_ offset: Int, _ shape: [Int]) -> Tensor {
            let tensor = Tensor(zeros: shape)
            tensor.mutablePointer.update(from: parameters.pointer + offset, count: tensor.count)
            return tensor
        }
        let e = config.embeddingSize
        let groups = layout.groups.map { l in
            LayerWeights(qkvWeight: PackedWeight(packing: tensor(l.qkvWeight, [3 * c, c])), qkvBias: tensor(l.qkvBias, [3 * c]),
                         attentionOutputWeight: PackedWeight(packing: tensor(l.attentionOutputWeight, [c, c])),
                         attentionOutputBias: tensor(l.attentionOutputBias, [c]),
                         attentionNormWeight: tensor(l.attentionNormWeight, [c]), attentionNormBias: tensor(l.attentionNormBias, [c]),
                         intermediateWeight: PackedWeight(packing: tensor(l.intermediateWeight, [i, c])),
                         intermediateBias: tensor(l.intermediateBias, [i]),
                         outputWeight: PackedWeight(packing: tensor(l.outputWeight, [c, i])), outputBias: tensor(l.outputBias, [c]),
                         outputNormWeight: tensor(l.outputNormWeight, [c]), outputNormBias: tensor(l.outputNormBias, [c]))
        }
        // ALBERT's layers share their group's weights here too (one copy per group).
        let groupOfOffset = Dictionary(layout.groups.enumerated().map { ($0.element.qkvWeight, $0.offset) }, uniquingKeysWith: { a, _ in a })
        let layers = layout.layers.map { groups[groupOfOffset[$0.qkvWeight]!] }
        let weights = BertWeights(
            wordEmbeddings: tensor(layout.wordEmbeddings, [config.vocabSize, e]),
            positionEmbeddings: tensor(layout.positionEmbeddings, [config.maxPositionEmbeddings, e]),
            tokenTypeEmbeddings: layout.tokenTypeEmbeddings.map { tensor($0, [config.typeVocabSize, e]) },
            embeddingNormWeight: tensor(layout.embeddingNormWeight, [e]),
            embeddingNormBias: tensor(layout.embeddingNormBias, [e]),
            embeddingProjection: layout.embeddingProjection.map {
                (PackedWeight(packing: tensor($0.weight, [c, e])), tensor($0.bias, [c]))
            },
            layers: layers,
            pooler: (PackedWeight(packing: tensor(layout.poolerWeight, [c, c])), tensor(layout.poolerBias, [c])),
            classifier: (PackedWeight(packing: tensor(layout.classifierWeight, [numLabels, c])),
                         tensor(layout.classifierBias, [numLabels])),
            poolerActivation: FamilyWeightNames(family: config.family).headDense.activation)
        return BertModel(config: config, weights: weights, source: "fine-tuning (step \(step))")
    }

    // MARK: - Checkpoint and resume

    private static let firstMomentPrefix = "optimizer.exp_avg.", secondMomentPrefix = "optimizer.exp_avg_sq."

    /// The optimizer step, every parameter, then AdamW's moments (see ``TrainerState``).
    public func state() -> TrainerState {
        let entries = layout.entries
        return TrainerState(step: step, tensors:
            entries.map { ($0.name, copy(parameters, $0)) }
            + entries.map { (Self.firstMomentPrefix + $0.name, copy(firstMoments, $0)) }
            + entries.map { (Self.secondMomentPrefix + $0.name, copy(secondMoments, $0)) })
    }

    /// Continues from `state`, which must be what ``state()`` of a trainer of the same architecture gave.
    /// - Throws: `BertologyError` `.badInput` naming the first tensor that is missing, extra or misshapen.
    public func restore(_ state: TrainerState) throws {
        let entries = layout.entries
        let expected = entries.map { ($0, parameters) } + entries.map { ($0, firstMoments) } + entries.map { ($0, secondMoments) }
        let names = entries.map(\.name) + entries.map { Self.firstMomentPrefix + $0.name }
            + entries.map { Self.secondMomentPrefix + $0.name }
        guard state.step >= 0 else { throw BertologyError.badInput(nil, "trainer state: negative step \(state.step)") }
        guard state.tensors.count == expected.count else {
            throw BertologyError.badInput(nil, "trainer state: \(state.tensors.count) tensors, this model needs \(expected.count)")
        }
        for (index, (name, tensor)) in state.tensors.enumerated() {
            guard name == names[index] else {
                throw BertologyError.badInput(nil, at: "tensor \(index)", "trainer state: found \(name), expected \(names[index])")
            }
            guard tensor.shape == expected[index].0.shape else {
                throw BertologyError.badInput(nil, at: "tensor \(name)",
                    "trainer state: shape \(tensor.shape), expected \(expected[index].0.shape)")
            }
        }
        for ((entry, arena), (_, tensor)) in zip(expected, state.tensors) {
            (arena.pointer + entry.offset).update(from: tensor.pointer, count: entry.count)
        }
        step = state.step
        repack()
    }

    // MARK: - Training

    /// Grows the activation buffers for batches up to `batchSize` x `sequenceLength`, so that no
    /// later step allocates (optional: the first step of a larger shape grows them).
    public func reserve(batchSize: Int, sequenceLength: Int) {
        activations.ensure(batch: batchSize, sequenceLength: sequenceLength, config: config)
    }

    /// One forward + backward + clip + AdamW step at `learningRate`.
    ///
    /// Dropout masks derive from (seed, step, layer, site, position): the same on any thread count.
    /// - Returns: the batch's mean loss and the gradients' global 2-norm before clipping.
    /// - Throws: `BertologyError` `.usage` when the batch or targets do not fit the model, `.badInput`
    ///   when the loss or gradient norm is not finite (nothing is updated then; ``step`` is unchanged).
    public func trainStep(_ batch: Batch, targets: TrainingTargets, learningRate: Float,
                          options: AdamWOptions) throws -> TrainingStepResult {
        let loss = try computeGradients(batch, targets: targets, step: step + 1, dropout: true)
        let norm = try applyGradients(loss: loss, learningRate: learningRate, options: options)
        return TrainingStepResult(loss: loss, gradNorm: norm)
    }

    /// The update half of a step, on the gradients in the arena: global 2-norm, clipping, one AdamW
    /// step (``step`` + 1), repacking. Returns the norm before clipping.
    /// - Throws: `BertologyError` `.badInput` when the loss or the norm is not finite (nothing changed).
    func applyGradients(loss: Double, learningRate: Float, options: AdamWOptions) throws -> Double {
        let norm = gradientSquares().squareRoot()
        guard loss.isFinite, norm.isFinite else {
            throw BertologyError.badInput(nil, "training step \(step + 1): the \(loss.isFinite ? "gradient norm" : "loss") is not finite (\(loss.isFinite ? norm : loss)); nothing was updated")
        }
        clipGradients(norm: norm, maxNorm: options.maxGradNorm)
        step += 1
        applyAdamW(learningRate: learningRate, options: options)
        repack()
        return norm
    }

    /// Replaces one gradient (tests feed the reference's gradients to the optimizer).
    func setGradient(_ name: String, values: ArraySlice<Float>) {
        guard let entry = layout.entry(named: name), values.count == entry.count else {
            preconditionFailure("no gradient \(name) of \(values.count) values")
        }
        values.withUnsafeBufferPointer { (gradients.pointer + entry.offset).update(from: $0.baseAddress!, count: entry.count) }
    }

    /// The mean loss of `batch` with dropout off, no gradients kept (finite-difference checks).
    public func loss(_ batch: Batch, targets: TrainingTargets) throws -> Double {
        try computeGradients(batch, targets: targets, step: step + 1, dropout: false, backward: false)
    }
}
